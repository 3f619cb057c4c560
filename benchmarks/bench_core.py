"""Cost of mp.collect / mp.summary / mp.tree against Gluon's own calls.

Run with ``python3 tasks.py bench`` (both MXNet versions) or directly in
one environment: ``.nox/env-2-0-0b1/bin/python benchmarks/bench_core.py``.
Every figure is a ratio measured within one run (these machines are
noisy); the absolute times are printed only to show the scale.  Results
are recorded in docs/performance.md.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mxnet as mx
from mxnet.gluon import nn

import mxparams as mp
from mxparams import _zoo

# Shared with the tests (the library has no such helper).
TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))
from helpers import quiet_storage_log  # noqa: E402


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
    # As installed packages are imported: from cached bytecode.  tasks.py
    # runs with PYTHONDONTWRITEBYTECODE, which would make every run compile
    # mxparams (and MXNet) from source; the cache goes to a folder of its
    # own instead of the source tree.
    cache = tempfile.mkdtemp(prefix="mxparams-bench-pycache-")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache

    def run(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
        return time.perf_counter() - start

    run("import mxnet, mxparams")  # writes the bytecode cache
    plain, ours = [], []
    for _ in range(repeat):  # interleaved, so drift hits both alike
        plain.append(run("import mxnet"))
        ours.append(run("import mxnet, mxparams"))
    shutil.rmtree(cache, ignore_errors=True)
    a, b = statistics.median(plain), statistics.median(ours)
    print(f"\nimport time, median of {repeat} interleaved runs: "
          f"import mxnet {a:.3f} s, import mxnet + mxparams {b:.3f} s "
          f"(+{(b / a - 1) * 100:.1f}%)")


def flat(layers: int) -> nn.HybridSequential:
    """One Sequential of ``layers`` Dense(4, in_units=4)."""
    net = nn.HybridSequential()
    for _ in range(layers):
        net.add(nn.Dense(4, in_units=4))
    return net


def deep(width: int, depth: int = 50) -> nn.HybridSequential:
    """``depth`` nested Sequentials, each holding ``width`` Dense layers
    before the next level: the depth stays, the width grows."""
    net = top = nn.HybridSequential()
    for level in range(depth):
        for _ in range(width):
            net.add(nn.Dense(4, in_units=4))
        if level < depth - 1:
            inner = nn.HybridSequential()
            net.add(inner)
            net = inner
    return top


def interleaved(funcs: dict, repeat: int) -> dict[str, float]:
    """Median seconds of each function, calls interleaved round by round
    so that the machine's drift hits all of them alike."""
    for func in funcs.values():
        func()
    times = {name: [] for name in funcs}
    for _ in range(repeat):
        for name, func in funcs.items():
            start = time.perf_counter()
            func()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def growth(title: str, make, small: int, big: int, repeat: int) -> None:
    """Time of each call on the big network over the small one (10x the
    parameters: linear is 10x)."""
    nets = {"small": make(small), "big": make(big)}
    calls = {}
    for size, net in nets.items():
        calls[f"traversal {size}"] = net._collect_params_with_prefix
        calls[f"collect {size}"] = lambda net=net: mp.collect(net)
        calls[f"summary {size}"] = lambda net=net: str(mp.summary(net))
        calls[f"tree {size}"] = lambda net=net: str(mp.tree(net))
    t = interleaved(calls, repeat)
    n_small = len(mp.collect(nets["small"]))
    n_big = len(mp.collect(nets["big"]))
    print(f"\n{title}: {n_small:,} -> {n_big:,} parameters "
          f"(x{n_big / n_small:.0f})")
    for call in ("traversal", "collect", "summary", "tree"):
        a, b = t[f"{call} small"], t[f"{call} big"]
        print(f"  {call:10} {a * 1e3:8.2f} ms -> {b * 1e3:8.2f} ms   x{b / a:5.1f}")


def summary_ratio(net, repeat: int) -> None:
    t = interleaved({"traversal": net._collect_params_with_prefix,
                     "str(mp.summary)": lambda: str(mp.summary(net))}, repeat)
    print(f"\nresnet152_v1, interleaved: str(mp.summary) "
          f"{t['str(mp.summary)'] * 1e3:.3f} ms / traversal "
          f"{t['traversal'] * 1e3:.3f} ms = "
          f"{t['str(mp.summary)'] / t['traversal']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--quick", action="store_true",
                        help="skip the 100k network and resnet152")
    args = parser.parse_args()
    quiet_storage_log()
    print(f"MXNet {mx.__version__}, numpy mode")

    if not args.quick:
        net = _zoo.build("resnet152_v1", "np")
        report("resnet152_v1 (after a forward pass)",
               len(mp.collect(net)), measure(net, args.repeat))
        summary_ratio(net, args.repeat * 4)
        del net

    growth("flat Sequential of Dense layers, 500 -> 5,000 layers", flat,
           500, 5_000, max(5, args.repeat // 2))
    growth("50 nested levels, 10 -> 100 Dense layers per level", deep,
           10, 100, max(5, args.repeat // 2))

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
        print(f"  {n:>7,} params: traversal {traverse / n * 1e6:6.2f}  "
              f"collect {collect / n * 1e6:6.2f}  "
              f"summary {summary / n * 1e6:6.2f}")

    import_overhead(args.repeat)


if __name__ == "__main__":
    main()
