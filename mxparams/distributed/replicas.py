"""Copies of a parameter on several devices that should be equal: ``check_replicas``."""
from __future__ import annotations

import mxnet as mx
from mxnet import gluon

from .. import _arrays, _compat
from ..errors import ReplicaMismatch
from ..params import Select, check_flag
from ._report import ReplicaReport, ReplicaRow
from .workers import check_workers

__all__ = ["ReplicaReport", "ReplicaRow", "check_replicas"]


def check_replicas(block: gluon.Block, *, kvstore: mx.kv.KVStore | None = None,
                   select: Select = None, grads: bool = False,
                   raise_error: bool = False, values: bool = True) -> ReplicaReport:
    """Report every parameter whose copies on different devices differ.

    With ``kvstore=kv`` (the KVStore object the workers of a data-parallel
    job train through) it compares the workers instead: every worker calls
    it at the same point and gets the same :class:`ReplicaReport`, whose
    rows name each path whose values, shape or presence differ from rank
    0's (``device`` is then the worker, ``'rank 1'``), with the largest
    absolute difference.  ``values=False`` exchanges only
    fingerprints (the report then says "differs" without measuring); see
    docs/workers.md for what is exchanged, for ``dist_async``, and for the
    few optimizers on the servers that make it raise ``RuntimeError``.

    Data-parallel training keeps one copy of each parameter per device
    (``initialize(ctx=[mx.cpu(0), mx.cpu(1)])``) and relies on the copies
    staying equal.  Each copy is compared on the host with the copy on the
    parameter's first device; the report lists the copies that differ,
    with the largest absolute difference and how many elements differ, and
    is falsy when all are equal.  It is returned, not raised, by default:
    differing copies are something to look at (gradients differ on
    purpose before the Trainer sums them), unlike NaN, which
    :func:`check_finite` raises; ``raise_error=True`` raises
    :class:`ReplicaMismatch` instead.  ``grads=True`` compares gradients too:
    they differ between devices after ``backward`` (each device saw other
    samples) until the Trainer has summed them.

    >>> import mxnet as mx
    >>> import mxparams as mp
    >>> from mxnet.gluon import nn
    >>> layer = nn.Dense(2, in_units=3)
    >>> layer.initialize(ctx=[mx.cpu(0), mx.cpu(1)])
    >>> print(mp.check_replicas(layer))
    All copies equal (2 arrays with copies on several devices)
    >>> layer.bias.data(mx.cpu(1))[:] = 0.5
    >>> print(mp.check_replicas(layer))
    Path  Kind  Copies            Max abs diff  Differing
    ----  ----  ----------------  ------------  ---------
    bias  data  cpu(0) vs cpu(1)           0.5     2 of 2
    =====================================================
    Compared  2 arrays with copies on several devices

    Across workers, each calls it with the kvstore it trains through; in
    a single process (a ``'local'`` kvstore) there is no other worker:

    >>> print(mp.check_replicas(layer, kvstore=mx.kv.create("local")))
    Only one worker: nothing to compare (2 arrays)
    """
    if not isinstance(values, bool):
        raise TypeError(f"mp.check_replicas: values must be True or False, "
                        f"got {type(values).__name__} {values!r}")
    check_flag(grads, "grads", "check_replicas")
    check_flag(raise_error, "raise_error", "check_replicas")
    if kvstore is not None:
        return check_workers(block, kvstore, select, grads, raise_error, values)
    if not values:
        raise ValueError("mp.check_replicas: values=False only applies with "
                         "kvstore= (copies on the devices of one process are "
                         "always compared value by value)")
    found = _arrays.entries(block, select, grads, "check_replicas")
    done: dict[tuple[str, str], list[tuple]] = {}
    rows: list[ReplicaRow] = []
    compared = 0
    for e in found:
        arrays = _arrays.copies(e.param, e.kind)
        if len(arrays) < 2:
            continue
        compared += 1
        key = e.group
        if key not in done:
            devices = _compat.devices(e.param)
            first = arrays[0].asnumpy()
            done[key] = []
            for device, other in zip(devices[1:], arrays[1:], strict=True):
                diff, count = _arrays.difference(first, other.asnumpy())
                if count:
                    done[key].append((str(device), str(devices[0]), diff,
                                      count, first.size))
        rows.extend(ReplicaRow(e.path, e.kind, *d) for d in done[key])
    report = ReplicaReport(rows, compared)
    if report and raise_error:
        raise ReplicaMismatch(report.message(), report)
    return report
