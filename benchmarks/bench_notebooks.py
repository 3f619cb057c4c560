"""`mxparams notebooks check` against the same nbval runs one after another.

Equal work: the chapter's five notebooks under MXNet 1.9.1 and 2.0.0b1 ×
the profiles default (twice), sse41 and no-onednn, first as one check
(configurations in parallel, up to the cores), then as plain
``pytest --nbval`` runs, one per configuration, one after another.  The
figure is the ratio of the two wall times in one run (these machines are
noisy); docs/performance.md records it.

    python3 benchmarks/bench_notebooks.py   # the environments of noxfile.py
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHONS = {v: ROOT / ".nox" / f"env-{v.replace('.', '-')}" / "bin" / "python"
           for v in ("1.9.1", "2.0.0b1")}
PROFILES = {"default": {}, "sse41": {"DNNL_MAX_CPU_ISA": "SSE41",
                                     "OPENBLAS_CORETYPE": "Nehalem"},
            "no-onednn": {"MXNET_MKLDNN_ENABLED": "0", "MXNET_ONEDNN_ENABLED": "0",
                          "OMP_NUM_THREADS": "1"}}
NOTEBOOKS = ROOT / "notebooks"


def main() -> int:
    first = str(PYTHONS["1.9.1"])
    started = time.monotonic()
    args = [first, "-m", "mxparams", "notebooks", "check", str(NOTEBOOKS),
            "--cpu", "sse41", "--cpu", "no-onednn"]
    for python in PYTHONS.values():
        args += ["--python", str(python)]
    done = subprocess.run(args, capture_output=True, text=True)
    check = time.monotonic() - started
    print(done.stdout.strip().splitlines()[-1])
    started = time.monotonic()
    runs = 0
    for python in PYTHONS.values():
        for name, env in PROFILES.items():
            for _ in range(2 if name == "default" else 1):
                subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                "-c", os.devnull, "--nbval", "--nbval-current-env",
                                str(NOTEBOOKS)], capture_output=True, text=True,
                               env={**os.environ, **env}, cwd=NOTEBOOKS)
                runs += 1
    serial = time.monotonic() - started
    print(f"{os.cpu_count()} cores; check: {check:.1f} s; {runs} nbval runs one "
          f"after another: {serial:.1f} s; ratio {check / serial:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
