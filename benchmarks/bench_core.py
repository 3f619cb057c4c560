"""Cost of mp.collect / mp.summary / mp.tree against Gluon's own calls.

Run with ``python3 tasks.py bench`` (both MXNet versions) or directly in
one environment: ``.venvs/mxnet-2.0.0b1/bin/python benchmarks/bench_core.py``.
Every figure is a ratio measured within one run (these machines are
noisy); the absolute times are printed only to show the scale.  Results
are recorded in docs/performance.md.
"""
from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import sys
import time

import mxnet as mx
from mxnet.gluon import nn

import mxparams as mp
from mxparams import _compat, _zoo


def best_of(func, repeat: int) -> float:
    """Median seconds of ``repeat`` calls (after one warm-up call)."""
    func()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def synthetic(n_params: int) -> nn.HybridSequential:
    """n_params parameters: Dense(4, in_units=4) layers (weight and bias)
    in groups of 50 under nested HybridSequentials, shapes all known."""
    net = nn.HybridSequential()
    layers = n_params // 2
    for start in range(0, layers, 50):
        group = nn.HybridSequential()
        for _ in range(min(50, layers - start)):
            group.add(nn.Dense(4, in_units=4))
        net.add(group)
    return net


def measure(net, repeat: int) -> dict[str, float]:
    return {
        "collect_params()": best_of(lambda: net.collect_params(), repeat),
        "_collect_params_with_prefix()": best_of(
            lambda: net._collect_params_with_prefix(), repeat),
        "mp.collect": best_of(lambda: mp.collect(net), repeat),
        "mp.collect(select)": best_of(
            lambda: mp.collect(net, select=".*weight"), repeat),
        "mp.summary text": best_of(lambda: str(mp.summary(net)), repeat),
        "mp.summary html": best_of(
            lambda: mp.summary(net)._repr_html_(), repeat),
        "mp.tree text": best_of(lambda: str(mp.tree(net)), repeat),
    }


def report(title: str, n: int, t: dict[str, float]) -> None:
    base = t["_collect_params_with_prefix()"]
    cp = t["collect_params()"]
    print(f"\n{title}: {n:,} parameters")
    print(f"  {'call':32} {'ms':>9} {'/ traversal':>12} {'/ collect_params':>17}")
    for name, secs in t.items():
        print(f"  {name:32} {secs * 1e3:9.3f} {secs / base:11.2f}x "
              f"{secs / cp:16.2f}x")


def import_overhead(repeat: int) -> None:
    def run(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - start

    plain, ours = [], []
    for _ in range(repeat):  # interleaved, so drift hits both alike
        plain.append(run("import mxnet"))
        ours.append(run("import mxnet, mxparams"))
    a, b = statistics.median(plain), statistics.median(ours)
    print(f"\nimport time, median of {repeat} interleaved runs: "
          f"import mxnet {a:.3f} s, import mxnet + mxparams {b:.3f} s "
          f"(+{(b / a - 1) * 100:.1f}%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--quick", action="store_true",
                        help="skip the 100k network and resnet152")
    args = parser.parse_args()
    _compat.quiet_storage_log()
    print(f"MXNet {mx.__version__}, numpy mode")

    if not args.quick:
        net = _zoo.build("resnet152_v1", "np")
        report("resnet152_v1 (after a forward pass)",
               len(mp.collect(net)), measure(net, args.repeat))

    net = synthetic(10_000)
    report("synthetic (200 x 50 Dense)", 10_000, measure(net, args.repeat))

    print("\ngrowth (mp.collect and mp.summary text, microseconds per "
          "parameter; flat means linear)")
    sizes = [1_000, 10_000] + ([] if args.quick else [100_000])
    for n in sizes:
        net = synthetic(n)
        reps = max(3, args.repeat * 1_000 // n)
        collect = best_of(lambda: mp.collect(net), reps)
        summary = best_of(lambda: str(mp.summary(net)), reps)
        traverse = best_of(lambda: net._collect_params_with_prefix(), reps)
        # Diagnostic only: with the cyclic GC paused, what is left is the
        # work per row; the difference is full collections walking every
        # live MXNet object, a cost that grows with the process, not the call.
        gc.disable()
        try:
            quiet = best_of(lambda: str(mp.summary(net)), reps)
        finally:
            gc.enable()
        print(f"  {n:>7,} params: traversal {traverse / n * 1e6:6.2f}  "
              f"collect {collect / n * 1e6:6.2f}  "
              f"summary {summary / n * 1e6:6.2f}  "
              f"(summary with gc paused {quiet / n * 1e6:6.2f})")

    import_overhead(args.repeat)


if __name__ == "__main__":
    main()
