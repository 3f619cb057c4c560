"""Cost of check_replicas(kvstore=) and sync_replicas against a training step.

Run in one environment (it starts its own clusters on 127.0.0.1 with the
test launcher, tests/cluster.py):

    .nox/env-2-0-0b1/bin/python benchmarks/bench_workers.py [--quick]

For 2 and 4 workers (one server) and two networks, every worker trains
data-parallel with ``gluon.Trainer(..., "sgd", kvstore=kv)`` on
``dist_sync`` and times, interleaved, as medians over the repetitions:

* a training step (forward, backward, ``trainer.step``, then
  ``mx.nd.waitall()``);
* ``mp.check_replicas(net, kvstore=kv)`` in the state training leaves:
  the weights agree and BatchNorm's running statistics differ, so the
  report measures those (rank 0 sends their values);
* the same with ``values=False`` (fingerprints only);
* ``mp.sync_replicas(net, kvstore=kv, select=".*running_")``;
* for scale, what each worker does on its own in a check: read every
  array to the host and fingerprint it.

Every process runs MXNet's NaiveEngine (see ENGINE below) and one
OpenMP thread (the launcher's setting).

Networks: a small one (Dense 64, BatchNorm, Dense 10: 8 paths, 2,250
elements) on a batch of 16, and resnet18_v1 (11.7M elements, 102 paths)
on a batch of 2 images of 112x112.  Rank 0's figures are printed; every
ratio compares calls measured in the same run.  Results are recorded in
docs/workers.md.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# With MXNet's default threaded engine, a plain Trainer's first step on
# dist_sync (no mxparams call at all) failed on this machine for
# resnet18_v1 in every try, on both versions: the server stops with
# "Check failed: !stored.is_none(): init N first".  With NaiveEngine it
# does not (docs/workers.md).  Every configuration runs with it, so the
# ratios compare like with like.
ENGINE = {"MXNET_ENGINE_TYPE": "NaiveEngine"}


def worker(net_name: str, repeat: int) -> None:
    import mxnet as mx
    from bench_finite import training_setup  # benchmarks/ is sys.path[0]
    from mxnet import npx
    from mxnet.gluon import nn

    import mxparams as mp
    from mxparams import _zoo
    from mxparams.distributed import workers as W

    npx.set_np()
    kv = mx.kv.create("dist_sync")
    mx.random.seed(0)
    if net_name == "small":
        net = nn.HybridSequential()
        net.add(nn.Dense(64, in_units=20), nn.BatchNorm(in_channels=64),
                nn.Dense(10, in_units=64))
        net.initialize()
        shape, outputs = (16, 20), 10
    else:
        net = _zoo.build("resnet18_v1", "np", forward=False)
        net.initialize()
        shape, outputs = (2, 3, 112, 112), 1000
    # Every worker its own data.
    train = training_setup(net, shape, outputs, kvstore=kv, seed=1 + kv.rank)

    def step():
        train()
        mx.nd.waitall()

    arrays = [p.data() for p in mp.collect(net).values()]

    def fingerprints():  # what each worker reads and hashes on its own
        for array in arrays:
            W._fingerprint(array.asnumpy())

    calls = {
        "step": step,
        "local fingerprints": fingerprints,
        "check": lambda: mp.check_replicas(net, kvstore=kv),
        "check, values=False": lambda: mp.check_replicas(net, kvstore=kv, values=False),
        "sync running stats": lambda: mp.sync_replicas(net, kvstore=kv,
                                                       select=".*running_"),
    }
    step()
    step()  # warm-up; the running statistics now differ between workers
    times = {name: [] for name in calls}
    for _ in range(repeat):
        for name, call in calls.items():
            started = time.perf_counter()
            result = call()
            times[name].append(time.perf_counter() - started)
            if name == "sync running stats":
                step()  # they differ again for the next check
    report = mp.check_replicas(net, kvstore=kv)
    paths = len(mp.collect(net))
    elements = sum(p.data().size for p in mp.collect(net).values())
    out = {"rank": kv.rank, "workers": kv.num_workers, "paths": paths,
           "elements": elements, "differing": len({r.path for r in report.rows}),
           "sync_method": result.method,
           "median": {k: statistics.median(v) for k, v in times.items()}}
    print(json.dumps(out), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--_worker", nargs=2, help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts._worker:
        worker(opts._worker[0], int(opts._worker[1]))
        return 0
    sys.path.insert(0, str(ROOT / "tests"))
    import mxnet as mx

    from cluster import run_cluster

    repeat = 3 if opts.quick else 15
    print(f"MXNet {mx.__version__}; medians of {repeat} interleaved repetitions, "
          "rank 0's figures in ms (ratio to the training step); "
          "MXNET_ENGINE_TYPE=NaiveEngine")
    print(f"{'network':10} {'workers':>7} {'step':>7} {'check':>13} "
          f"{'values=False':>13} {'sync':>13} {'fingerprints':>13}")

    def cell(ms: float, step: float) -> str:
        return f"{ms:7.1f} ({ms / step:.2f})"

    for net_name in ("small", "resnet18"):
        for workers in (2, 4):
            results = run_cluster(Path(__file__), "--_worker", net_name, str(repeat),
                                  workers=workers, time_limit=900, env=ENGINE)
            zero = next(r for r in (w.result() for w in results) if r["rank"] == 0)
            m = {k: v * 1000 for k, v in zero["median"].items()}
            s = m["step"]
            print(f"{net_name:10} {workers:7} {s:7.1f} {cell(m['check'], s)} "
                  f"{cell(m['check, values=False'], s)} "
                  f"{cell(m['sync running stats'], s)} "
                  f"{cell(m['local fingerprints'], s)}"
                  f"   ({zero['paths']} paths, {zero['elements']:,} elements; "
                  f"{zero['differing']} paths differ; sync: {zero['sync_method']})",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
