"""Time of the damaged-file cases of tests/test_checkpoint_fuzz.py.

Run with ``python3 tasks.py bench`` (both MXNet versions) or in one
environment: ``.nox/env-2-0-0b1/bin/python benchmarks/bench_checkpoint_fuzz.py``.

The test checks what a damaged file does (only CheckpointError, the network
unchanged); this script measures how long the same seeded cases take, per
base file: ``mp.inspect_checkpoint`` and ``mp.load`` of each mutated file,
the way the test runs them.  It prints figures and asserts nothing: the
time depends on the machine.  Until 0.2.0 the test asserted that 1,000
cases of a base file take less than 30 s; on the 2-core development
machine they took a few seconds.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import mxparams as mp  # noqa: E402

from ckpt_common import compat_net, fill  # noqa: E402
from test_checkpoint_fuzz import BASES, CASES, FIXTURES, mutate  # noqa: E402


def run(base: str, cases: int, target: Path) -> dict:
    rng = random.Random(f"mxparams-{base}")  # the test's cases
    original = (FIXTURES / base).read_bytes()
    net = fill(compat_net(), seed=9)
    outcomes = {"loaded": 0, "refused": 0}
    started = time.perf_counter()
    for _ in range(cases):
        target.write_bytes(mutate(original, rng))
        try:
            mp.inspect_checkpoint(target)
        except mp.CheckpointError:
            pass
        try:
            mp.load(net, target)
        except mp.CheckpointError:
            outcomes["refused"] += 1
        else:
            outcomes["loaded"] += 1
            fill(net, seed=9)
    outcomes["seconds"] = time.perf_counter() - started
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=CASES,
                        help=f"cases per base file (the test's: {CASES})")
    args = parser.parse_args()
    import mxnet
    print(f"damaged checkpoint files, MXNet {mxnet.__version__}, "
          f"{args.cases} cases per base file")
    total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "damaged.params"
        for base in BASES:
            got = run(base, args.cases, target)
            total += got["seconds"]
            print(f"  {base:<38} {got['seconds']:6.2f} s  "
                  f"({1000 * got['seconds'] / args.cases:.2f} ms a case; "
                  f"{got['refused']} refused, {got['loaded']} loaded)")
    print(f"  {'all':<38} {total:6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
