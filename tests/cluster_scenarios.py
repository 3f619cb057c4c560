"""Worker programs for tests/test_workers.py: ``python cluster_scenarios.py NAME``.

Run by every worker of a cluster that tests/cluster.py starts; each prints
one JSON object (its rank and what it saw) as its last line of stdout.  A
worker that fails exits at once with status 1 (see ``main``).
"""
import json
import os
import sys
import traceback

import mxnet as mx
from mxnet import autograd, gluon, np, npx
from mxnet.gluon import nn

import mxparams as mp


def small_net(units=4):
    """Dense, BatchNorm, Dense: the kvstore syncs none of BatchNorm's
    running statistics."""
    net = nn.HybridSequential()
    net.add(nn.Dense(8, in_units=5), nn.BatchNorm(in_channels=8),
            nn.Dense(units, in_units=8))
    mx.random.seed(7)  # the same initial values on every worker
    net.initialize()
    return net


def step(net, trainer, rank, seed):
    mx.random.seed(100 * seed + rank)  # every worker sees other data
    x = np.random.uniform(size=(6, 5))
    y = np.random.uniform(size=(6, 4))
    with autograd.record():
        loss = ((net(x) - y) ** 2).mean()
    loss.backward()
    trainer.step(6)


def identical(kv):
    net = small_net()
    clean = mp.check_replicas(net, kvstore=kv)
    grads = mp.check_replicas(net, kvstore=kv, grads=True, values=False)
    before = net[0].weight.data().asnumpy().copy()
    synced = mp.sync_replicas(net, kvstore=kv)  # no Trainer: the mean
    same = bool((net[0].weight.data().asnumpy() == before).all())
    return {"clean": str(clean), "falsy": not clean, "grads": str(grads),
            "sync": str(synced), "method": synced.method, "unchanged": same,
            "keys": [list(clean.keys), list(grads.keys), list(synced.keys)]}


def changed(kv):
    """Rank 1 differs in values, in a shape and in a path; an Adam Trainer
    already runs the servers' optimizer on every push."""
    net = small_net()
    trainer = gluon.Trainer(net.collect_params(), "adam",
                            {"learning_rate": 0.01}, kvstore=kv)
    step(net, trainer, kv.rank, 0)
    if kv.rank == 1:
        net[2].bias.data()[1:3] = 0.25
    found = mp.check_replicas(net, kvstore=kv, select=r"2\.")
    fingerprints = mp.check_replicas(net, kvstore=kv, select=r"2\.", values=False)
    try:
        mp.check_replicas(net, kvstore=kv, select=r"2\.", raise_error=True)
        raised = ""
    except mp.ReplicaMismatch as err:
        raised = str(err)
    # Rank 1's last layer has 3 outputs (rank 0's: 4), and a layer more.
    other = small_net(units=4 if kv.rank == 0 else 3)
    if kv.rank == 1:
        other.add(nn.Dense(2, in_units=3))
        other[3].initialize()
    shapes = mp.check_replicas(other, kvstore=kv)
    # Rank 0 has a layer that rank 1 lacks.
    other = small_net()
    if kv.rank == 0:
        other.add(nn.Dense(2, in_units=4))
        other[3].initialize()
    missing = mp.check_replicas(other, kvstore=kv)
    try:
        mp.sync_replicas(other, kvstore=kv)
        refused = ""
    except mp.ShapeMismatch as err:
        refused = str(err)
    # The servers' optimizer replaced by one that moves nothing: the flags
    # are lost, and every rank refuses alike, changing nothing.
    kv.set_optimizer(mx.optimizer.SGD(learning_rate=0.0))
    lost = []
    before = other[1].running_mean.data().asnumpy().tolist()
    for call in (mp.check_replicas, mp.sync_replicas):
        try:
            call(other, kvstore=kv)
            lost.append("")
        except RuntimeError as err:
            lost.append(str(err))
    kept = other[1].running_mean.data().asnumpy().tolist() == before
    return {"found": str(found), "rows": [[r.path, r.kind, r.device, r.reference, r.problem,
                                       r.max_abs_diff, r.differing, r.elements,
                                       r.rank, type(r).__name__]
                                      for r in found.rows],
            "type": type(found).__name__,
            "lost": lost, "kept": kept,
            "bias": net[2].bias.data().asnumpy().tolist(),
            "fingerprints": str(fingerprints), "raised": raised,
            "shapes": str(shapes), "missing": str(missing), "refused": refused}


def training(kv):
    """Data-parallel training with a Trainer on the same kvstore."""
    net = small_net()
    trainer = gluon.Trainer(net.collect_params(), "sgd",
                            {"learning_rate": 0.1}, kvstore=kv)
    for i in range(3):
        step(net, trainer, kv.rank, i)
    before = mp.check_replicas(net, kvstore=kv)
    synced = mp.sync_replicas(net, kvstore=kv, select=".*running_")
    after = mp.check_replicas(net, kvstore=kv)
    for i in range(3, 5):
        step(net, trainer, kv.rank, i)
    weights = mp.check_replicas(net, kvstore=kv, select=".*(weight|bias|gamma|beta)")
    again = mp.check_replicas(net, kvstore=kv)
    # A load mid-training: the servers keep the weights, so a load into
    # this worker's parameters alone would be undone by the next step.
    import tempfile
    path = os.path.join(tempfile.mkdtemp(), "net.params")
    mp.save(net, path)
    held = {k: p.data().asnumpy().tolist() for k, p in mp.collect(net).items()}
    try:
        mp.load(net, path)
        refused = ""
    except mp.CheckpointError as err:
        refused = err.reason
    partial = mp.load(net, path, strict=False)
    unchanged = held == {k: p.data().asnumpy().tolist()
                         for k, p in mp.collect(net).items()}
    return {"before": str(before),
            "before_paths": [r.path for r in before.rows],
            "sync": str(synced), "method": synced.method, "after": str(after),
            "weights": str(weights), "again": [r.path for r in again.rows],
            "load_refused": refused, "load_partial": partial.loaded,
            "load_unchanged": unchanged}


def asynchronous(kv):
    """dist_async: a Trainer steps Dense 2 while rank 1 changed 0.bias."""
    net = small_net()
    trainer = gluon.Trainer(net[2].collect_params(), "sgd",
                            {"learning_rate": 0.1}, kvstore=kv)
    step(net, trainer, kv.rank, 0)
    if kv.rank == 1:
        net[0].bias.data()[:2] = 0.5
    found = mp.check_replicas(net, kvstore=kv, select=r"0\.")
    synced = mp.sync_replicas(net, kvstore=kv, select=r"0\.")
    after = mp.check_replicas(net, kvstore=kv, select=r"0\.")
    step(net, trainer, kv.rank, 1)
    return {"found": str(found), "sync": str(synced), "method": synced.method,
            "after": str(after), "bias": net[0].bias.data().asnumpy()[:3].tolist()}


def failing(kv):
    """Rank 1 fails; rank 0 is left waiting in the kvstore's barrier."""
    if kv.rank == 1:
        raise SystemExit(3)
    mp.check_replicas(small_net(), kvstore=kv)
    return {}


def hanging(kv):
    """Never returns: the launcher's time limit ends it."""
    import time
    while True:
        time.sleep(1)


SCENARIOS = {"identical": identical, "changed": changed, "training": training,
             "asynchronous": asynchronous, "failing": failing,
             "hanging": hanging}


def main():
    name = sys.argv[1]
    npx.set_np()
    kv = mx.kv.create("dist_async" if name == "asynchronous" else "dist_sync")
    try:
        result = SCENARIOS[name](kv)
    except BaseException:
        # A worker that exits normally waits for every other worker in
        # MXNet's kvstore finalization, so a failure would hang the
        # cluster: leave at once instead and let the launcher stop it.
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    result["rank"] = kv.rank
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
