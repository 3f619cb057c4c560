"""The kvstore protocol of ``check_replicas(..., kvstore=kv)`` and
``sync_replicas``: fresh keys, two channels, bytes as float32 values.

Two channels, both measured on MXNet 1.9.1 and 2.0.0b1 (docs/workers.md):

* **broadcast**: ``init`` of a fresh key stores rank 0's value as it is
  (the other ranks' values are ignored) and is a barrier of all workers,
  in ``dist_sync`` and ``dist_async``; every rank then pulls it.  The
  servers' optimizer is not involved, so this is exact.
* **flags**: every rank pushes a zero vector with ones in its own slots
  to a fresh key initialised to zero and pulls the result.  Without an
  optimizer on the servers it is the exact sum; with one (a Trainer with
  ``update_on_kvstore``) it is one optimizer step from a zero weight,
  which is nonzero exactly where some rank pushed a one for most
  optimizers (measured: SGD, NAG, Adam, RMSProp, AdaGrad, AdaDelta,
  Signum, LAMB, Nadam, FTML, DCASGD, LARS, FTRL).  Only which slots are
  nonzero is read, so it carries bits, exactly, through either.  Each
  push carries a one per rank and a zero that must come back so; when
  they do not (a learning rate of 0, SGLD, Adamax on 1.9.1), every rank
  raises the same ``RuntimeError``.  ``dist_sync`` only: in
  ``dist_async`` a push reaches a server that has no optimizer yet as a
  fatal error of the server.
"""
from __future__ import annotations

import weakref

import mxnet as mx
import numpy

from .._table import fmt_float

# --- keys ------------------------------------------------------------------

#: The int keys mxparams uses: KEY_FIRST, KEY_FIRST + 1, ... up to KEY_END.
#: A Trainer uses 0 .. n-1 for its n parameters (on both versions); keys
#: are ints because a kvstore refuses mixed key types.  ps-lite places a
#: small array's key on server ``(key * 9973) % num_servers`` computed in a
#: C int, so a key must stay below 2**31 / 9973 (215,326) with several
#: servers.
KEY_FIRST = 120_000
KEY_END = 215_000
#: Fresh keys per call; each stays on the servers afterwards.
CHECK_KEYS = 5
SYNC_KEYS = 3
_FORMAT = 1  # bumped when the layout of the exchange changes

_next_key: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _take_keys(kv, count: int, func: str) -> list[int]:
    first = _next_key.get(kv, KEY_FIRST)
    if first + count > KEY_END:
        raise RuntimeError(
            f"mp.{func}: this kvstore has no fresh keys left: mxparams uses "
            f"{CHECK_KEYS} keys per check_replicas and {SYNC_KEYS} per "
            f"sync_replicas call, between {KEY_FIRST:,} and {KEY_END:,} "
            f"(about {(KEY_END - KEY_FIRST) // CHECK_KEYS:,} checks per "
            "kvstore); call it less often, e.g. every few hundred steps")
    _next_key[kv] = first + count
    return list(range(first, first + count))


def check_kvstore(kvstore: object, func: str):
    """``kvstore`` is an MXNet KVStore object of a kind this module serves."""
    if isinstance(kvstore, str):
        raise TypeError(
            f"mp.{func}: kvstore must be the KVStore object the workers "
            f"train through, not the string {kvstore!r}: create it with "
            f"kv = mx.kv.create({kvstore!r}), pass kvstore=kv to "
            "gluon.Trainer and to this call")
    if not isinstance(kvstore, mx.kv.KVStore):
        raise TypeError(
            f"mp.{func}: kvstore must be an MXNet KVStore (mx.kv.create("
            f"'dist_sync')), got {type(kvstore).__name__}")
    kind = kvstore.type
    if not (kind.startswith("dist") or kind in ("local", "device")):
        raise ValueError(
            f"mp.{func}: kvstore type {kind!r} is not supported; use a "
            "parameter-server kvstore ('dist_sync', 'dist_async', "
            "'dist_device_sync') or, in one process, 'local' or 'device'")
    return kvstore


def _is_sync(kv) -> bool:
    return "async" not in kv.type


# --- encoding ----------------------------------------------------------------

def _to_pieces(raw: bytes) -> numpy.ndarray:
    """Bytes as float32 values of 16-bit pieces (exact in float32)."""
    if len(raw) % 2:
        raw += b"\0"
    return numpy.frombuffer(raw, dtype="<u2").astype(numpy.float32)


def _from_pieces(values: numpy.ndarray, size: int) -> bytes:
    return values.astype("<u2").tobytes()[:size]


def _to_bits(raw: bytes) -> numpy.ndarray:
    return numpy.unpackbits(numpy.frombuffer(raw, dtype=numpy.uint8))


def _from_bits(bits: numpy.ndarray) -> bytes:
    return numpy.packbits(bits.astype(numpy.uint8)).tobytes()


def _u(raw: bytes) -> int:
    return int.from_bytes(raw, "little")


def _nd(values: numpy.ndarray):
    """A legacy float32 NDArray (what every kvstore takes, in every mode)."""
    values = numpy.asarray(values, dtype=numpy.float32)
    return mx.nd.array(values if values.size else numpy.zeros(1, numpy.float32),
                       dtype="float32")


class _Exchange:
    """The two channels on a list of fresh keys, used in order."""

    def __init__(self, kv, keys: list[int], func: str):
        self.kv, self._keys, self.func = kv, iter(keys), func
        self.rank, self.workers = kv.rank, kv.num_workers

    def broadcast(self, values: numpy.ndarray | None, size: int) -> numpy.ndarray:
        """Rank 0's ``values`` (float32, ``size`` of them) on every rank."""
        key = next(self._keys)
        mine = numpy.zeros(size, numpy.float32)
        if self.rank == 0 and size:
            mine[:] = values
        self.kv.init(key, _nd(mine))
        out = _nd(numpy.zeros(size, numpy.float32))
        self.kv.pull(key, out=out)
        return out.asnumpy()[:size]

    def push_pull(self, vector: numpy.ndarray) -> numpy.ndarray:
        """Push ``vector`` to a fresh zero key on every rank; what comes back.

        The servers' sum of the pushes when they run no optimizer, else one
        optimizer step from a zero weight (dist_sync only).
        """
        key = next(self._keys)
        vector = numpy.asarray(vector, numpy.float32)
        self.kv.init(key, _nd(numpy.zeros_like(vector)))
        self.kv.push(key, _nd(vector))
        out = _nd(numpy.zeros_like(vector))
        self.kv.pull(key, out=out)
        return out.asnumpy()[:vector.size]

    def flags(self, vector: numpy.ndarray) -> tuple[numpy.ndarray, bool]:
        """``push_pull`` of ``vector`` (each rank writes its own slots),
        checked: what came back for ``vector``, and whether the servers
        summed.

        ``workers + 1`` slots are appended: rank r pushes a one in slot r,
        nobody in the last.  Every worker pulls the same values, so every
        worker sees alike whether each one came back nonzero and the zero
        stayed zero, as the flags need, and all raise a ``RuntimeError``
        together if not.
        """
        n, w = vector.size, self.workers
        full = numpy.zeros(n + w + 1, numpy.float32)
        full[:n] = vector
        full[n + self.rank] = 1
        got = self.push_pull(full)
        ones, zero = got[n:n + w], got[n + w]
        if not (numpy.isfinite(ones).all() and (ones != 0).all() and zero == 0):
            raise RuntimeError(
                f"mp.{self.func}: the kvstore's servers run an optimizer that "
                f"does not carry flags: a pushed 1 came back as "
                f"{fmt_float(float(ones[0]))}, a 0 as {fmt_float(float(zero))} "
                "(a learning rate of 0, SGLD's noise, Adamax's 0/0, FTRL's "
                "threshold do that). Call it before the Trainer's first step, "
                "train with gluon.Trainer(..., update_on_kvstore=False), or "
                "use an optimizer listed in docs/workers.md (SGD, Adam, ...)")
        return got[:n], bool((ones == 1).all())

    def bits(self, vector: numpy.ndarray) -> numpy.ndarray:
        """The slots some rank set to 1, through sum or optimizer alike."""
        return self.flags(vector)[0] != 0

    def skip(self) -> None:
        """Leave a key unused (every rank skips it alike)."""
        next(self._keys)
