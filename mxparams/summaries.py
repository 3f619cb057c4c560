"""The parameter table: ``summary``.

``Summary`` is the statistics object (rows and totals as data); text and
HTML both come from the one renderer in ``_table``.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import mxnet as mx
from mxnet import gluon

from . import _compat
from ._table import Column, Table, Tabular, fmt_bytes, fmt_devices, fmt_int, fmt_shape
from .params import ParamDict, Select, check_depth, matcher, walk

_CPU0 = mx.cpu(0)
# Row() runs a Python-level __new__; a summary builds a row per parameter.
_new = tuple.__new__


class Row(NamedTuple):
    """One line of the table: a parameter, or a block collapsed by ``depth``."""
    path: str
    layer: str                # class name of the block that holds it
    shape: tuple | None       # unknown dims are None; None for a block row
    dtype: str
    elements: int | None      # None while the shape is unknown
    trainable: bool | None    # from grad_req; None: a block row with both
    tied_to: str = ""         # first path of the same Parameter object
    tensors: int = 0          # how many parameters a block row stands for
    devices: tuple = ()       # devices holding copies; () before initialize
    lr_mult: float | None = 1.0  # None: a block row whose parameters differ
    wd_mult: float | None = 1.0


def fmt_mult(value: float | None) -> str:
    """A multiplier as short as it is exact: 10.0 -> '10', 0.1 -> '0.1';
    None (a block row whose parameters differ) -> 'mixed'.

    >>> [fmt_mult(v) for v in (1.0, 10, 0.1, 1 / 3, None)]
    ['1', '10', '0.1', '0.3333333333333333', 'mixed']
    """
    if value is None:
        return "mixed"
    short = f"{value:g}"
    return short if float(short) == value else repr(float(value))


def _collapse(found: _compat.Walk, sites: list, rows: list,
              depth: int) -> tuple[Row, ...]:
    """Rows of parameters held ``depth`` or more block levels down merge into
    one row for their ancestor block at level ``depth``.

    Levels are those of the owning blocks, not dots in the path: a fused
    RNN's '_unfused.0.l_cell.i2h_weight' belongs to the RNN block itself.
    """
    nodes = found.nodes
    all_sites = found.sites()

    def block_at_depth(site) -> str | None:
        if nodes[site.owner_path].level < depth:
            return None
        return found.ancestor(site.owner_path, depth)

    groups: dict[str, list[tuple[Row, str, str]]] = {}
    order: list[tuple[str, Row | None]] = []
    for row, site in zip(rows, sites, strict=True):
        key = block_at_depth(site)
        if key is None:
            order.append((row.path, row))
            continue
        if key not in groups:
            groups[key] = []
            order.append((key, None))
        tied = row.tied_to
        if tied:  # shown as its block at this depth, when it is that deep
            tied = block_at_depth(all_sites[tied]) or tied
        groups[key].append((row, site.first, tied))

    out = []
    for key, row in order:
        if row is not None:
            out.append(row)
            continue
        members = groups[key]
        seen: dict[str, Row] = {}
        for r, pid, _ in members:
            seen.setdefault(pid, r)
        sizes = [r.elements for r in seen.values() if r.elements is not None]
        dtypes = {r.dtype for r, _, _ in members}
        flags = {r.trainable for r, _, _ in members}
        lrs = {r.lr_mult for r, _, _ in members}
        wds = {r.wd_mult for r, _, _ in members}
        tied = dict.fromkeys(t for _, _, t in members if t and t != key)
        devices = dict.fromkeys(d for r, _, _ in members for d in r.devices)
        out.append(Row(
            key, type(nodes[key].block).__name__, None,
            dtypes.pop() if len(dtypes) == 1 else "mixed",
            sum(sizes) if len(sizes) == len(seen) else None,
            flags.pop() if len(flags) == 1 else None,
            ", ".join(tied), tensors=len(members), devices=tuple(devices),
            lr_mult=lrs.pop() if len(lrs) == 1 else None,
            wd_mult=wds.pop() if len(wds) == 1 else None))
    return tuple(out)


def _devices_of(rows) -> tuple[bool, bool]:
    """(some parameter has several copies, the Devices column says something).

    Most networks live on cpu(0) alone, so the column appears only when
    some parameter has copies on several devices or lives elsewhere.  Rows
    mostly hold the same Context object, and a Context compares in Python,
    slowly: one seen equal to cpu(0) is recognised by identity after that.
    """
    several = elsewhere = False
    cpu0 = None
    for r in rows:
        d = r.devices
        if len(d) == 1 and d[0] is cpu0:
            continue
        if len(d) > 1:
            several = True
        elif d and d[0] == _CPU0:
            cpu0 = d[0]
        elif d:
            elsewhere = True
    return several, several or elsewhere


class Summary(Tabular):
    """Parameters of a block as a table, with totals.

    ``str()`` is an aligned text table that does not depend on the
    terminal; ``_repr_html_()`` renders the same table for Jupyter.
    ``total``, ``trainable`` and ``non_trainable`` count the elements of each
    Parameter object once (a tied parameter is counted once) and are None
    while any shape is still unknown (deferred initialization).
    """

    def __init__(self, block: gluon.Block, *, select: Select = None,
                 depth: int | None = None):
        found = walk(block, "summary")
        check_depth(depth, "summary")
        match = matcher(select)
        # One pass over the walk: this runs once per parameter, and
        # networks with 10^4..10^5 parameters exist.
        sites = []
        rows = []
        # Totals count each Parameter once (tied paths share one first path).
        seen: set[str] = set()
        pending = elements_ = trainable_ = nbytes = 0
        dtype_info, devices, prod = _compat.dtype_info, _compat.devices, math.prod
        for site in found.sites().values():
            param = site.param
            if match is not None and not match(site.path, param):
                continue
            sites.append(site)
            shape, first = site.shape, site.first
            size = None if shape is None or None in shape else prod(shape)
            trainable = param.grad_req != "null"
            dtype, item = dtype_info(param)
            rows.append(_new(Row, (site.path, type(site.owner).__name__,
                                   shape, dtype, size, trainable,
                                   first if first != site.path else "",
                                   0, devices(param), param.lr_mult,
                                   param.wd_mult)))
            if first not in seen:
                seen.add(first)
                if size is None:
                    pending += 1
                else:
                    elements_ += size
                    nbytes += size * item
                    trainable_ += size if trainable else 0
        self.params = (ParamDict(found.params, found) if match is None else
                       ParamDict({s.path: s.param for s in sites}, found,
                                 select))
        self.param_rows: tuple[Row, ...] = tuple(rows)
        self.depth = depth
        self.rows: tuple[Row, ...] = (self.param_rows if depth is None else
                                      _collapse(found, sites, rows, depth))

        self.paths = len(self.param_rows)
        self.unique = len(seen)
        self.pending = pending
        self.known_elements = elements_
        self.known_trainable = trainable_
        self.known_bytes = nbytes
        done = pending == 0
        self.total: int | None = elements_ if done else None
        self.trainable: int | None = trainable_ if done else None
        self.non_trainable: int | None = elements_ - trainable_ if done else None
        self.nbytes: int | None = nbytes if done else None

    # -- rendering -------------------------------------------------------

    def table(self) -> Table:
        """The data as a :class:`Table` (what ``str`` and HTML render)."""
        rows = self.rows
        tied = any(r.tied_to for r in rows)
        several, devices = _devices_of(rows)
        # Training settings appear once some parameter has its own: the
        # table of a network as built stays as it always was.
        lr = any(r.lr_mult != 1 for r in rows)
        wd = any(r.wd_mult != 1 for r in rows)
        columns = ([Column("Path"), Column("Type"), Column("Shape"),
                    Column("Dtype"), Column("Elements", right=True),
                    Column("Trainable")] + [Column("lr_mult", right=True)] * lr
                   + [Column("wd_mult", right=True)] * wd
                   + [Column("Tied to")] * tied + [Column("Devices")] * devices)
        yes_no = {True: "yes", False: "no", None: "mixed"}
        # Column by column: one comprehension per column is the cheapest
        # way through 10^4..10^5 rows.
        cells = [[r.path for r in rows], [r.layer for r in rows],
                 [fmt_shape(r.shape) if not r.tensors else
                  f"{r.tensors} tensor" + "s" * (r.tensors > 1) for r in rows],
                 [r.dtype for r in rows],
                 [fmt_int(r.elements) for r in rows],
                 [yes_no[r.trainable] for r in rows]]
        if lr:
            cells.append([fmt_mult(r.lr_mult) for r in rows])
        if wd:
            cells.append([fmt_mult(r.wd_mult) for r in rows])
        if tied:
            cells.append([r.tied_to for r in rows])
        if devices:
            cells.append([fmt_devices(r.devices) for r in rows])
        footer = self._footer()
        # An empty selection says what it missed (ParamDict.empty_reason).
        footer += [("Note" if i == 0 else "", line) for i, line in
                   enumerate(self.params.empty_reason())]
        if several:
            # Each device holds its own copy; the totals count one.
            footer = [(k, v + " per copy" if k == "Memory" else v)
                      for k, v in footer]
        return Table(columns, list(zip(*cells, strict=True)), footer,
                     known_widths=[max(len(c.title), max(map(len, cell), default=0))
                             for c, cell in zip(columns, cells, strict=True)])

    def _footer(self) -> list[tuple[str, str]]:
        counts = f"{self.paths} path{'s' * (self.paths != 1)}, {self.unique} unique"
        split = (f"{self.known_trainable:,} trainable, "
                 f"{self.known_elements - self.known_trainable:,} non-trainable")
        if self.pending == 0:
            return [("Parameters", counts),
                    ("Elements", f"{self.known_elements:,} ({split})"),
                    ("Memory", fmt_bytes(self.known_bytes))]
        s = "" if self.pending == 1 else "s"
        return [("Parameters", f"{counts}, {self.pending} with unknown shape"),
                ("Elements", f"{self.known_elements:,} known ({split}) + "
                             f"{self.pending} parameter{s} of unknown shape"),
                ("Memory", fmt_bytes(self.known_bytes) + " known"),
                ("Note", "unknown shapes (?) are inferred at the first forward "
                         "pass (deferred initialization)")]


def summary(block: gluon.Block, *, select: Select = None,
            depth: int | None = None) -> Summary:
    """A table of the parameters of ``block``; no forward pass needed.

    One row per structural path: type of the layer that holds it, shape
    (unknown dimensions as ``?``), dtype, element count, whether it is
    trainable (``grad_req != 'null'``) and, for a parameter reachable by
    several paths, the path it is tied to.  Columns ``lr_mult`` and
    ``wd_mult`` appear when some parameter's multiplier is not 1
    (:func:`configure`).  ``select`` filters paths as in
    :func:`collect`; ``depth`` cuts paths after that many block levels and
    merges what lies below into one row per block.  A ``Devices`` column
    appears only when some parameter has copies on several devices or lives
    elsewhere than ``cpu(0)``; the memory then counts one copy.

    >>> from mxnet.gluon import nn
    >>> net = nn.HybridSequential()
    >>> net.add(nn.Dense(256, in_units=20, activation="relu"),
    ...         nn.Dense(10, in_units=256))
    >>> s = summary(net)
    >>> print(s)
    Path      Type   Shape      Dtype    Elements  Trainable
    --------  -----  ---------  -------  --------  ---------
    0.weight  Dense  (256, 20)  float32     5,120  yes
    0.bias    Dense  (256,)     float32       256  yes
    1.weight  Dense  (10, 256)  float32     2,560  yes
    1.bias    Dense  (10,)      float32        10  yes
    ========================================================
    Parameters  4 paths, 4 unique
    Elements    7,946 (7,946 trainable, 0 non-trainable)
    Memory      31,784 bytes (31.04 KiB)
    >>> s.total, s.trainable, s.non_trainable
    (7946, 7946, 0)
    """
    return Summary(block, select=select, depth=depth)
