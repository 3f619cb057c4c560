"""The parameter table: ``summary``.

``Summary`` is the statistics object (rows and totals as data); text and
HTML both come from the one renderer in ``_table``.
"""
from __future__ import annotations

from typing import NamedTuple

import mxnet as mx
from mxnet import gluon

from . import _compat
from ._table import (Column, Table, Tabular, fmt_bytes, fmt_devices, fmt_int,
                     fmt_shape)
from .params import (ParamDict, Select, _check_block, blocks, collect,
                     elements, matcher)


_CPU0 = mx.cpu(0)


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


class Summary(Tabular):
    """Parameters of a block as a table, with totals.

    ``str()`` is an aligned text table that does not depend on the
    terminal; ``_repr_html_()`` renders the same table for Jupyter.
    ``total``, ``trainable`` and ``non_trainable`` count the elements of each
    Parameter object once (a tied parameter is counted once) and are None
    while any shape is still unknown (deferred initialization).
    """

    def __init__(self, block: gluon.Block, select: Select = None,
                 depth: int | None = None):
        _check_block(block, "summary")
        if depth is not None and (not isinstance(depth, int) or depth < 0):
            raise ValueError(f"depth must be a non-negative int, got {depth!r}")
        everything = collect(block)._params
        by_path = blocks(block)
        match = matcher(select)
        # One pass over Gluon's dict: this runs once per parameter, and
        # networks with 10^4..10^5 parameters exist.
        first_path: dict[int, str] = {}
        selected = {}
        rows = []
        unique: dict[int, tuple[int | None, bool, int]] = {}
        for path, param in everything.items():
            first = first_path.setdefault(id(param), path)
            if match is not None and not match(path, param):
                continue
            selected[path] = param
            block_path, _, attr = path.rpartition(".")
            owner = by_path[block_path]
            shape = _compat.display_shape(owner, attr, param)
            size = elements(shape)
            trainable = param.grad_req != "null"
            dtype, item = _compat.dtype_info(param)
            rows.append(Row(path, type(owner).__name__, shape, dtype, size,
                            trainable, first if first != path else "",
                            devices=tuple(_compat.devices(param))))
            unique.setdefault(id(param), (size, trainable, item))
        self.params = ParamDict(selected, block)
        self.param_rows: tuple[Row, ...] = tuple(rows)
        self.depth = depth
        self.rows: tuple[Row, ...] = (self.param_rows if depth is None else
                                      self._collapse(by_path, depth))

        self.paths = len(self.param_rows)
        self.unique = len(unique)
        known = [u for u in unique.values() if u[0] is not None]
        self.pending = self.unique - len(known)
        self.known_elements = sum(size for size, _, _ in known)
        self.known_trainable = sum(size for size, t, _ in known if t)
        self.known_bytes = sum(size * item for size, _, item in known)
        done = self.pending == 0
        self.total: int | None = self.known_elements if done else None
        self.trainable: int | None = self.known_trainable if done else None
        self.non_trainable: int | None = (
            self.known_elements - self.known_trainable if done else None)
        self.nbytes: int | None = self.known_bytes if done else None

    def _collapse(self, by_path: dict[str, gluon.Block],
                  depth: int) -> tuple[Row, ...]:
        """Rows whose path has more than ``depth`` block levels merge into
        one row for their ancestor block at that depth."""
        groups: dict[str, list[tuple[Row, int]]] = {}
        order: list[tuple[str, Row | None]] = []
        for row, param in zip(self.param_rows, self.params.values()):
            parts = row.path.split(".")
            if len(parts) - 1 < depth:
                order.append((row.path, row))
                continue
            key = ".".join(parts[:depth])
            if key not in groups:
                groups[key] = []
                order.append((key, None))
            groups[key].append((row, id(param)))

        rows = []
        for key, row in order:
            if row is not None:
                rows.append(row)
                continue
            members = groups[key]
            seen = {}
            for r, pid in members:
                seen.setdefault(pid, r)
            sizes = [r.elements for r in seen.values()]
            dtypes = {r.dtype for r, _ in members}
            flags = {r.trainable for r, _ in members}
            inside = key + "."
            tied = dict.fromkeys(
                ".".join(r.tied_to.split(".")[:depth]) for r, _ in members
                if r.tied_to and not r.tied_to.startswith(inside))
            devices = dict.fromkeys(d for r, _ in members for d in r.devices)
            rows.append(Row(
                key, type(by_path[key]).__name__, None,
                dtypes.pop() if len(dtypes) == 1 else "mixed",
                None if None in sizes else sum(sizes),
                flags.pop() if len(flags) == 1 else None,
                ", ".join(tied), tensors=len(members),
                devices=tuple(devices)))
        return tuple(rows)

    # -- rendering -------------------------------------------------------

    def table(self) -> Table:
        """The data as a :class:`Table` (what ``str`` and HTML render)."""
        tied = any(r.tied_to for r in self.rows)
        # Most networks live on cpu(0) alone: the column appears only when
        # the devices say something (data-parallel copies, a GPU).
        devices = any(len(r.devices) > 1 or (r.devices and r.devices[0] != _CPU0)
                      for r in self.rows)
        columns = ([Column("Path"), Column("Type"), Column("Shape"),
                    Column("Dtype"), Column("Elements", right=True),
                    Column("Trainable")] + [Column("Tied to")] * tied
                   + [Column("Devices")] * devices)
        yes_no = {True: "yes", False: "no", None: "mixed"}
        cells = []
        for r in self.rows:
            shape = (fmt_shape(r.shape) if not r.tensors else
                     f"{r.tensors} tensor" + ("s" if r.tensors > 1 else ""))
            line = [r.path, r.layer, shape, r.dtype, fmt_int(r.elements),
                    yes_no[r.trainable]]
            cells.append(line + [r.tied_to] * tied
                         + [fmt_devices(r.devices)] * devices)
        footer = self._footer()
        if any(len(r.devices) > 1 for r in self.rows):
            # Each device holds its own copy; the totals count one.
            footer = [(k, v + " per copy" if k == "Memory" else v)
                      for k, v in footer]
        return Table(columns, cells, footer)

    def _footer(self) -> list[tuple[str, str]]:
        counts = f"{self.paths} paths, {self.unique} unique"
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
    several paths, the path it is tied to.  ``select`` filters paths as in
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
