#!/usr/bin/env python3
"""Set-up and checks for mxparams; needs nothing but python3 (3.8+).

    python3 tasks.py demo     # the main job, on both MXNet versions
    python3 tasks.py test     # the whole test suite, on both MXNet versions
    python3 tasks.py bench    # benchmarks/ on both versions (not a test)

Each MXNet version gets its own virtual environment under .venvs/, built on
first use and reused while pyproject.toml and ci/constraints.txt are
unchanged.  A version whose environment cannot be built fails the run;
nothing is skipped.  Extra arguments after ``test`` go to pytest, and
``--mxnet 1.9.1`` (or ``2.0.0b1``) restricts a command to one version.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VERSIONS = ("1.9.1", "2.0.0b1")
STAMP_INPUTS = ("pyproject.toml", "ci/constraints.txt")


def say(msg: str) -> None:
    print(f"[tasks] {msg}", flush=True)


def env_dir(version: str) -> Path:
    return ROOT / ".venvs" / f"mxnet-{version}"


def env_python(version: str) -> Path:
    return env_dir(version) / "bin" / "python"


def _stamp() -> str:
    h = hashlib.sha256(sys.version.encode())
    for name in STAMP_INPUTS:
        h.update((ROOT / name).read_bytes())
    return h.hexdigest()


def ensure_env(version: str) -> Path:
    """Create or update the environment for one MXNet version."""
    where = env_dir(version)
    stamp_file = where / ".mxparams-stamp"
    stamp = _stamp()
    if stamp_file.exists() and stamp_file.read_text() == stamp:
        return env_python(version)
    say(f"building {where.relative_to(ROOT)} (MXNet {version}) ...")
    started = time.time()
    if not env_python(version).exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(where)
    cmd = [str(env_python(version)), "-m", "pip", "install", "--quiet",
           "--disable-pip-version-check",
           "-c", str(ROOT / "ci" / "constraints.txt"),
           f"mxnet=={version}", "-e", f"{ROOT}[test,plot]"]
    done = subprocess.run(cmd, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"[tasks] FAILED to build the MXNet {version} "
                         f"environment (pip exit {done.returncode}); "
                         "this version is not tested, so the run fails")
    stamp_file.write_text(stamp)
    say(f"built MXNet {version} environment in {time.time() - started:.0f} s")
    return env_python(version)


def ensure_envs(versions) -> dict:
    """Build missing environments in parallel (pip is mostly waiting)."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(len(versions)) as pool:
        return dict(zip(versions, pool.map(ensure_env, versions)))


def run_env(version: str, args: list, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, MXPARAMS_EXPECT_MXNET=version,
               PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([str(env_python(version))] + args, cwd=ROOT,
                          env=env, **kw)


def cmd_test(opts, extra: list) -> int:
    pythons = ensure_envs(opts.mxnet)
    results = {}
    for version in pythons:
        say(f"pytest on MXNet {version}")
        started = time.time()
        rc = run_env(version, ["-m", "pytest"] + extra).returncode
        results[version] = (rc, time.time() - started)
    say("summary:")
    for version, (rc, secs) in results.items():
        state = "passed" if rc == 0 else f"FAILED (pytest exit {rc})"
        say(f"  MXNet {version:8} {state} in {secs:.0f} s")
    return 0 if all(rc == 0 for rc, _ in results.values()) else 1


def cmd_demo(opts, extra: list) -> int:
    pythons = ensure_envs(opts.mxnet)
    args = ["-m", "mxparams", "demo", opts.model] + extra
    outputs = {}
    for version in pythons:
        done = run_env(version, args, capture_output=True, text=True)
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            say(f"demo FAILED on MXNet {version}")
            return 1
        outputs[version] = done.stdout
    first = next(iter(outputs))
    print(outputs[first], end="")
    same = len(set(outputs.values())) == 1
    say(f"printed by MXNet {first}; the output on "
        f"{' and '.join(outputs)} is " + ("identical" if same else "DIFFERENT"))
    return 0 if same else 1


def cmd_bench(opts, extra: list) -> int:
    pythons = ensure_envs(opts.mxnet)
    rc = 0
    for version in pythons:
        say(f"benchmark on MXNet {version}")
        rc |= run_env(version, ["benchmarks/bench_core.py"] + extra).returncode
    return rc


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["test", "demo", "bench"])
    parser.add_argument("--mxnet", choices=VERSIONS, action="append",
                        help="only this MXNet version (repeatable)")
    parser.add_argument("--model", default="resnet18_v1",
                        help="model-zoo network for demo (default resnet18_v1)")
    opts, extra = parser.parse_known_args()
    opts.mxnet = tuple(opts.mxnet or VERSIONS)
    return {"test": cmd_test, "demo": cmd_demo, "bench": cmd_bench}[
        opts.command](opts, extra)


if __name__ == "__main__":
    sys.exit(main())
