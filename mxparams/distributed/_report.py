"""What ``check_replicas`` returns, whatever it compared: the copies on the
devices of this process, or (``kvstore=``) the workers of a distributed
job.  Its own module because ``replicas`` and ``workers`` both build it
and ``replicas`` imports ``workers``."""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from .._table import Column, Table, Tabular, fmt_float, fmt_int


class ReplicaRow(NamedTuple):
    """A copy of an array that differs from the reference copy.

    On one process the copy is on ``device`` (``'cpu(1)'``) and the
    reference is the copy on the parameter's first device
    (``'cpu(0)'``).  Across workers (``check_replicas(..., kvstore=kv)``)
    ``device`` is the differing worker (``'rank 1'``, also as the int
    ``rank``) and ``reference`` is ``'rank 0'``; ``problem`` then says
    whether the values differ, the shape or dtype (``shapes`` gives rank
    0's and this rank's), or the path is missing on that rank, and
    ``max_abs_diff`` and ``differing`` are None when only fingerprints
    were compared (``values=False``, ``dist_async``).
    """
    path: str
    kind: str                    # 'data' or 'grad'
    device: str                  # the differing copy: 'cpu(1)' or 'rank 1'
    reference: str               # compared against: 'cpu(0)' or 'rank 0'
    max_abs_diff: float | None   # NaN when a NaN faces a number
    differing: int | None        # elements that differ
    elements: int | None         # of the reference copy
    problem: str = "values"      # 'values', 'shape' or 'missing' (workers)
    rank: int | None = None      # the differing worker (kvstore= only)
    shapes: tuple[str, str] | None = None  # (rank 0's, this rank's), 'shape'


class ReplicaReport(Tabular):
    """What :func:`check_replicas` found: falsy when all copies are equal.

    ``rows`` lists every differing copy as a :class:`ReplicaRow`;
    ``compared`` counts the (path, kind) entries compared: those with
    copies on more than one device, or, across workers, rank 0's arrays.

    ``kvstore_type`` is None for the devices of this process, else the
    kvstore's type; the other attributes describe the workers: their
    number ``workers`` (1 in one process) and this one's ``rank``;
    ``complete`` is False with ``dist_async``, where a worker learns only
    its own comparison (the rows are then those of ``rank``); ``only_on``
    maps a rank to the number of its paths that rank 0 lacks;
    ``measured`` says whether differences were measured or only detected;
    ``keys`` are the kvstore keys the call used.
    """

    def __init__(self, rows, compared: int, *, kvstore_type: str | None = None,
                 workers: int = 1, rank: int = 0, complete: bool = True,
                 only_on: dict | None = None, measured: bool = True,
                 keys: Sequence[int] = ()):
        self.rows: tuple[ReplicaRow, ...] = tuple(rows)
        self.compared = compared
        self.kvstore_type = kvstore_type
        self.workers = workers
        self.rank = rank
        self.complete = complete
        self.only_on: dict[int, int] = dict(only_on or {})
        self.measured = measured
        self.keys = tuple(keys)

    def __bool__(self) -> bool:
        return bool(self.rows or self.only_on)

    def table(self) -> Table:
        """The differing copies as a :class:`Table`."""
        if self.kvstore_type is None:
            return self._devices_table()
        return self._workers_table()

    def message(self) -> str:
        """One paragraph naming every difference, and what to do."""
        if self.kvstore_type is None:
            return self._devices_message()
        return self._workers_message()

    # -- the devices of one process ---------------------------------------

    def _devices_table(self) -> Table:
        columns = [Column("Path"), Column("Kind"), Column("Copies"),
                   Column("Max abs diff", right=True),
                   Column("Differing", right=True)]
        cells = [[r.path, r.kind, f"{r.reference} vs {r.device}",
                  fmt_float(r.max_abs_diff),
                  f"{fmt_int(r.differing)} of {fmt_int(r.elements)}"]
                 for r in self.rows]
        note = (f"All copies equal ({self._compared()})" if self.compared
                else "No parameter has copies on more than one device")
        return Table(columns, cells, [("Compared", self._compared())], note=note)

    def _devices_message(self) -> str:
        parts = [f"{r.path!r} ({r.kind}): {r.reference} vs {r.device}, "
                 f"{r.differing:,} of {r.elements:,} elements differ, max abs "
                 f"difference {fmt_float(r.max_abs_diff)}" for r in self.rows]
        s = "" if len(parts) == 1 else "s"
        return (f"copies differ in {len(parts)} array{s}: " + "; ".join(parts)
                + ". Copies drift when an update reaches some devices only "
                "(a parameter left out of the Trainer, a value set on one "
                "copy); set them again from one copy")

    def _compared(self) -> str:
        return (f"{self.compared} array{'s' * (self.compared != 1)} with "
                "copies on several devices")

    # -- the workers of a kvstore -----------------------------------------

    def _scope(self) -> str:
        arrays = f"{self.compared} array{'s' * (self.compared != 1)}"
        if self.workers == 1:
            return f"{arrays}, one worker"
        if not self.complete and self.rank == 0:
            return (f"{arrays} of rank 0, the reference; with "
                    f"{self.kvstore_type} each other worker reports its own "
                    "comparison")
        if not self.complete:
            return (f"{arrays} of rank {self.rank} against rank 0; with "
                    f"{self.kvstore_type} each worker sees only its own")
        return f"{arrays} on {self.workers} workers against rank 0"

    def _workers_table(self) -> Table:
        columns = [Column("Path"), Column("Kind"), Column("Workers"),
                   Column("Max abs diff", right=True),
                   Column("Differing", right=True)]
        cells = []
        for r in self.rows:
            pair = f"{r.reference} vs {r.device}"
            if r.problem == "missing":
                diff, what = "", f"missing on {r.device}"
            elif r.problem == "shape" and r.shapes is not None:
                diff, what = "", f"{r.shapes[0]} vs {r.shapes[1]}"
            elif r.differing is None:
                diff, what = "?", "differs"
            else:
                diff = fmt_float(r.max_abs_diff)
                what = f"{fmt_int(r.differing)} of {fmt_int(r.elements)}"
            cells.append([r.path, r.kind, pair, diff, what])
        footer = [("Compared", self._scope())]
        footer += [(f"Only on rank {rank}",
                    f"{n} path{'s' * (n != 1)} that rank 0 does not have")
                   for rank, n in sorted(self.only_on.items())]
        if self.workers == 1:
            note = f"Only one worker: nothing to compare ({self.compared} arrays)"
        elif self.complete:
            note = f"All workers equal ({self._scope()})"
        elif self.rank == 0:
            note = f"Nothing to compare here ({self._scope()})"
        else:
            note = f"Equal to rank 0 ({self._scope()})"
        return Table(columns, cells, footer, note=note if not self.only_on else "")

    def _workers_message(self) -> str:
        parts = []
        for r in self.rows:
            head = f"{r.path!r} ({r.kind}): {r.reference} vs {r.device}"
            if r.problem == "missing":
                parts.append(f"{head}, missing on {r.device}")
            elif r.problem == "shape" and r.shapes is not None:
                parts.append(f"{head}, {r.shapes[0]} vs {r.shapes[1]}")
            elif r.differing is None:
                parts.append(f"{head}, values differ")
            else:
                parts.append(f"{head}, {r.differing:,} of {r.elements:,} elements "
                             f"differ, max abs difference {fmt_float(r.max_abs_diff)}")
        parts += [f"rank {rank} has {n} path{'s' * (n != 1)} that rank 0 does not"
                  for rank, n in sorted(self.only_on.items())]
        s = "" if len(parts) == 1 else "s"
        return (f"workers differ in {len(parts)} place{s}: " + "; ".join(parts)
                + ". The kvstore does not synchronise BatchNorm running "
                "statistics or parameters left out of the Trainer; "
                "mp.sync_replicas(block, kvstore=kv, select=...) makes them equal")
