"""How ``python3 tasks.py lab`` opens the chapter (ci/jupyter.py).

The notebooks name the standard ``python3`` kernel, which the lab does not
offer (its own Python has no MXNet).  The lab command names its versioned
default kernel explicitly and turns on JupyterLab's
``autoStartDefaultKernel``, so the notebook starts on that kernel instead
of asking which one to start.  ci/browser_check.py runs this for real in
a browser; these tests check the command line and the settings it writes.
"""
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.parametrize("mode", ["np"], indirect=True)


@pytest.fixture
def jupyter(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("ci_jupyter", ROOT / "ci" / "jupyter.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "LAB_CONFIG", tmp_path / "config")
    monkeypatch.delenv("JUPYTER_CONFIG_PATH", raising=False)
    return module


def test_lab_starts_its_default_versioned_kernel_for_a_python3_notebook(jupyter, tmp_path):
    argv, env = jupyter.lab_command(tmp_path, ("1.9.1", "2.0.0b1"), ["--no-browser"])
    default = jupyter.kernel_name(jupyter.DEFAULT_KERNEL_VERSION)
    assert f"--MultiKernelManager.default_kernel_name={default}" in argv
    allowed = next(a for a in argv if a.startswith("--KernelSpecManager.allowed_kernelspecs="))
    offered = json.loads(allowed.split("=", 1)[1])
    assert default in offered and "python3" not in offered
    assert argv[-1] == "--no-browser"
    assert env["JUPYTER_CONFIG_PATH"].split(":")[0] == str(tmp_path / "config")
    overrides = tmp_path / "config" / "labconfig" / "default_setting_overrides.json"
    assert json.loads(overrides.read_text()) == {
        "@jupyterlab/notebook-extension:tracker": {"autoStartDefaultKernel": True}}


def test_a_default_kernel_that_is_not_offered_is_refused(jupyter, tmp_path):
    with pytest.raises(ValueError, match="not among"):
        jupyter.lab_command(tmp_path, ("1.9.1",), [])
