"""Running notebooks under one configuration: an interpreter and a profile.

nbval itself runs them (``pytest --nbval`` in a subprocess of this
interpreter, with the ``_plugin`` recording what it compared), on a
kernel of the target interpreter whose kernelspec carries the profile's
environment.  Nothing of this process's environment changes: the
variables reach the kernel only, through its kernelspec.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from ._plugin import PROGRESS_VARIABLE, RESULTS_VARIABLE
from .profiles import Profile

PROBE = Path(__file__).with_name("_probe.py")


class Interpreter(NamedTuple):
    """A Python that has MXNet and ipykernel, as the probe found it."""
    python: str
    mxnet: str          # as its package says ('2.0.0b1')


class Configuration(NamedTuple):
    """Where a notebook runs: ``<MXNet version>/<profile>``, and which run
    of it (the default profile runs twice)."""
    interpreter: Interpreter
    profile: Profile
    run: int = 0

    @property
    def label(self) -> str:
        base = f"{self.interpreter.mxnet}/{self.profile.name}"
        return base if self.run == 0 else f"{base}#{self.run + 1}"


class ProbeError(Exception):
    """The interpreter cannot run MXNet notebooks (no MXNet, no ipykernel)."""


def probe(python: str, env: dict[str, str], timeout: float = 300) -> dict[str, Any]:
    """What ``python`` runs with under ``env`` (see ``_probe.py``)."""
    with tempfile.TemporaryDirectory(prefix="mxparams-probe-") as tmp:
        log = os.path.join(tmp, "verbose.log")
        run_env = {**os.environ, **env, "DNNL_VERBOSE": "1", "MKLDNN_VERBOSE": "1",
                   "MXPARAMS_PROBE_LOG": log}
        try:
            done = subprocess.run([python, str(PROBE)], capture_output=True,
                                  text=True, env=run_env, timeout=timeout, cwd=tmp)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise ProbeError(f"cannot run {python}: {err}") from None
    for line in done.stdout.splitlines():
        if line.startswith("MXPARAMS-PROBE "):
            found = json.loads(line[len("MXPARAMS-PROBE "):])
            if not found.get("ipykernel"):
                raise ProbeError(f"{python} has no ipykernel (pip install "
                                 "ipykernel): notebooks run on a kernel of it")
            return found
    last = (done.stderr.strip().splitlines() or ["no output"])[-1]
    raise ProbeError(f"{python} cannot import MXNet ({last})")


def run(config: Configuration, notebooks: list[str], *, timeout: float,
        sanitize: str | None = None,
        on_cell: Callable[[], None] | None = None) -> dict[str, Any]:
    """nbval's verdict and outputs for every cell of ``notebooks`` under
    ``config``: ``{"cells": [...], "errors": [...], "exitstatus": n}``;
    ``on_cell()`` is called as each cell finishes."""
    with tempfile.TemporaryDirectory(prefix="mxparams-nb-") as tmp:
        name = "mxparams-check"
        spec = Path(tmp, "kernels", name)
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [config.interpreter.python, "-m", "ipykernel_launcher",
                     "-f", "{connection_file}"],
            "display_name": config.label, "language": "python",
            "env": dict(config.profile.env)}))
        ini = Path(tmp, "pytest.ini")
        ini.write_text("[pytest]\n")  # none of the notebook's project's options
        results = Path(tmp, "results.json")
        args = [sys.executable, "-m", "pytest", "-c", str(ini), "--rootdir", tmp,
                "-p", "no:cacheprovider", "-p", "mxparams.notebooks._plugin",
                "--nbval", "--nbval-kernel-name", name,
                "--nbval-cell-timeout", str(timeout), "-q", "--no-header",
                "-o", "console_output_style=classic"]
        if sanitize:
            args += ["--nbval-sanitize-with", sanitize]
        ticks = Path(tmp, "progress")
        ticks.touch()
        env = {**os.environ, RESULTS_VARIABLE: str(results),
               PROGRESS_VARIABLE: str(ticks),
               "JUPYTER_PATH": os.pathsep.join(
                   [tmp] + ([os.environ["JUPYTER_PATH"]]
                            if os.environ.get("JUPYTER_PATH") else []))}
        log = Path(tmp, "pytest.log")
        with open(log, "w") as out:
            process = subprocess.Popen(args + [os.path.abspath(n) for n in notebooks],
                                       stdout=out, stderr=subprocess.STDOUT,
                                       env=env, cwd=tmp)
            _follow(process, ticks, on_cell)
        if not results.exists():
            tail = "\n".join(log.read_text(errors="replace").strip().splitlines()[-5:])
            raise RuntimeError(f"nbval did not run under {config.label}:\n{tail}")
        found: dict[str, Any] = json.loads(results.read_text())
    return found


def _follow(process: subprocess.Popen, ticks: Path,
            on_cell: Callable[[], None] | None, every: float = 0.25) -> None:
    """Wait for ``process``, calling ``on_cell`` once per line the plugin
    appends to ``ticks`` (a finished cell)."""
    seen = 0
    while True:
        finished = process.poll() is not None
        if on_cell is not None:
            count = ticks.read_bytes().count(b"\n")
            for _ in range(count - seen):
                on_cell()
            seen = count
        if finished:
            return
        time.sleep(every)
