"""Parameters across the workers of a distributed kvstore.

``check_replicas(net, kvstore=kv)`` and ``sync_replicas(net, kvstore=kv)``
exchange what they need through MXNet's own kvstore, the object a
``gluon.Trainer`` trains through: its ``init``, ``push`` and ``pull`` on a
few fresh int keys per call, and nothing else (no other connection, no
copy of the parameters gathered in one place).

The protocol (the fresh keys, the two channels and the encoding of
bytes as float32 values) is in ``_kvstore``; this module decides what
to exchange and builds the reports.
"""
from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections.abc import Sequence
from typing import Any, NamedTuple

import mxnet as mx
import numpy
from mxnet import gluon

from .. import _arrays, _compat
from .._table import Column, Table, Tabular, fmt_int, fmt_shape
from ..errors import ReplicaMismatch, ShapeMismatch
from ..params import Select
from ..params import elements as _count
from ._kvstore import (
    CHECK_KEYS,
    SYNC_KEYS,
    _Exchange,
    _from_bits,
    _from_pieces,
    _is_sync,
    _take_keys,
    _to_bits,
    _to_pieces,
    _u,
    check_kvstore,
)
from ._report import ReplicaReport, ReplicaRow

# --- what a worker knows of its own parameters -----------------------------

class _Local(NamedTuple):
    path: str
    kind: str
    dtype: str
    shape: list | None     # None: not initialized (no data)
    array: Any             # the first copy (an MXNet array: no stubs) or None


def _local_entries(block, select, grads, func) -> list[_Local]:
    found = []
    for e in _arrays.entries(block, select, grads, func):
        arrays = _arrays.copies(e.param, e.kind)
        if arrays:
            found.append(_Local(e.path, e.kind, _compat.dtype_name(e.param),
                                list(arrays[0].shape), arrays[0]))
        else:
            found.append(_Local(e.path, e.kind, _compat.dtype_name(e.param),
                                None, None))
    return found


@_arrays.ieee
def _fingerprint(values: numpy.ndarray) -> bytes:
    """8 bytes that change with any element: CRC-32 and Adler-32 of the
    bytes, with -0.0 read as 0.0 and every NaN as one NaN (they compare
    equal in the report)."""
    values = numpy.ascontiguousarray(values)
    if values.dtype.kind == "f":
        values = values + values.dtype.type(0)  # -0.0 + 0.0 is +0.0
        nan = numpy.isnan(values)
        if nan.any():
            values[nan] = numpy.nan
    raw = values.data.cast("B")
    return (zlib.crc32(raw).to_bytes(4, "little")
            + zlib.adler32(raw).to_bytes(4, "little"))


def _structure(entries: list[_Local]) -> bytes:
    return json.dumps([[e.path, e.kind, e.dtype, e.shape] for e in entries],
                      separators=(",", ":")).encode()


def _shape_text(dtype: str, shape: list | None) -> str:
    return ("not initialized" if shape is None
            else f"{fmt_shape(tuple(shape))} {dtype}")


# --- check ---------------------------------------------------------------------

_CODES = {0: None, 1: "values", 2: "shape", 3: "missing"}
_NUMBERS = 16      # bytes per measured difference: max abs diff (f8), count (u8)
_SHAPE_BYTES = 40  # bytes per differing shape, as text


def _elements(shape: list | None) -> int | None:
    return None if shape is None else math.prod(shape)


def check_workers(block: gluon.Block, kvstore: mx.kv.KVStore, select: Select,
                  grads: bool, raise_error: bool, values: bool) -> ReplicaReport:
    """``check_replicas(block, kvstore=...)``; see there."""
    kv = check_kvstore(kvstore, "check_replicas")
    mine = _local_entries(block, select, grads, "check_replicas")
    workers, rank = kv.num_workers, kv.rank
    if workers == 1:
        return ReplicaReport((), len(mine), kvstore_type=kv.type, workers=1,
                             rank=rank, measured=values)
    keys = _take_keys(kv, CHECK_KEYS, "check_replicas")
    ex = _Exchange(kv, keys, "check_replicas")
    sync = _is_sync(kv)
    prints: dict[int, bytes] = {}

    def fingerprint(e: _Local) -> bytes:
        if e.array is None:
            return bytes(8)
        if id(e.array) not in prints:  # tied paths share their arrays
            prints[id(e.array)] = _fingerprint(e.array.asnumpy())
        return prints[id(e.array)]

    # 1 (broadcast): the sizes of rank 0's table.
    blob = _structure(mine)
    head = _from_pieces(ex.broadcast(_to_pieces(len(blob).to_bytes(6, "little")
                                                + len(mine).to_bytes(6, "little")), 6),
                        12)
    blob_size, n0 = _u(head[:6]), _u(head[6:])
    # 2 (broadcast): rank 0's fingerprints and structure (paths, kinds,
    # dtypes, shapes).
    payload = None
    if rank == 0:
        payload = numpy.concatenate([
            _to_pieces(b"".join(fingerprint(e) for e in mine)), _to_pieces(blob)])
    table = ex.broadcast(payload, 4 * n0 + (blob_size + 1) // 2)
    ref_prints = _from_pieces(table[:4 * n0], 8 * n0)
    ref = json.loads(_from_pieces(table[4 * n0:], blob_size))
    # This rank against rank 0: 0 equal, 1 values, 2 shape/dtype, 3 missing.
    by_name = {(e.path, e.kind): e for e in mine}
    codes = numpy.zeros(n0, numpy.int64)
    if rank != 0:
        for i, (path, kind, dtype, shape) in enumerate(ref):
            e = by_name.get((path, kind))
            if e is None:
                codes[i] = 3
            elif e.dtype != dtype or e.shape != shape:
                codes[i] = 2
            elif e.shape is not None and fingerprint(e) != ref_prints[8 * i:8 * i + 8]:
                codes[i] = 1
    known = {(p, k) for p, k, _, _ in ref}
    extra = min(sum((e.path, e.kind) not in known for e in mine), 0xFFFF)
    # 3 (flags): every rank's codes and extra-path count, dist_sync only.
    all_codes = numpy.zeros((workers, n0), numpy.int64)
    only_on = {}
    if sync:
        width = 2 * n0 + 16
        vector = numpy.zeros(workers * width, numpy.float32)
        mine_bits = numpy.concatenate([
            numpy.stack([codes >> 1, codes & 1], axis=1).ravel(),
            (extra >> numpy.arange(16)) & 1])
        vector[rank * width:(rank + 1) * width] = mine_bits
        got = ex.bits(vector).reshape(workers, width).astype(numpy.int64)
        all_codes = 2 * got[:, 0:2 * n0:2] + got[:, 1:2 * n0:2]
        for w in range(1, workers):
            n = int((got[w, 2 * n0:] << numpy.arange(16)).sum())
            if n:
                only_on[w] = n
    else:
        ex.skip()
        all_codes[rank] = codes
        if extra:
            only_on[rank] = extra
    # 4 (broadcast): rank 0's values of the arrays whose values differ
    # somewhere, for the size of the difference (dist_sync, values=True).
    measured = sync and values
    numbers: dict[int, tuple[float, int]] = {}
    differ = [i for i in range(n0) if (all_codes[:, i] == 1).any()]
    if measured and differ:
        # Values differ only where the shapes agree and are known.
        sizes = [math.prod(ref[i][3]) * numpy.dtype(ref[i][2]).itemsize
                 for i in differ]
        payload = None
        if rank == 0:
            payload = _to_pieces(b"".join(
                by_name[tuple(ref[i][:2])].array.asnumpy().tobytes()
                for i in differ))
        values_of_0 = _from_pieces(ex.broadcast(payload, (sum(sizes) + 1) // 2), sum(sizes))
        offset = 0
        for i, size in zip(differ, sizes, strict=True):
            if codes[i] == 1:
                theirs = numpy.frombuffer(values_of_0[offset:offset + size], ref[i][2])
                own = by_name[tuple(ref[i][:2])].array.asnumpy().ravel()
                numbers[i] = _arrays.difference(theirs, own)
            offset += size
    else:
        ex.skip()
    # 5 (flags): the measured differences and the differing shapes of
    # every rank, as bits, dist_sync only.
    slots = []  # (rank, index, what, bytes)
    for i in range(n0):
        for w in range(workers):
            if all_codes[w, i] == 1 and measured:
                slots.append((w, i, "numbers", _NUMBERS))
            elif all_codes[w, i] == 2 and sync:
                slots.append((w, i, "shape", _SHAPE_BYTES))
    details: dict[tuple[int, int], bytes] = {}
    if slots:
        vector = numpy.zeros(8 * sum(s[3] for s in slots), numpy.float32)
        offset = 0
        for w, i, what, size in slots:
            if w == rank:
                if what == "numbers":
                    diff, count = numbers[i]
                    raw = (numpy.float64(diff).tobytes()
                           + numpy.uint64(count).tobytes())
                else:
                    e = by_name[tuple(ref[i][:2])]
                    raw = _shape_text(e.dtype, e.shape).encode()[:size].ljust(size, b"\0")
                vector[offset:offset + 8 * size] = _to_bits(raw)
            offset += 8 * size
        got = ex.bits(vector)
        offset = 0
        for w, i, _what, size in slots:
            details[w, i] = _from_bits(got[offset:offset + 8 * size])
            offset += 8 * size
    else:
        ex.skip()
    # The report: the same on every rank with dist_sync.
    rows = []
    ranks = range(1, workers) if sync else ([rank] if rank else [])
    for i, (path, kind, dtype, shape) in enumerate(ref):
        for w in ranks:
            problem = _CODES[int(all_codes[w, i])]
            if problem is None:
                continue
            max_diff: float | None = None
            differing: int | None = None
            shapes: tuple[str, str] | None = None
            if problem == "values" and measured:
                raw = details[w, i]
                max_diff = float(numpy.frombuffer(raw[:8], numpy.float64)[0])
                differing = int(numpy.frombuffer(raw[8:], numpy.uint64)[0])
            elif problem == "shape":
                if sync:
                    their_shape = details[w, i].rstrip(b"\0").decode(errors="replace")
                else:
                    e = by_name[(path, kind)]
                    their_shape = _shape_text(e.dtype, e.shape)
                shapes = (_shape_text(dtype, shape), their_shape)
            rows.append(ReplicaRow(path, kind, f"rank {w}", "rank 0", max_diff,
                                   differing, _elements(shape), problem, w, shapes))
    report = ReplicaReport(rows, n0, kvstore_type=kv.type, workers=workers,
                           rank=rank, complete=sync, only_on=only_on,
                           measured=measured, keys=keys)
    if report and raise_error:
        raise ReplicaMismatch(report.message(), report)
    return report


# --- sync ----------------------------------------------------------------------

class SyncRow(NamedTuple):
    """A parameter that :func:`sync_replicas` set on every worker."""
    path: str
    shape: tuple | None  # None while unknown
    dtype: str
    tied_to: str    # first path of the same Parameter ('' if this)


class SyncReport(Tabular):
    """What :func:`sync_replicas` did: ``rows`` (:class:`SyncRow`), the
    ``method`` ('mean', 'rank 0', or 'none' with one worker), ``workers``
    and the kvstore ``keys`` it used."""

    def __init__(self, rows, method: str, workers: int, kvstore_type: str,
                 reason: str, keys: Sequence[int] = ()):
        self.rows: tuple[SyncRow, ...] = tuple(rows)
        self.method = method
        self.workers = workers
        self.kvstore_type = kvstore_type
        self.reason = reason
        self.keys = tuple(keys)

    def table(self) -> Table:
        columns = [Column("Path"), Column("Shape"), Column("Dtype"),
                   Column("Tied to")]
        tied = any(r.tied_to for r in self.rows)
        if not tied:
            columns = columns[:3]
        cells = [[r.path, fmt_shape(r.shape), r.dtype] + ([r.tied_to] if tied else [])
                 for r in self.rows]
        count = sum(not r.tied_to for r in self.rows)
        elements = sum(_count(r.shape) or 0 for r in self.rows if not r.tied_to)
        if self.method == "none":
            note = (f"Only one worker: nothing to synchronize ({count} "
                    f"parameter{'s' * (count != 1)})")
            return Table(columns, [], note=note)
        what = {"mean": f"the mean of {self.workers} workers",
                "rank 0": "rank 0's values"}[self.method]
        footer = [("Set", f"{count} parameter{'s' * (count != 1)}, "
                          f"{fmt_int(elements)} elements, on {self.workers} workers"),
                  ("Value", f"{what} ({self.reason})")]
        return Table(columns, cells, footer,
                     note="No parameter selected" if not self.rows else "")


_MEAN_DTYPES = ("float16", "float32")


def _held(local: list, structure: list) -> list[tuple[Any, str, list[int]]]:
    """(first copy, dtype, shape) of each selected parameter, where every
    one holds data (the workers' checks passed: nothing is None)."""
    out = []
    for (_, array), (_, dtype, shape) in zip(local, structure, strict=True):
        assert array is not None and shape is not None
        out.append((array, dtype, shape))
    return out


def sync_replicas(block: gluon.Block, *, kvstore: mx.kv.KVStore,
                  select: Select = None) -> SyncReport:
    """Make the selected parameters equal on every worker of ``kvstore``.

    Every worker calls it at the same point with the same arguments (like
    a ``Trainer.step``).  The value is the **mean** over the workers when
    the kvstore's servers just sum what is pushed to them (no optimizer on
    the servers: no Trainer with ``update_on_kvstore`` trained through this
    kvstore yet, or one with ``update_on_kvstore=False``) and every
    selected parameter is float16 or float32; otherwise, and always with
    ``dist_async``, it is **rank 0's** values, sent unchanged.  The report
    says which.  The arrays are written in place on every device (a
    Trainer on a dist kvstore refuses ``Parameter.set_data``).

    Typical use: ``select=".*running_"`` before evaluating or saving, as
    the kvstore never synchronizes BatchNorm's running statistics.  A
    Trainer with ``update_on_kvstore`` keeps the trainable parameters on
    the servers and its next step replaces the local copies with them, so
    syncing those locally does not last: fix them through the Trainer.

    With one worker (a ``'local'`` kvstore, or one process) there is
    nothing to do:

    >>> import mxnet as mx
    >>> import mxparams as mp
    >>> from mxnet.gluon import nn
    >>> net = nn.HybridSequential()
    >>> net.add(nn.Dense(3, in_units=2), nn.BatchNorm(in_channels=3))
    >>> net.initialize()
    >>> print(mp.sync_replicas(net, kvstore=mx.kv.create("local"),
    ...                        select=".*running_"))
    Only one worker: nothing to synchronize (2 parameters)

    If the selected paths, shapes or dtypes differ between workers, or a
    selected parameter is not initialized on some worker, every worker
    raises :class:`mp.ShapeMismatch` (with ``dist_async``, the workers
    that differ from rank 0) and nothing is changed.  When the servers run
    an optimizer that cannot carry the workers' flags (a learning rate of
    0, SGLD; docs/workers.md), every worker raises ``RuntimeError`` and
    nothing is changed.
    """
    kv = check_kvstore(kvstore, "sync_replicas")
    entries = _arrays.entries(block, select, False, "sync_replicas")
    first = {}  # the first copy of each Parameter, None before initialization
    for e in entries:
        if not e.tied_to:
            arrays = _arrays.copies(e.param, "data")
            first[e.path] = arrays[0] if arrays else None
    local = [(e, first[e.path]) for e in entries if not e.tied_to]
    structure = [[e.path, _compat.dtype_name(e.param),
                  list(a.shape) if a is not None else None] for e, a in local]
    rows = [SyncRow(e.path, e.shape, _compat.dtype_name(e.param), e.tied_to)
            for e in entries]
    workers, rank = kv.num_workers, kv.rank
    if workers == 1:
        return SyncReport(rows, "none", 1, kv.type, "")
    keys = _take_keys(kv, SYNC_KEYS, "sync_replicas")
    ex = _Exchange(kv, keys, "sync_replicas")
    sync = _is_sync(kv)
    blob = json.dumps(structure, separators=(",", ":")).encode()
    ready = all(a is not None for _, a in local)
    total = sum(a.size * numpy.dtype(structure[i][1]).itemsize
                for i, (_, a) in enumerate(local) if a is not None)
    # 1 (broadcast): rank 0's structure digest and byte count.
    digest = hashlib.blake2b(blob, digest_size=8).digest()
    head = _from_pieces(ex.broadcast(
        _to_pieces(digest + total.to_bytes(7, "little") + bytes([ready])), 8), 16)
    same = head[:8] == digest and ready and head[15] == 1
    ref_total = _u(head[8:15])
    # 2 (flags, dist_sync): which ranks differ from rank 0?  Do the
    # servers sum pushes?
    summed = False
    bad = [] if same else [rank]
    if sync:
        vector = numpy.zeros(workers, numpy.float32)
        vector[rank] = 0 if same else 1
        got, summed = ex.flags(vector)
        bad = [w for w in range(workers) if got[w] != 0]
    else:
        ex.skip()
    dtypes_ok = all(d in _MEAN_DTYPES for _, d, _ in structure)
    method = "mean" if summed and dtypes_ok else "rank 0"
    # 3: the values.
    if bad and sync:
        ex.skip()
    elif method == "mean":
        held = _held(local, structure)
        vector = numpy.concatenate([a.asnumpy().astype(numpy.float32).ravel()
                                    for a, _, _ in held] or [numpy.zeros(0, numpy.float32)])
        mean = ex.push_pull(vector) / numpy.float32(workers)
        new, offset = [], 0
        for a, dtype, shape in held:
            new.append(mean[offset:offset + a.size].astype(dtype).reshape(shape))
            offset += a.size
    else:
        payload = None
        if rank == 0:
            payload = _to_pieces(b"".join(a.asnumpy().tobytes()
                                          for a, _, _ in _held(local, structure)))
        raw = _from_pieces(ex.broadcast(payload, (ref_total + 1) // 2), ref_total)
        new, offset = [], 0
        if not bad:
            for a, dtype, shape in _held(local, structure):
                n = a.size * numpy.dtype(dtype).itemsize
                new.append(numpy.frombuffer(raw[offset:offset + n], dtype).reshape(shape))
                offset += n
    if bad:
        where = ", ".join(f"rank {w}" for w in bad)
        raise ShapeMismatch(
            f"mp.sync_replicas: the selected parameters of {where} differ from "
            "rank 0's in paths, shapes or dtypes, or are not initialized "
            "there; nothing was changed on any worker. mp.check_replicas("
            "block, kvstore=kv, select=...) names the differences")
    for (e, _), value in zip(local, new, strict=True):
        _compat.copy_into(e.param, numpy.ascontiguousarray(value))
    if method == "mean":
        reason = "the servers sum pushes: they run no optimizer"
    elif not sync:
        reason = f"{kv.type} does not sum pushes"
    elif not summed:
        reason = "the servers run the Trainer's optimizer on every push"
    else:
        reason = "a selected parameter is neither float16 nor float32"
    return SyncReport(rows, method, workers, kv.type, reason, keys)
