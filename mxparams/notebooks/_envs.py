"""Environments for ``--mxnet VERSION``: made on first use, then reused.

Each is a virtual environment of this Python under the user's cache
directory (``$XDG_CACHE_HOME/mxparams/envs``, or ``MXPARAMS_ENVS`` to put
them elsewhere) with one MXNet version and what a notebook kernel needs,
at versions known to work with it (:data:`PINS`).  A stamp records what
was installed; an environment whose stamp differs is made again.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Callable
from pathlib import Path

#: Per MXNet version, what its environment gets besides ``mxnet==VERSION``
#: and a kernel: every version uses ``np.bool``, which numpy 1.24 removed.
PINS: dict[str, list[str]] = {
    "1.6.0": ["numpy<1.24"],
    "1.7.0.post2": ["numpy<1.24"],
    "1.8.0.post0": ["numpy<1.24"],
    "1.9.1": ["numpy<1.24"],
    "2.0.0b1": ["numpy<1.24"],
}
KERNEL = ["ipykernel>=6"]


class EnvironmentNotMade(Exception):
    """An environment for ``--mxnet`` cannot be made."""


def home() -> Path:
    explicit = os.environ.get("MXPARAMS_ENVS")
    if explicit:
        return Path(explicit)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    return Path(cache, "mxparams", "envs")


def wanted(version: str) -> list[str]:
    if version not in PINS:
        raise ValueError(f"--mxnet {version}: mxparams knows the MXNet versions "
                         f"{', '.join(PINS)}; for another, make an environment "
                         "and pass --python")
    return [f"mxnet=={version}", *PINS[version], *KERNEL]


def environment(version: str, say: Callable[[str], None] | None = None) -> str:
    """The Python of MXNet ``version``'s environment, made if needed."""
    packages = wanted(version)
    folder = home() / f"mxnet-{version}-py{sys.version_info[0]}{sys.version_info[1]}"
    python = folder / "bin" / "python"
    stamp = folder / "mxparams-env.json"
    record = {"packages": packages, "python": sys.version.split()[0]}
    if python.exists() and stamp.exists():
        try:
            if json.loads(stamp.read_text()) == record:
                return str(python)
        except ValueError:
            pass
    say = say or (lambda text: None)
    say(f"making the environment for MXNet {version} in {folder} (once)")
    if folder.exists():
        shutil.rmtree(folder)
    try:
        venv.create(folder, with_pip=True)
        done = subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                               "--disable-pip-version-check", *packages],
                              capture_output=True, text=True)
    except OSError as err:
        shutil.rmtree(folder, ignore_errors=True)
        raise EnvironmentNotMade(f"cannot make an environment for MXNet {version} "
                                f"in {folder}: {err}") from None
    if done.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        last = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise EnvironmentNotMade(f"cannot install MXNet {version} ({' '.join(packages)})"
                                f": {last}")
    stamp.write_text(json.dumps(record))
    return str(python)
