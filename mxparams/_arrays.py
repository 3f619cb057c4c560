"""The arrays behind diagnostics: which ones, and their statistics on the host.

``stats``, ``Watch``, ``check_finite``, ``check_replicas`` and ``plot_hist``
all walk the same list of (path, kind) entries, where kind is ``'data'``
or ``'grad'``, and read the same statistics.  Statistics are computed with
numpy in float64 from ``asnumpy()`` copies: MXNet's own reductions sum in
an order that differs between versions and devices, so the printed digits
would not be stable.
"""
from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy
from mxnet import gluon

from . import _compat
from .params import Select, matcher, walk

KINDS = ("data", "grad")

#: The statistics of one array, in the order tables show them.
STAT_FIELDS = ("mean", "std", "min", "max", "norm", "zeros", "nan", "inf")
#: One value per field of STAT_FIELDS (see host_stats).
Stats = tuple[float, float, float, float, float, float, int, int]


class Entry(NamedTuple):
    """One array to look at: a parameter's values or its gradient."""
    path: str
    kind: str                 # 'data' or 'grad'
    param: gluon.Parameter
    tied_to: str              # first path of the same Parameter, '' if this
    shape: tuple | None       # display shape (unknown dims None)

    @property
    def group(self) -> tuple[str, str]:
        """Entries of the same Parameter and kind share it (tied paths)."""
        return (self.tied_to or self.path, self.kind)


def entries(block: gluon.Block, select: Select, grads: bool,
            func: str) -> list[Entry]:
    """The selected (path, kind) entries in Gluon's order, data before grad.

    Gradients are skipped for ``grad_req='null'`` (there is none).  A tied
    Parameter appears at each of its paths, like in ``summary``.
    """
    match = matcher(select)
    found = []
    for site in walk(block, func).sites().values():
        path, param = site.path, site.param
        if match is not None and not match(path, param):
            continue
        tied = site.first if site.first != path else ""
        found.append(Entry(path, "data", param, tied, site.shape))
        if grads and param.grad_req != "null":
            found.append(Entry(path, "grad", param, tied, site.shape))
    return found


def copies(param: gluon.Parameter, kind: str) -> list:
    """The arrays of ``param`` (one per device); [] before initialization."""
    if not _compat.is_initialized(param):
        return []
    return (_compat.data_copies(param) if kind == "data"
            else param.list_grad())


def on_host(array) -> numpy.ndarray:
    """The values as a flat numpy array of their own dtype."""
    return array.asnumpy().ravel()


def ieee(func):
    """``func`` run with numpy following IEEE 754 for subnormal numbers.

    Under ``MXNET_ENGINE_TYPE=NaiveEngine`` MXNet 2 leaves the Python
    thread flushing subnormals to zero: numpy would read ``1e-40`` as 0,
    and its first ``finfo`` of a dtype (matplotlib's axes, a range check)
    would warn "The value of the smallest subnormal ... is zero" into the
    user's output (docs/compatibility.md §12); ``_compat.keep_subnormals``
    turns that off for the call.
    """
    @functools.wraps(func)
    def run(*args):
        with _compat.keep_subnormals():
            return func(*args)
    return run


@ieee
def host_stats(values: numpy.ndarray) -> Stats:
    """(mean, std, min, max, norm, zeros, nan, inf) of ``values``, in float64.

    numpy semantics: one NaN makes mean/std/min/max/norm NaN; ``std`` is
    the population standard deviation; ``zeros`` is the fraction of exact
    zeros; ``nan`` and ``inf`` are counts (inf counts both signs).
    """
    values = numpy.asarray(values, dtype=numpy.float64).ravel()  # exact widening
    size = values.size
    if size == 0:
        return (math.nan,) * 6 + (0, 0)
    # inf - inf inside mean/std is nan by design; no warning for it.
    with numpy.errstate(all="ignore"):
        return (float(values.mean()), float(values.std()),
                float(values.min()), float(values.max()),
                # Not numpy.linalg.norm: BLAS may sum in a thread-dependent
                # order; add.reduce is numpy's fixed pairwise summation.
                float(numpy.sqrt(numpy.add.reduce(values * values))),
                int(numpy.count_nonzero(values == 0)) / size,
                int(numpy.count_nonzero(numpy.isnan(values))),
                int(numpy.count_nonzero(numpy.isinf(values))))


def first_copy_stats(found: list[Entry]) -> list[Stats | None]:
    """Statistics of each entry's first copy (None before initialization).

    Each (Parameter, kind) is read once, however many paths reach it.
    """
    done: dict[tuple[str, str], Stats | None] = {}
    result = []
    for e in found:
        key = e.group
        if key not in done:
            arrays = copies(e.param, e.kind)
            done[key] = host_stats(on_host(arrays[0])) if arrays else None
        result.append(done[key])
    return result


def multi_device(found: list[Entry]) -> list[str]:
    """Paths of the entries whose parameter has copies on several devices."""
    return list(dict.fromkeys(e.path for e in found
                              if len(_compat.devices(e.param)) > 1))


@ieee
def difference(a: numpy.ndarray, b: numpy.ndarray) -> tuple[float, int]:
    """(max |a - b|, number of differing elements), compared in float64.

    NaN equals NaN and an infinity equals itself; a NaN facing a number
    differs by NaN, +inf facing -inf by inf.  (0.0, 0) when all are equal.

    >>> import numpy
    >>> difference(numpy.array([1.0, numpy.nan, numpy.inf]),
    ...            numpy.array([1.5, numpy.nan, numpy.inf]))
    (0.5, 1)
    >>> difference(numpy.array([numpy.nan, 2.0]), numpy.array([1.0, 2.0]))
    (nan, 1)
    """
    a = numpy.asarray(a, dtype=numpy.float64)
    b = numpy.asarray(b, dtype=numpy.float64)
    differ = ~((a == b) | (numpy.isnan(a) & numpy.isnan(b)))
    count = int(numpy.count_nonzero(differ))
    if not count:
        return 0.0, 0
    with numpy.errstate(invalid="ignore"):  # nan - x, inf - inf: not a warning
        diff = numpy.abs(a[differ] - b[differ])
    # max() of an array holding NaN is NaN, as a NaN facing a number should be.
    return float(diff.max()), count
