"""Jupyter kernels on the MXNet environments, and the JupyterLab command.

Standard library only: imported by noxfile.py (sessions ``env``, ``lab``,
``notebooks``, ``demo``) and by ci/browser_check.py, which runs on the
JupyterLab environment's Python (no nox there).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
#: Kernel specs, one per MXNet version (JUPYTER_PATH=.venvs/jupyter).
KERNELS = ROOT / ".venvs" / "jupyter" / "kernels"
#: JupyterLab and Selenium, pinned in ci/lab.txt (nox session ``jupyter``).
LAB_ENV = ROOT / ".nox" / "jupyter"
#: The MXNet whose kernel ``lab`` starts by default.  The notebooks
#: themselves name the standard ``python3`` kernel (any Jupyter has one).
DEFAULT_KERNEL_VERSION = "2.0.0b1"
#: JupyterLab's default settings for ``lab`` (JUPYTER_CONFIG_PATH): a
#: notebook whose kernel (``python3``) is not among the offered ones starts
#: the server's default kernel instead of asking which to start.
LAB_CONFIG = KERNELS.parent / "config"
LAB_SETTINGS = {"@jupyterlab/notebook-extension:tracker": {"autoStartDefaultKernel": True}}


def env_python(version: str) -> Path:
    """The Python of MXNet ``version``'s environment (nox session ``env``)."""
    return ROOT / ".nox" / f"env-{version.replace('.', '-')}" / "bin" / "python"


def kernel_name(version: str) -> str:
    return f"mxparams-mxnet-{version}"


def write_kernelspec(version: str) -> None:
    """A Jupyter kernel on this version's environment, with mxparams.

    It does not capture C-level output (ipykernel's capture_fd_output):
    nbval's kernel does not either, so both see the same cell outputs, and
    MXNet's C++ log lines (docs/compatibility.md §1) go to the terminal
    instead of into a notebook.
    """
    spec = {
        "argv": [str(env_python(version)), "-m", "ipykernel_launcher",
                 "-f", "{connection_file}",
                 "--IPKernelApp.capture_fd_output=False"],
        "display_name": f"Python 3 (mxparams, MXNet {version})",
        "language": "python",
        "metadata": {"debugger": True},
    }
    path = KERNELS / kernel_name(version) / "kernel.json"
    text = json.dumps(spec, indent=1) + "\n"
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def write_lab_settings() -> Path:
    """JupyterLab's default setting overrides for ``lab`` (labconfig/
    default_setting_overrides.json on JUPYTER_CONFIG_PATH); a student's own
    settings still win over them."""
    path = LAB_CONFIG / "labconfig" / "default_setting_overrides.json"
    text = json.dumps(LAB_SETTINGS, indent=1) + "\n"
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return path


def lab_command(folder: Path, versions: tuple[str, ...],
                extra: list[str]) -> tuple[list[str], dict[str, str]]:
    """The jupyter-lab command line and environment that open ``folder``
    with the mxparams kernels only, ``DEFAULT_KERNEL_VERSION``'s by default.

    The notebooks name ``python3``, which is not offered (the lab
    environment's own Python has no MXNet); JupyterLab then starts the
    server's default kernel, set here explicitly, because the settings
    written by :func:`write_lab_settings` turn on
    ``autoStartDefaultKernel`` (without it, with more than one Python kernel
    offered, it would ask which one to start).
    """
    kernels = [kernel_name(v) for v in versions]
    default = kernel_name(DEFAULT_KERNEL_VERSION)
    if default not in kernels:
        raise ValueError(f"the default kernel {default} is not among {kernels}")
    write_lab_settings()
    argv = [str(LAB_ENV / "bin" / "jupyter-lab"),
            f"--ServerApp.root_dir={folder}",
            f"--MultiKernelManager.default_kernel_name={default}",
            # The lab environment's own Python kernel has no MXNet.
            "--KernelSpecManager.allowed_kernelspecs=" + json.dumps(kernels),
            # Containers and CI machines often run as root, which Jupyter
            # refuses unless told.
            *(["--allow-root"] if os.geteuid() == 0 else []),
            *extra]
    config_path = os.pathsep.join(
        p for p in (str(LAB_CONFIG), os.environ.get("JUPYTER_CONFIG_PATH", "")) if p)
    return argv, dict(os.environ, JUPYTER_PATH=str(KERNELS.parent),
                      JUPYTER_CONFIG_PATH=config_path)
