"""Saving and loading a large checkpoint: mp.save/mp.load against Gluon's own.

Run with ``python3 tasks.py bench`` (both MXNet versions) or in one
environment: ``.nox/tests-2-0-0b1/bin/python benchmarks/bench_checkpoint.py``.

vgg16 (138M parameters, a 553 MB file) is built, initialized with zeros
and run once; its parameters are then set to fixed non-zero values and
saved with ``mp.save`` (the portable format, which Gluon's
``load_parameters`` reads on both versions) and as safetensors
(``mp.save`` to a ``.safetensors`` name).  Each call is timed in a
fresh process (one process per call, the network built and run first, the
files already in the page cache after a warm-up read), all the calls
interleaved round by round; the figures are medians and ratios within one
run.  The peak memory of a call is the growth of the process's resident
set during it (VmHWM after resetting it to the current size through
/proc/self/clear_refs), file-backed pages of a memory map included.
Results are recorded in docs/checkpoints.md ("Time and memory").
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, sys, time
import mxnet as mx
import mxparams as mp
from mxparams import _compat, _zoo

call, path = sys.argv[1], sys.argv[2]
_compat.quiet_storage_log()
net = _zoo.build("vgg16", "np")
for p in net.collect_params().values():
    p.data()[:] = 0.5
mx.nd.waitall()

def rss(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024

with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the peak (VmHWM) starts again from the current size
before = rss("VmRSS:")
start = time.perf_counter()
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
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_growth": rss("VmHWM:") - before}))
"""


def run(call: str, path: str) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, call, path],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    import mxnet as mx
    import mxparams as mp
    from mxparams import _compat, _zoo
    _compat.quiet_storage_log()
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
        calls = ["gluon_load", "mp_load", "st_load", "gluon_save", "mp_save",
                 "st_save"]
        results = {call: [] for call in calls}
        for _ in range(args.repeat):
            for call in calls:
                results[call].append(run(call, path))
    print(f"vgg16 checkpoint: {size:,} bytes (safetensors: {st_size:,}); "
          f"{args.repeat} processes per call, medians")
    med = {call: (statistics.median(r["seconds"] for r in rs),
                  statistics.median(r["peak_growth"] for r in rs))
           for call, rs in results.items()}
    for call, (secs, peak) in med.items():
        print(f"  {call:11} {secs:7.3f} s   peak RSS growth {peak / size:5.2f}x "
              f"the file ({peak / 2**20:,.0f} MiB)")
    print(f"  mp.load / load_parameters = {med['mp_load'][0] / med['gluon_load'][0]:.2f}x"
          f";  mp.save / save_parameters = "
          f"{med['mp_save'][0] / med['gluon_save'][0]:.2f}x")
    print(f"  safetensors: mp.load / load_parameters = "
          f"{med['st_load'][0] / med['gluon_load'][0]:.2f}x;  mp.save / "
          f"save_parameters = {med['st_save'][0] / med['gluon_save'][0]:.2f}x")
    ranges = {call: (min(r["seconds"] for r in rs), max(r["seconds"] for r in rs))
              for call, rs in results.items()}
    print("  ranges (s): " + ", ".join(f"{c} {a:.3f}-{b:.3f}"
                                       for c, (a, b) in ranges.items()))


if __name__ == "__main__":
    main()
