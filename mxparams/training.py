"""Training settings by structural path: ``freeze``, ``unfreeze``,
``configure`` and ``cast``.

A parameter's ``grad_req``, ``lr_mult``, ``wd_mult`` and dtype are
attributes of Gluon's own ``Parameter``; these functions set them on the
parameters a ``select`` picks (as in :func:`~mxparams.collect`), through
Gluon's own setters and ``Parameter.cast``, the same way on MXNet 1.x and
2.x.  A ``gluon.Trainer`` reads ``grad_req`` and the multipliers at every
step, so the settings hold for a Trainer made before or after them.

Everything is checked before anything changes: the arguments, the
selection (it must match something, and must cover every path of a tied
parameter or none), and for ``cast`` that the parameters hold values.
Each function returns a :class:`ConfigureReport` of what changed.
"""
from __future__ import annotations

import math
import numbers
import re
import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy
from mxnet import gluon
from numpy.typing import DTypeLike

from . import _compat
from ._table import Column, Table, Tabular
from .errors import ParamNotFound, did_you_mean, quoted_names
from .params import ParamDict, Select, matcher, walk
from .summaries import fmt_mult

#: The values of ``grad_req``, as Gluon accepts them.
GRAD_REQS = ("write", "add", "null")
#: What ``cast`` accepts: parameters are trained in floating point.
FLOAT_DTYPES = ("float16", "float32", "float64")


class ConfigureRow(NamedTuple):
    """One setting of one Parameter that changed."""
    path: str                  # first path of the Parameter
    setting: str               # 'grad_req', 'lr_mult', 'wd_mult' or 'dtype'
    old: str | float
    new: str | float
    tied: tuple[str, ...] = ()  # its other paths, for a tied Parameter


def _fmt_value(value: str | float) -> str:
    return value if isinstance(value, str) else fmt_mult(value)


class ConfigureReport(Tabular):
    """What :func:`freeze`, :func:`unfreeze`, :func:`configure` or
    :func:`cast` changed: falsy when nothing did.

    ``rows`` has one :class:`ConfigureRow` per changed setting of each
    Parameter (a tied Parameter once, under its first path, with its other
    paths in ``tied``); ``selected`` counts the selected paths and
    ``parameters`` the Parameters behind them; ``unchanged`` counts the
    Parameters that already had what was asked; ``skipped`` lists the
    paths of parameters that never take a gradient (BatchNorm's running
    statistics, constants), which ``grad_req`` and the multipliers leave
    alone.
    """

    def __init__(self, func: str, rows: Sequence[ConfigureRow], selected: int,
                 parameters: int, unchanged: int, skipped: Sequence[str] = ()):
        self.func = func
        self.rows: tuple[ConfigureRow, ...] = tuple(rows)
        self.selected = selected
        self.parameters = parameters
        self.unchanged = unchanged
        self.skipped: tuple[str, ...] = tuple(skipped)

    def __bool__(self) -> bool:
        return bool(self.rows)

    @property
    def changed(self) -> int:
        """How many Parameters had some setting changed."""
        return len({r.path for r in self.rows})

    def _footer(self) -> list[tuple[str, str]]:
        footer = [("Selected", f"{_n(self.selected, 'path')}, "
                               f"{_n(self.parameters, 'parameter')}"),
                  ("Changed", f"{_n(len(self.rows), 'setting')} of "
                              f"{_n(self.changed, 'parameter')}")]
        if self.unchanged:
            footer.append(("Unchanged", f"{_n(self.unchanged, 'parameter')} "
                                        "already as asked"))
        if self.skipped:
            footer.append(("Skipped", f"{_n(len(self.skipped), 'parameter')} "
                                      f"without gradients: {_some(self.skipped)}"))
        return footer

    def _note(self) -> str:
        """What an empty report says instead of a table."""
        parts = [f"{_n(self.selected, 'path')} selected"]
        if self.unchanged:
            parts.append(f"{_n(self.unchanged, 'parameter')} already as asked")
        if self.skipped:
            parts.append(f"{_n(len(self.skipped), 'parameter')} without "
                         "gradients skipped")
        return f"Nothing changed ({'; '.join(parts)})"

    def table(self) -> Table:
        """The changed settings as a :class:`Table`."""
        tied = any(r.tied for r in self.rows)
        columns = ([Column("Path"), Column("Setting"), Column("Old"),
                    Column("New")] + [Column("Also at")] * tied)
        cells = [[r.path, r.setting, _fmt_value(r.old), _fmt_value(r.new)]
                 + [", ".join(r.tied)] * tied for r in self.rows]
        return Table(columns, cells, self._footer(), note=self._note())


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'s' * (count != 1)}"


def _some(paths: Sequence[str], limit: int = 3) -> str:
    """Up to ``limit`` paths, quoted, for a table or a message."""
    return quoted_names(paths[:limit]) + (", ..." if len(paths) > limit else "")


# -- checking the arguments -------------------------------------------------

def _check_grad_req(value: object, func: str) -> str:
    if isinstance(value, str) and value in GRAD_REQS:
        return value
    valid = quoted_names(GRAD_REQS)
    if not isinstance(value, str):
        raise TypeError(f"{func}: grad_req must be one of {valid}, got "
                        f"{type(value).__name__} {value!r}")
    hint = did_you_mean(value.lower(), GRAD_REQS)
    raise ValueError(f"{func}: grad_req must be one of {valid}, got {value!r}"
                     + (f"; {hint}" if hint else "")
                     + " ('null' freezes a parameter, 'write' trains it, "
                     "'add' accumulates gradients over several backward passes)")


def _check_mult(value: object, name: str, func: str) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, numpy.bool_)):
        raise TypeError(f"{func}: {name} must be a number (the parameter's "
                        "learning rate or weight decay is multiplied by it), "
                        f"got {type(value).__name__} {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{func}: {name} must be a finite number >= 0 (0 "
                         f"stops the updates; use freeze() to skip the "
                         f"gradients too), got {value!r}")
    return number


def _check_dtype(value: DTypeLike, func: str) -> str:
    dtype = None
    if value is not None:  # numpy.dtype(None) is float64: no dtype here
        try:
            dtype = numpy.dtype(value)
        except (TypeError, ValueError):
            pass
    if dtype is None:
        hint = did_you_mean(value, FLOAT_DTYPES) if isinstance(value, str) else ""
        raise TypeError(f"{func}: dtype {value!r} is not understood; use one of "
                        f"{quoted_names(FLOAT_DTYPES)}"
                        + (f" ({hint})" if hint else ""))
    if dtype.name not in FLOAT_DTYPES:
        raise ValueError(f"{func}: parameters are trained in floating point; "
                         f"dtype must be one of {quoted_names(FLOAT_DTYPES)}, "
                         f"got {dtype.name}")
    return dtype.name


# -- choosing the parameters ------------------------------------------------

def _nothing_selected(func: str, select: Select, found: _compat.Walk) -> ParamNotFound:
    """The error for a ``select`` that matches no path: why, and the
    paths or blocks closest to what was written."""
    lines = ParamDict({}, found, select).empty_reason()
    patterns = ([select] if isinstance(select, str) else
                list(select) if isinstance(select, (list, tuple)) else [])
    known = list(found.params) + [p for p in found.nodes if p]
    hints = []
    for pattern in patterns:
        # What the pattern spells, without the regex around it: 'featurs.*'
        # is meant as 'featurs', r'0\.weight' as '0.weight'.
        spelled = re.sub(r"(\.\*|\$)+$", "", pattern).replace("\\.", ".")
        hint = did_you_mean(spelled, known, cutoff=0.75)
        if hint:
            hints.append(hint)
    parts = [lines[0] + (f" ({hints[0]})" if hints else "")] + lines[1:]
    return ParamNotFound(f"{func}: {'; '.join(parts)}. Nothing was changed")


def _partly_tied(func: str, partial: list[tuple[list[str], list[str]]]) -> ValueError:
    shown = [f"{quoted_names(inside)} selected but {quoted_names(outside)} not"
             for inside, outside in partial[:3]]
    more = f" (and {len(partial) - 3} more)" if len(partial) > 3 else ""
    missing = [p for _, outside in partial for p in outside]
    add = ", ".join(f"r'{re.escape(p)}'" for p in missing[:4])
    add += ", ..." if len(missing) > 4 else ""
    return ValueError(
        f"{func}: the selection covers only part of a tied parameter: "
        f"{'; '.join(shown)}{more}. Those paths hold one Parameter, so a "
        "setting would change at all of them; select every path of each "
        f"tied parameter (add {add} to select) or none "
        "(mp.tied_groups(block) lists them). Nothing was changed")


def _choose(block: gluon.Block, select: Select, func: str):
    """(walk, selected sites in walk order, Parameters as (first path,
    every path)) after checking the selection."""
    found = walk(block, func)
    match = matcher(select)
    sites = found.sites()
    chosen = [s for s in sites.values() if match is None or match(s.path, s.param)]
    if select is not None and not chosen:
        raise _nothing_selected(func, select, found)
    groups = _compat.paths_by_parameter(sites)
    taken = {s.path for s in chosen}
    partial = []
    for first in dict.fromkeys(s.first for s in chosen):
        paths = groups[first]
        if len(paths) > 1 and not taken.issuperset(paths):
            partial.append(([p for p in paths if p in taken],
                            [p for p in paths if p not in taken]))
    if partial:
        raise _partly_tied(func, partial)
    params = [(first, groups[first]) for first in
              dict.fromkeys(s.first for s in chosen)]
    return found, chosen, params


# -- changing them ----------------------------------------------------------

def _set(block: gluon.Block, select: Select, func: str,
         wanted: dict[str, str | float], only_frozen: bool = False) -> ConfigureReport:
    """Set ``wanted`` (setting -> value) on every selected Parameter that
    takes gradients, through Gluon's own setters; with ``only_frozen``,
    grad_req changes only where it is 'null'."""
    found, chosen, params = _choose(block, select, func)
    sites = found.sites()
    rows: list[ConfigureRow] = []
    changes = []
    skipped, unchanged = [], 0
    for first, paths in params:
        param = sites[first].param
        if not _compat.takes_gradient(param):
            # Its grad_req is 'null' for good and no optimizer updates it:
            # nothing to report for a freeze, a skip for anything else.
            if any(k != "grad_req" or v != "null" for k, v in wanted.items()):
                skipped.append(first)
            continue
        mine = []
        for setting, new in wanted.items():
            old = getattr(param, setting)
            if setting == "grad_req" and only_frozen and old != "null":
                continue
            if old != new:
                mine.append(ConfigureRow(first, setting, old, new, tuple(paths[1:])))
        if mine:
            rows += mine
            changes.append((param, mine))
        else:
            unchanged += 1
    with _compat.rollback(params=[p for p, _ in changes]):
        for param, mine in changes:
            for row in mine:
                # Gluon's own property setters: grad_req (re)allocates or
                # drops the gradient of an initialized parameter.
                setattr(param, row.setting, row.new)
    return ConfigureReport(func, rows, len(chosen), len(params), unchanged, skipped)


def configure(block: gluon.Block, select: Select = None, *,
              grad_req: str | None = None, lr_mult: float | None = None,
              wd_mult: float | None = None) -> ConfigureReport:
    """Set ``grad_req``, ``lr_mult`` and ``wd_mult`` of the selected parameters.

    ``select`` picks parameters by structural path as in
    :func:`~mxparams.collect` (a regular expression matched from the
    start of the path, a list of them, or a function ``f(path, param)``);
    None selects all.  Settings left None are not touched.  ``grad_req``
    is 'write', 'add' or 'null' (frozen); a ``Trainer`` multiplies its
    learning rate by ``lr_mult`` and its weight decay by ``wd_mult`` for
    that parameter, at every step, whenever the Trainer was made.
    Parameters that never take a gradient (BatchNorm's running
    statistics, constants) are skipped and listed as such.

    A tied parameter (one Parameter at several paths) is set once; a
    selection that covers only some of its paths is a ``ValueError``, and
    a selection that matches nothing is an :class:`mp.ParamNotFound` with
    the closest paths.  Everything is checked before anything changes.
    Returns a :class:`ConfigureReport` of what changed.

    >>> import mxparams as mp
    >>> from mxnet.gluon import nn
    >>> net = nn.HybridSequential()
    >>> net.add(nn.Dense(8, in_units=4), nn.Dense(2, in_units=8))
    >>> print(mp.configure(net, "1", lr_mult=10, wd_mult=0))
    Path      Setting  Old  New
    --------  -------  ---  ---
    1.weight  lr_mult  1    10
    1.weight  wd_mult  1    0
    1.bias    lr_mult  1    10
    1.bias    wd_mult  1    0
    ===========================
    Selected  2 paths, 2 parameters
    Changed   4 settings of 2 parameters
    >>> net[1].weight.lr_mult
    10.0
    """
    func = "configure"
    wanted: dict[str, str | float] = {}
    if grad_req is not None:
        wanted["grad_req"] = _check_grad_req(grad_req, func)
    if lr_mult is not None:
        wanted["lr_mult"] = _check_mult(lr_mult, "lr_mult", func)
    if wd_mult is not None:
        wanted["wd_mult"] = _check_mult(wd_mult, "wd_mult", func)
    if not wanted:
        raise TypeError("configure: nothing to set; pass grad_req=, lr_mult= "
                        "or wd_mult= (freeze() and unfreeze() set grad_req)")
    return _set(block, select, func, wanted)


def freeze(block: gluon.Block, select: Select = None) -> ConfigureReport:
    """Stop training the selected parameters: ``grad_req='null'``.

    Frozen parameters get no gradient and a ``Trainer`` leaves them as they
    are, bit for bit.  ``select`` works as in :func:`configure`, with the
    same checks; returns a :class:`ConfigureReport`.

    BatchNorm's running mean and variance are not trained by gradients,
    and freezing does not fix them by itself: MXNet (1.x and 2.x alike)
    updates them in the layer's backward pass, in training mode.  A
    BatchNorm layer inside a frozen part that no gradient passes through
    (a frozen backbone below trainable layers only) keeps them; one that a
    gradient passes through, towards a trainable layer before it, goes on
    updating them.  In training mode a frozen BatchNorm also still
    normalizes with each batch's own statistics.  To make it use and keep
    its running statistics, build it with ``use_global_stats=True``, or
    run that part of the network under ``autograd.predict_mode()`` inside
    ``autograd.record()`` (gradients still flow through it).

    >>> import mxparams as mp
    >>> from mxnet.gluon import nn
    >>> net = nn.HybridSequential()
    >>> net.add(nn.Dense(8, in_units=4), nn.Dense(2, in_units=8))
    >>> report = mp.freeze(net, r"0\\.")
    >>> print(report)
    Path      Setting   Old    New
    --------  --------  -----  ----
    0.weight  grad_req  write  null
    0.bias    grad_req  write  null
    ===============================
    Selected  2 paths, 2 parameters
    Changed   2 settings of 2 parameters
    >>> print(mp.freeze(net, r"0\\."))
    Nothing changed (2 paths selected; 2 parameters already as asked)
    """
    return _set(block, select, "freeze", {"grad_req": "null"})


def unfreeze(block: gluon.Block, select: Select = None) -> ConfigureReport:
    """Train the selected frozen parameters again: ``grad_req='write'``
    where it is 'null'.

    Parameters that are trainable already keep their ``grad_req`` ('write'
    or 'add').  ``select`` works as in :func:`configure`, with the same
    checks; parameters that never take a gradient (BatchNorm's running
    statistics, constants) are skipped.  Returns a
    :class:`ConfigureReport`.

    >>> import mxparams as mp
    >>> from mxnet.gluon import nn
    >>> net = nn.HybridSequential()
    >>> net.add(nn.Dense(3, in_units=2), nn.BatchNorm(in_channels=3))
    >>> _ = mp.freeze(net)
    >>> report = mp.unfreeze(net)
    >>> [(r.path, r.new) for r in report.rows]
    [('0.weight', 'write'), ('0.bias', 'write'), ('1.gamma', 'write'), ('1.beta', 'write')]
    >>> report.skipped
    ('1.running_mean', '1.running_var')
    """
    return _set(block, select, "unfreeze", {"grad_req": "write"}, only_frozen=True)


def cast(block: gluon.Block, dtype: DTypeLike,
         select: Select = None) -> ConfigureReport:
    """Cast the selected parameters, data and gradients, to ``dtype``.

    ``dtype`` is 'float16', 'float32' or 'float64' (or the numpy dtype);
    the parameters not selected keep theirs, and :func:`~mxparams.summary`
    shows the mix.  Gluon's own ``Parameter.cast`` does the work, and the
    cached graphs of hybridized blocks are dropped so the next call traces
    them with the new dtypes; the network's ``forward`` must then give
    each layer inputs of its parameters' dtype.  ``select`` works as in
    :func:`configure`, BatchNorm's running statistics included; returns a
    :class:`ConfigureReport`.

    Parameters must hold values: initialize the network and run one
    forward pass first (MXNet 1.9.1 in numpy mode cannot initialize a
    parameter that is not float32).  Cast before making the ``Trainer``:
    an optimizer with state (momentum, Adam) keeps it in the old dtype and
    its next step fails, so casting a parameter a Trainer updates warns.
    float16 layers run on GPUs only (MXNet has no float16 Dense,
    convolution or RNN on the CPU), though they save and load anywhere.

    >>> import mxparams as mp
    >>> from mxnet.gluon import nn
    >>> net = nn.HybridSequential()
    >>> net.add(nn.Dense(3, in_units=2), nn.Dense(1, in_units=3))
    >>> net.initialize()
    >>> print(mp.cast(net, "float64", select="1"))
    Path      Setting  Old      New
    --------  -------  -------  -------
    1.weight  dtype    float32  float64
    1.bias    dtype    float32  float64
    ===================================
    Selected  2 paths, 2 parameters
    Changed   2 settings of 2 parameters
    >>> [r.dtype for r in mp.summary(net).rows]
    ['float32', 'float32', 'float64', 'float64']
    """
    func = "cast"
    name = _check_dtype(dtype, func)
    found, chosen, params = _choose(block, select, func)
    sites = found.sites()
    empty = [first for first, _ in params
             if not _compat.is_initialized(sites[first].param)]
    if empty:
        raise RuntimeError(
            f"cast: {_some(empty, 4)} hold no values yet (not initialized, or "
            "shapes unknown until the first forward pass); initialize the "
            "network and run one forward pass, then cast (MXNet 1.9.1 in "
            "numpy mode cannot initialize parameters of another dtype than "
            "float32). Nothing was changed")
    rows, changes, unchanged = [], [], 0
    for first, paths in params:
        param = sites[first].param
        old = _compat.dtype_name(param)
        if old == name:
            unchanged += 1
            continue
        rows.append(ConfigureRow(first, "dtype", old, name, tuple(paths[1:])))
        changes.append(param)
    if any(_compat.has_trainer(p) for p in changes):
        warnings.warn(
            "cast: a gluon.Trainer already updates some of these parameters; "
            "an optimizer that keeps state (momentum, Adam) keeps it in the "
            "old dtype and its next step fails. Make the Trainer after "
            "casting", UserWarning, stacklevel=2)
    with _compat.rollback(params=changes):
        for param in changes:
            _compat.cast(param, name)
    if changes:
        # A cached graph was traced with the old dtypes.
        for node in found.nodes.values():
            _compat.drop_cached_graph(node.block)
    return ConfigureReport(func, rows, len(chosen), len(params), unchanged)
