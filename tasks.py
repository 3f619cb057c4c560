#!/usr/bin/env python3
"""The README's commands on a machine with nothing but python3: a bootstrap.

    python3 tasks.py test        # the whole test suite, on every MXNet version
    python3 tasks.py demo        # the main job: a model-zoo network and the
                                 # chapter's notebooks, on every version
    python3 tasks.py lint | typecheck | docs     # the gates (ruff, mypy, the site)
    python3 tasks.py notebooks --store   # authors: store the notebooks' outputs
    python3 tasks.py bench       # benchmarks/ on every version (not a test)
    python3 tasks.py lab         # the chapter in JupyterLab (MXNet 2.0 kernel)
    python3 tasks.py browser-check       # CI: notebook 01 in headless Chromium

Each command is the nox session of the same name in noxfile.py (``test``
is the session ``tests``), where everything is defined: the environments,
the version matrix, the simulated CPUs.  This script only installs nox
(pinned, ci/nox.txt) into .venvs/nox on first use, and again when the pins
change, then runs it.  Options:

* ``--mxnet VERSION`` (repeatable): only this MXNet version (``test``:
  the sessions ``tests(VERSION)``; ``demo``, ``bench``: MXPARAMS_MXNET);
* ``--cpu NAME`` (repeatable): ``test`` only in the environment as started
  (``default``) or only under this simulated CPU (MXPARAMS_CPUS);
* ``--model NAME``: ``demo`` on another model-zoo network.

Every other argument goes to the session: to pytest for ``test``
(``python3 tasks.py test -k summary``), to jupyter-lab for ``lab``.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
NOX_ENV = ROOT / ".venvs" / "nox"
PINS = ROOT / "ci" / "nox.txt"
#: command -> nox session
SESSIONS = {"test": "tests", "demo": "demo", "lint": "lint", "typecheck": "typecheck",
            "docs": "docs", "notebooks": "notebooks", "bench": "bench", "lab": "lab",
            "browser-check": "browser-check"}


def say(msg: str) -> None:
    print(f"[tasks] {msg}", flush=True)


def nox_binary() -> Path:
    """nox in .venvs/nox, installed (again) when ci/nox.txt or this Python
    changed."""
    stamp = NOX_ENV / ".mxparams-stamp"
    want = hashlib.sha256(sys.version.encode() + PINS.read_bytes()).hexdigest()
    if not (stamp.is_file() and stamp.read_text() == want):
        say(f"installing nox into {NOX_ENV.relative_to(ROOT)} ...")
        venv.EnvBuilder(with_pip=True, clear=True).create(NOX_ENV)
        done = subprocess.run([str(NOX_ENV / "bin" / "python"), "-m", "pip", "install",
                               "--quiet", "--disable-pip-version-check", "-r", str(PINS)])
        if done.returncode != 0:
            shutil.rmtree(NOX_ENV, ignore_errors=True)
            raise SystemExit(f"[tasks] FAILED to install nox (pip exit {done.returncode})")
        stamp.write_text(want)
    return NOX_ENV / "bin" / "nox"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=list(SESSIONS))
    parser.add_argument("--mxnet", action="append", metavar="VERSION",
                        help="only this MXNet version (repeatable)")
    parser.add_argument("--cpu", action="append", metavar="NAME",
                        help="test: only the environment as started ('default') "
                             "or only this simulated CPU (repeatable)")
    parser.add_argument("--model", help="demo: the model-zoo network (resnet18_v1)")
    opts, extra = parser.parse_known_args()
    if opts.command == "notebooks" and "--store" not in extra:
        parser.error("usage: python3 tasks.py notebooks --store")
    env = dict(os.environ)
    session = SESSIONS[opts.command]
    # The whole suite: every version's tests, then the chapter's notebooks
    # on every version and simulated CPU (`mxparams notebooks check`).
    sessions = ["tests", "chapter"] if opts.command == "test" else [session]
    if opts.mxnet:
        if opts.command == "test":
            sessions = [f"tests({v})" for v in opts.mxnet]
        elif opts.command in ("demo", "bench"):
            env["MXPARAMS_MXNET"] = ",".join(opts.mxnet)
        else:
            parser.error(f"--mxnet does not apply to {opts.command}")
    if opts.cpu:
        if opts.command != "test":
            parser.error("--cpu applies to test only")
        env["MXPARAMS_CPUS"] = ",".join(opts.cpu)
    if opts.model:
        if opts.command != "demo":
            parser.error("--model applies to demo only")
        extra = ["--model", opts.model, *extra]
    argv = [str(nox_binary()), "-f", str(ROOT / "noxfile.py"), "-s", *sessions]
    if extra:
        argv += ["--", *extra]
    return subprocess.run(argv, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
