"""What pausing Python's cyclic garbage collector would buy mxparams' walks.

mxparams leaves the collector as the process set it (a pause is
process-wide, and turning the collector back on undid another thread's
``gc.disable()``).  This measures what the pause it used to take bought:
each call as mxparams runs it (collector on, as in any process) against
the same call with the collector off around it, which is what the pause
did.  Calls are interleaved round by round, and timed in CPU time of the
calling thread (``time.thread_time``: the collector runs in that thread,
and other jobs on a shared machine do not count); medians.  Results are
in docs/performance.md.

    .nox/env-2-0-0b1/bin/python benchmarks/bench_gc.py
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys
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


def flat(layers: int) -> nn.HybridSequential:
    net = nn.HybridSequential()
    for _ in range(layers):
        net.add(nn.Dense(4, in_units=4))
    return net


def collector_off(func):
    def run():
        gc.disable()
        try:
            func()
        finally:
            gc.enable()
    return run


def interleaved(funcs: dict, repeat: int) -> dict:
    for func in funcs.values():
        func()
    times = {name: [] for name in funcs}
    for _ in range(repeat):
        for name, func in funcs.items():
            start = time.thread_time()
            func()
            times[name].append(time.thread_time() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()
    quiet_storage_log()
    print(f"MXNet {mx.__version__}, numpy mode, Python {sys.version.split()[0]}; "
          f"median CPU ms of {args.repeat} interleaved calls")
    nets = {"resnet152_v1 (after a forward pass)": _zoo.build("resnet152_v1"),
            "flat Sequential, 500 Dense": flat(500),
            "flat Sequential, 5,000 Dense": flat(5_000)}
    for title, net in nets.items():
        calls = {"str(mp.summary)": lambda net=net: str(mp.summary(net)),
                 "mp.summary html": lambda net=net: mp.summary(net)._repr_html_(),
                 "str(mp.tree)": lambda net=net: str(mp.tree(net)),
                 "mp.collect": lambda net=net: mp.collect(net)}
        funcs = {}
        for name, func in calls.items():
            funcs[name, "on"] = func
            funcs[name, "off"] = collector_off(func)
        t = interleaved(funcs, args.repeat)
        print(f"\n{title}: {len(mp.collect(net)):,} parameters")
        for name in calls:
            on, off = t[name, "on"], t[name, "off"]
            print(f"  {name:18} collector on {on * 1e3:8.2f}   off "
                  f"{off * 1e3:8.2f}   on/off {on / off:5.2f}x")


if __name__ == "__main__":
    main()
