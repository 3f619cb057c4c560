"""Per-parameter statistics: ``stats``, and ``Watch`` to record them while training.

Numbers are computed on the host with numpy in float64 and printed with
four significant digits, so the same values print the same text on MXNet
1.9.1 and 2.0 (see ``_arrays``).
"""
from __future__ import annotations

import operator
from typing import NamedTuple

from mxnet import gluon

from . import _arrays, _compat
from ._arrays import KINDS, STAT_FIELDS
from ._table import Column, Table, Tabular, fmt_float, fmt_int, fmt_shape
from .errors import ParamNotFound, did_you_mean, examples
from .params import Select, _check_block, check_flag, check_int, check_str


class StatRow(NamedTuple):
    """Statistics of one parameter (kind 'data') or its gradient ('grad').

    The numbers are None while the parameter is not initialized.
    """
    path: str
    kind: str
    shape: tuple | None
    mean: float | None
    std: float | None
    min: float | None
    max: float | None
    norm: float | None
    zeros: float | None      # fraction of exact zeros
    nan: int | None
    inf: int | None          # +inf and -inf
    tied_to: str = ""


#: The statistics of a row (StatRow or WatchRow), in table order.
_statistics = operator.attrgetter(*STAT_FIELDS)
#: _arrays.Stats, or None for each field before initialization.
_MaybeStats = tuple[float | None, float | None, float | None, float | None,
                    float | None, float | None, int | None, int | None]
_NO_STATS: _MaybeStats = (None, None, None, None, None, None, None, None)


def _stat_cells(row) -> list[str]:
    """The eight statistic cells of a row: floats in 4 digits, counts as
    integers."""
    values = _statistics(row)
    return [fmt_float(v) for v in values[:6]] + [fmt_int(v) for v in values[6:]]


_TITLES = {"nan": "NaN", "inf": "Inf"}


def _stat_columns() -> list[Column]:
    return [Column(_TITLES.get(f, f.capitalize()), right=True)
            for f in STAT_FIELDS]


class Stats(Tabular):
    """Statistics of each selected parameter (and gradient), as a table.

    ``rows`` holds :class:`StatRow` tuples; ``str()`` and
    ``_repr_html_()`` render the same table.
    """

    def __init__(self, block: gluon.Block, *, select: Select = None,
                 grads: bool = False):
        check_flag(grads, "grads", "stats")
        found = _arrays.entries(block, select, grads, "stats")
        values = _arrays.first_copy_stats(found)
        self.grads = bool(grads)
        rows = []
        for e, v in zip(found, values, strict=True):
            stats: _MaybeStats = _NO_STATS if v is None else v
            rows.append(StatRow(e.path, e.kind, e.shape, *stats, tied_to=e.tied_to))
        self.rows: tuple[StatRow, ...] = tuple(rows)
        self.multi_device: list[str] = _arrays.multi_device(found)
        self.uninitialized: list[str] = list(dict.fromkeys(
            r.path for r in self.rows if r.mean is None))

    def table(self) -> Table:
        """The data as a :class:`Table` (what ``str`` and HTML render)."""
        tied = any(r.tied_to for r in self.rows)
        columns = ([Column("Path")] + [Column("Kind")] * self.grads
                   + [Column("Shape")] + _stat_columns()
                   + [Column("Tied to")] * tied)
        cells = []
        for r in self.rows:
            line = ([r.path] + [r.kind] * self.grads + [fmt_shape(r.shape)]
                    + _stat_cells(r) + [r.tied_to] * tied)
            cells.append(line)
        notes = []
        if self.multi_device:
            notes.append(("Devices", "statistics of the copy on the first "
                          "device; mp.check_replicas(block) compares the "
                          f"copies of {len(self.multi_device)} parameter"
                          + ("s" * (len(self.multi_device) > 1))))
        if self.uninitialized:
            notes.append(("Note", f"{len(self.uninitialized)} parameter"
                          + ("s are" if len(self.uninitialized) > 1 else " is")
                          + " not initialized (?): call initialize() and run "
                          "a forward pass"))
        return Table(columns, cells, notes)


def stats(block: gluon.Block, *, select: Select = None,
          grads: bool = False) -> Stats:
    """Mean, std, min, max, L2 norm, zero fraction, NaN and Inf counts per parameter.

    One row per structural path (``select`` filters them as in
    :func:`collect`); with ``grads=True`` each parameter is followed by a
    row for its gradient (none for ``grad_req='null'``).  Statistics use
    numpy in float64 on the values of the first device's copy (copies
    should be equal: :func:`check_replicas` compares them), with numpy's
    semantics: a NaN makes mean, std, min, max and norm NaN; ``std`` is the
    population standard deviation; ``Zeros`` is the fraction of exact
    zeros.  Numbers print with four significant digits, the same on every
    MXNet version.  A tied parameter appears at each of its paths.

    >>> import numpy
    >>> import mxparams as mp
    >>> from mxnet.gluon import nn
    >>> layer = nn.Dense(2, in_units=3)
    >>> layer.initialize()
    >>> mp.set_data(layer.weight, numpy.array([[1, -2, 0], [0, 0, 4.0]]))
    >>> print(mp.stats(layer))
    Path    Shape   Mean    Std  Min  Max   Norm  Zeros  NaN  Inf
    ------  ------  ----  -----  ---  ---  -----  -----  ---  ---
    weight  (2, 3)   0.5  1.803   -2    4  4.583    0.5    0    0
    bias    (2,)       0      0    0    0      0      1    0    0
    >>> mp.stats(layer).rows[0].norm == 21 ** 0.5
    True
    """
    return Stats(block, grads=grads, select=select)


class WatchRow(NamedTuple):
    """One recorded row: a parameter's (or gradient's) statistics at a step."""
    step: int
    path: str
    kind: str
    mean: float
    std: float
    min: float
    max: float
    norm: float
    zeros: float
    nan: int
    inf: int


class Watch(Tabular):
    """Record parameter and gradient statistics step by step, for plotting.

    ``record(step)`` appends one :class:`WatchRow` per selected path (and
    gradient, with ``grads=True``) to ``rows``; ``series(path, field,
    kind)`` returns ``(steps, values)`` lists for a plot without pandas.
    ``str()`` and ``_repr_html_()`` show every row as a table.

    >>> import numpy
    >>> import mxparams as mp
    >>> from mxnet.gluon import nn
    >>> layer = nn.Dense(2, in_units=2)
    >>> layer.initialize()
    >>> watch = mp.Watch(layer, select="bias", grads=False)
    >>> for step in range(3):
    ...     mp.set_data(layer.bias, numpy.full(2, step + 1.0))
    ...     watch.record(step)
    >>> watch.series("bias", "mean")
    ([0, 1, 2], [1.0, 2.0, 3.0])
    >>> print(watch)
    Step  Path  Kind  Mean  Std  Min  Max   Norm  Zeros  NaN  Inf
    ----  ----  ----  ----  ---  ---  ---  -----  -----  ---  ---
       0  bias  data     1    0    1    1  1.414      0    0    0
       1  bias  data     2    0    2    2  2.828      0    0    0
       2  bias  data     3    0    3    3  4.243      0    0    0
    """

    def __init__(self, block: gluon.Block, *, select: Select = None,
                 grads: bool = True):
        _check_block(block, "Watch")
        check_flag(grads, "grads", "Watch")
        _arrays.entries(block, select, grads, "Watch")  # validate select now
        self.block = block
        self.select = select
        self.grads = grads
        self.rows: list[WatchRow] = []

    def record(self, step: int | None = None) -> None:
        """Append the current statistics, labelled ``step``.

        Without ``step``, the step after the last recorded one (0 first).
        Parameters must be initialized (after the first forward pass when
        shapes are inferred).
        """
        # Checked here: a wrong step stored now breaks the next record().
        check_int(step, "step", "Watch.record", "the training step", optional=True)
        if step is None:
            step = self.rows[-1].step + 1 if self.rows else 0
        step = int(step)  # numpy's ints print and add like Python's
        found = _arrays.entries(self.block, self.select, self.grads, "Watch")
        missing = [e.path for e in found if not _compat.is_initialized(e.param)]
        if missing:
            raise RuntimeError(
                f"Watch.record: {len(missing)} parameter(s) are not "
                f"initialized yet, e.g. {missing[0]!r}; call initialize() and "
                "run one forward pass before recording")
        for e, values in zip(found, _arrays.first_copy_stats(found), strict=True):
            assert values is not None  # every one is initialized (checked above)
            self.rows.append(WatchRow(step, e.path, e.kind, *values))

    def series(self, path: str, field: str = "norm",
               kind: str = "data") -> tuple[list[int], list]:
        """``(steps, values)`` of one statistic of one path, in record order.

        ``field`` is one of mean, std, min, max, norm, zeros, nan, inf;
        ``kind`` is 'data' or 'grad'.
        """
        check_str(path, "path", "Watch.series", "a structural path such as '0.weight'")
        check_str(field, "field", "Watch.series", "a statistic such as 'norm'")
        check_str(kind, "kind", "Watch.series", "'data' or 'grad'")
        if field not in STAT_FIELDS:
            raise ValueError(f"unknown field {field!r}; choose one of "
                             f"{', '.join(STAT_FIELDS)}")
        if kind not in KINDS:
            raise ValueError(f"kind must be 'data' or 'grad', got {kind!r}")
        picked = [r for r in self.rows if r.path == path and r.kind == kind]
        if not picked:
            raise ParamNotFound(self._missing(path, kind))
        return [r.step for r in picked], [getattr(r, field) for r in picked]

    def _missing(self, path: str, kind: str) -> str:
        if not self.rows:
            return "nothing recorded yet: call watch.record(step) first"
        paths = list(dict.fromkeys(r.path for r in self.rows))
        if path in paths:
            why = ("Watch(grads=False) records no gradients" if not self.grads
                   else "it has no gradient (grad_req='null')")
            return f"no {kind!r} rows for {path!r}: {why}"
        hint = (did_you_mean(str(path), paths)
                or f"recorded paths: {examples(paths)}")
        return f"no rows for path {path!r}; {hint}"

    def table(self) -> Table:
        """One line per (step, path, kind), as a :class:`Table`."""
        columns = [Column("Step", right=True), Column("Path"),
                   Column("Kind")] + _stat_columns()
        return Table(columns, [[str(r.step), r.path, r.kind] + _stat_cells(r)
                               for r in self.rows])

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        steps = len({r.step for r in self.rows})
        return (f"<Watch of {type(self.block).__name__}: {len(self.rows)} "
                f"rows over {steps} steps>")
