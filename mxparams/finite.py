"""NaN/Inf detection cheap enough for every training step: ``check_finite``.

The check runs where the arrays live: one MXNet reduction per array
(``multi_sum_sq``, a single call for all arrays of a device and dtype),
then one copy of the results to the host per device.  Only when a result
is not finite are the arrays concerned copied to the host and counted
with numpy, to name them in the report.
"""
from __future__ import annotations

import contextlib
import functools
from typing import Any, NamedTuple

import mxnet as mx
import numpy
from mxnet import autograd, gluon
from mxnet.ndarray.sparse import BaseSparseNDArray

from . import _arrays, _compat
from ._table import Column, Table, Tabular, fmt_int
from .errors import NonFiniteError
from .params import Select, check_flag


class FiniteRow(NamedTuple):
    """An array holding NaN or Inf."""
    path: str
    kind: str        # 'data' or 'grad'
    device: str      # the copy's device; '' for a parameter on one device
    elements: int
    nan: int
    inf: int         # +inf and -inf


class FiniteReport(Tabular):
    """What :func:`check_finite` found: falsy when everything is finite.

    ``rows`` lists every (path, kind, device) holding NaN or Inf, as
    :class:`FiniteRow`; ``data`` and ``grads`` count the parameters and
    gradients that were checked.
    """

    def __init__(self, rows, data: int, grads: int):
        self.rows: tuple[FiniteRow, ...] = tuple(rows)
        self.data = data
        self.grads = grads

    def __bool__(self) -> bool:
        return bool(self.rows)

    def _checked(self) -> str:
        return (f"{self.data} parameter{'s' * (self.data != 1)}, "
                f"{self.grads} gradient{'s' * (self.grads != 1)}")

    def table(self) -> Table:
        """The non-finite arrays as a :class:`Table`."""
        devices = any(r.device for r in self.rows)
        columns = ([Column("Path"), Column("Kind")]
                   + [Column("Device")] * devices
                   + [Column("Elements", right=True), Column("NaN", right=True),
                      Column("Inf", right=True)])
        cells = [[r.path, r.kind] + [r.device] * devices
                 + [fmt_int(r.elements), fmt_int(r.nan), fmt_int(r.inf)]
                 for r in self.rows]
        return Table(columns, cells, [("Checked", self._checked())],
                     note=f"No NaN or Inf ({self._checked()} checked)")

    def message(self) -> str:
        """One paragraph naming every path with its counts, and what to do."""
        parts = []
        for r in self.rows:
            where = r.kind + (f" on {r.device}" if r.device else "")
            counts = ", ".join(f"{n:,} {label}" for n, label in
                               ((r.nan, "NaN"), (r.inf, "Inf")) if n)
            parts.append(f"{r.path!r} ({where}): {counts}")
        s = "" if len(parts) == 1 else "s"
        return (f"NaN or Inf in {len(parts)} array{s}: " + "; ".join(parts)
                + ". Usual causes: a learning rate too high, log(0) or a "
                "division by zero in the loss, or NaN in the input data; "
                "check the step that produced them")



_NOTHING = contextlib.nullcontext()


@functools.cache
def _is_float(dtype) -> bool:
    return numpy.dtype(dtype).kind == "f"


def _stored(array):
    """What the reduction reads of ``array``, as a legacy dense NDArray.

    A sparse array (the row_sparse gradient of ``Embedding(sparse_grad=True)``
    in 1.x's legacy nd mode) gives its stored values, a dense array: the
    elements it does not store are zeros, always finite.  The reduction
    over the sparse array itself would work on a dense copy and log
    "Storage type fallback detected" to fd 2 at every call.
    """
    if isinstance(array, BaseSparseNDArray):
        return array.data
    return array.as_nd_ndarray()


def _finite(arrays: list[tuple[Any, Any]]) -> list[bool]:
    """Whether each (array, device) is free of NaN/Inf, decided on its device.

    A sum of squares is NaN or Inf when an element is, and also when it
    overflows (float32 elements beyond about 1e19); the caller recounts
    on the host, so an overflow is a false alarm, never a wrong report.
    """
    groups: dict[tuple, list[int]] = {}
    for i, (array, device) in enumerate(arrays):
        dtype = array.dtype  # a C API call each time it is read
        if _is_float(dtype):  # integers are always finite
            groups.setdefault((device, dtype), []).append(i)
    finite = [True] * len(arrays)
    pending = []
    # Issue every reduction before the first wait, so devices work in
    # parallel and the host waits once.  multi_sum_sq is a legacy operator
    # in both versions: numpy-mode arrays go in as zero-copy NDArray views.
    # Inside autograd.record() the reduction must stay out of the graph.
    with autograd.pause() if autograd.is_recording() else _NOTHING:
        for members in groups.values():
            views = [_stored(arrays[i][0]) for i in members]
            pending.append((members, mx.nd.multi_sum_sq(
                *views, num_arrays=len(views))))
    for members, sums in pending:
        for i, ok in zip(members, numpy.isfinite(sums.asnumpy()), strict=True):
            finite[i] = bool(ok)
    return finite


def check_finite(block: gluon.Block, *, select: Select = None,
                 grads: bool = True, raise_error: bool = True) -> FiniteReport:
    """Raise :class:`NonFiniteError` naming every parameter or gradient with NaN/Inf.

    Checks every copy (device) of each selected parameter and, with
    ``grads=True`` (the default: it is meant for the training loop, where
    gradients go bad first), its gradient (none for ``grad_req='null'``); a
    tied parameter is checked once and named at each of its paths.  It
    raises by default because a NaN in training is never something to
    continue with; with ``raise_error=False`` the :class:`FiniteReport` is
    returned instead: falsy when everything is finite, otherwise a table
    of the arrays with their NaN and Inf counts.  The check costs one MXNet reduction
    per array and one wait per device, so it can run at every training
    step (figures in docs/performance.md).

    >>> import numpy
    >>> import mxparams as mp
    >>> from mxnet.gluon import nn
    >>> layer = nn.Dense(2, in_units=2)
    >>> layer.initialize()
    >>> report = mp.check_finite(layer, raise_error=False)
    >>> bool(report), str(report)
    (False, 'No NaN or Inf (2 parameters, 2 gradients checked)')
    >>> mp.set_data(layer.bias, numpy.array([numpy.nan, numpy.inf]))
    >>> mp.check_finite(layer)  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    mxparams.errors.NonFiniteError: NaN or Inf in 1 array: 'bias' (data): 1 NaN, 1 Inf.
    Usual causes: a learning rate too high, log(0) or a division by zero in the loss,
    or NaN in the input data; check the step that produced them
    """
    check_flag(grads, "grads", "check_finite")
    check_flag(raise_error, "raise_error", "check_finite")
    found = _arrays.entries(block, select, grads, "check_finite")
    # Each (Parameter, kind) once, however many paths reach it.
    # (MXNet array, device): MXNet has no type stubs.
    unique: dict[tuple[str, str], list[tuple[Any, Any]]] = {}
    checked = {"data": 0, "grad": 0}
    for e in found:
        key = e.group
        if key not in unique:
            # strict=False: before initialization there are no copies
            # (copies() is []) while the devices are known already.
            unique[key] = list(zip(_arrays.copies(e.param, e.kind),
                                   _compat.devices(e.param), strict=False))
        checked[e.kind] += bool(unique[key])
    flat = [(key, array, device) for key, pairs in unique.items()
            for array, device in pairs]
    bad: dict[tuple[str, str], list[tuple]] = {}
    for (key, array, device), ok in zip(
            flat, _finite([(a, d) for _, a, d in flat]), strict=True):
        if not ok:
            values = array.asnumpy()
            nan = int(numpy.count_nonzero(numpy.isnan(values)))
            inf = int(numpy.count_nonzero(numpy.isinf(values)))
            if nan or inf:
                several = len(unique[key]) > 1
                bad.setdefault(key, []).append(
                    (str(device) if several else "", values.size, nan, inf))
    rows = [FiniteRow(e.path, e.kind, *problem) for e in found
            for problem in bad.get(e.group, ())]
    report = FiniteReport(rows, checked["data"], checked["grad"])
    if report and raise_error:
        raise NonFiniteError(report.message(), report)
    return report
