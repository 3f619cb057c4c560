"""Saving and loading a large checkpoint: mp.save/mp.load against Gluon's own.

Run with ``python3 tasks.py bench`` (both MXNet versions) or in one
environment: ``.nox/env-2-0-0b1/bin/python benchmarks/bench_checkpoint.py``.

vgg16 (138M parameters, a 553 MB file) is built, initialized with zeros
and run once; its parameters are then set to fixed non-zero values and
saved with ``mp.save`` (the portable format, which Gluon's
``load_parameters`` reads on both versions) and as safetensors
(``mp.save`` to a ``.safetensors`` name).  Loads go into two networks:

* fresh: the parameters were just set (as after ``initialize``), every
  array in its plain layout;
* used: one more forward pass after that, as in a network that trained or
  evaluated: oneDNN then keeps the convolution weights in blocked layouts
  of its own, which a copy from a host buffer cannot write into.

Each call is timed in a fresh process (one process per call, the network
built first, the files already in the page cache after a warm-up read),
all the calls interleaved round by round; the figures are medians and
ratios within one run.  The peak memory of a call is the growth of the
process's resident set during it (VmHWM after resetting it to the current
size through /proc/self/clear_refs), file-backed and shared pages
included.  Results are recorded in docs/checkpoints.md ("Time and
memory").
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# Shared with the tests (the library has no such helper).
TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

CHILD = r"""
import json, sys, time
import mxnet as mx
import mxparams as mp
from mxparams import _zoo

call, state, path, tests = sys.argv[1:5]
sys.path.append(tests)  # after the checkout measured (PYTHONPATH)
from helpers import quiet_storage_log
quiet_storage_log()
net = _zoo.build("vgg16", "np")
for p in net.collect_params().values():
    p.data()[:] = 0.5
if state == "used":
    net(mx.np.ones(_zoo.input_shape("vgg16"))).wait_to_read()
mx.nd.waitall()

def rss(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024

with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the peak (VmHWM) starts again from the current size
before = rss("VmRSS:")
start, cpu = time.perf_counter(), time.process_time()
if call == "gluon_load":
    net.load_parameters(path)
elif call == "mp_load":
    mp.load(net, path)
elif call == "st_load":
    mp.load(net, path + ".safetensors")
elif call == "gluon_save":
    net.save_parameters(path + ".gluon")
elif call == "mp_save":
    mp.save(net, path + ".mp")
else:
    mp.save(net, path + ".out.safetensors")
mx.nd.waitall()
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
print(json.dumps({"seconds": seconds, "cpu": cpu,
                  "peak_growth": rss("VmHWM:") - before}))
"""

LOADS = ("gluon_load", "mp_load", "st_load")
SAVES = ("gluon_save", "mp_save", "st_save")


def run(call: str, state: str, path: str, other: str | None = None) -> dict:
    """One call in a fresh process; with ``other``, the mxparams of that
    checkout instead of this one."""
    env = dict(os.environ)
    if other:
        env["PYTHONPATH"] = other
    done = subprocess.run([sys.executable, "-c", CHILD, call, state, path, str(TESTS)],
                          capture_output=True, text=True, check=True, env=env,
                          cwd=other or None)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--compare-with", metavar="CHECKOUT", default=None,
                        help="also time mp.load with the mxparams of this "
                             "checkout (e.g. a git worktree of the previous "
                             "commit), in the same run")
    args = parser.parse_args()
    import mxnet as mx

    import mxparams as mp
    from mxparams import _zoo

    from helpers import quiet_storage_log
    quiet_storage_log()
    print(f"MXNet {mx.__version__}, numpy mode")

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "vgg16.params")
        net = _zoo.build("vgg16", "np")
        for p in net.collect_params().values():
            p.data()[:] = 0.5
        mp.save(net, path)
        mp.save(net, path + ".safetensors")
        del net
        size = os.path.getsize(path)
        st_size = os.path.getsize(path + ".safetensors")
        for name in (path, path + ".safetensors"):  # into the page cache
            with open(name, "rb") as f:
                while f.read(64 << 20):
                    pass
        calls = ([(c, s) for s in ("fresh", "used") for c in LOADS]
                 + [(c, "fresh") for c in SAVES])
        if args.compare_with:
            # Into fresh networks only: before issue 22, mp.load failed on
            # used ones (oneDNN's layouts).
            calls += [(c + "@other", "fresh") for c in LOADS[1:]]
        results = {call: [] for call in calls}
        for _ in range(args.repeat):
            for call, state in calls:
                name, _, other = call.partition("@")
                results[(call, state)].append(
                    run(name, state, path, args.compare_with if other else None))
    print(f"vgg16 checkpoint: {size:,} bytes (safetensors: {st_size:,}); "
          f"{args.repeat} processes per call, medians")
    med = {call: (statistics.median(r["seconds"] for r in rs),
                  statistics.median(r["cpu"] for r in rs),
                  statistics.median(r["peak_growth"] for r in rs))
           for call, rs in results.items()}
    for (call, state), (secs, cpu, peak) in med.items():
        print(f"  {call:17} {state:5} {secs:7.3f} s ({cpu:6.3f} s CPU)   peak "
              f"RSS growth {peak / size:5.2f}x the file ({peak / 2**20:,.0f} MiB)")
    # Ratios of wall-clock time and of CPU time (every thread of the
    # process, MXNet's engine included): the second moves less when other
    # jobs share the machine.
    def ratio(a, b) -> str:
        return (f"{med[a][0] / med[b][0]:.2f}x ({med[a][1] / med[b][1]:.2f}x "
                "CPU)")
    for state in ("fresh", "used"):
        gluon = ("gluon_load", state)
        print(f"  into a {state} network: mp.load / load_parameters = "
              f"{ratio(('mp_load', state), gluon)} MXNet format, "
              f"{ratio(('st_load', state), gluon)} safetensors")
    if args.compare_with:
        print(f"  the same with the mxparams of {args.compare_with}:")
        gluon = ("gluon_load", "fresh")
        print(f"    into a fresh network: "
              f"{ratio(('mp_load@other', 'fresh'), gluon)} MXNet format, "
              f"{ratio(('st_load@other', 'fresh'), gluon)} safetensors")
    gluon = ("gluon_save", "fresh")
    print(f"  mp.save / save_parameters = {ratio(('mp_save', 'fresh'), gluon)}"
          f" MXNet format, {ratio(('st_save', 'fresh'), gluon)} safetensors")
    ranges = {call: (min(r["seconds"] for r in rs), max(r["seconds"] for r in rs))
              for call, rs in results.items()}
    print("  ranges (s): " + ", ".join(f"{c} {s} {a:.3f}-{b:.3f}"
                                       for (c, s), (a, b) in ranges.items()))


if __name__ == "__main__":
    main()
