"""The wheel, as a user gets it: built from this tree, installed elsewhere.

The wheel is built from a copy of what it is made of (pyproject.toml,
README.md, LICENSE, mxparams/) with pip's build isolation, so
``build-system.requires`` is what builds it.  It is installed, without
dependencies, into a fresh virtual environment in a temporary folder;
MXNet, numpy and the other dependencies come from this environment's
site-packages through a ``.pth`` line (a path line only: this
environment's own ``.pth`` files, among them the editable install's
finder, are not run), which saves installing MXNet again.  The test then
checks that ``mxparams`` is imported from the new environment, never from
the checkout, and imports every module the wheel carries, found by walking
the installed package (not a list written here), so a subpackage that does
not ship fails.  The metadata is read from the wheel itself: SPDX license,
the license file, classifiers, ``py.typed``, the version of pyproject.toml.

About 10 s per MXNet version (the wheel is built once per run).
"""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]

# One run per MXNet version: nothing here depends on the array mode.
pytestmark = pytest.mark.parametrize("mode", ["np"], indirect=True)

# Run by the fresh environment's Python, in a folder of its own.
PROBE = r"""
import importlib, importlib.metadata, json, pkgutil, sys
from pathlib import Path
import mxparams
found, failed = [], {}
for info in pkgutil.walk_packages(mxparams.__path__, "mxparams.",
                                  onerror=lambda name: failed.setdefault(name, "walk")):
    if info.name.rsplit(".", 1)[-1] == "__main__":  # runs the command line
        continue
    try:
        importlib.import_module(info.name)
    except Exception as err:
        failed[info.name] = f"{type(err).__name__}: {err}"
    else:
        found.append((info.name, info.ispkg))
print(json.dumps({
    "file": mxparams.__file__,
    "prefix": sys.prefix,
    "modules": found,
    "failed": failed,
    "typed": (Path(mxparams.__file__).parent / "py.typed").is_file(),
    "version": importlib.metadata.version("mxparams"),
    "dunder_version": getattr(mxparams, "__version__", None),
    "files": [str(f) for f in importlib.metadata.files("mxparams")],
}))
"""


def source_packages() -> set[str]:
    """Every package of the checkout's mxparams/ (folders with __init__.py)."""
    return {".".join(p.parent.relative_to(ROOT).parts)
            for p in (ROOT / "mxparams").rglob("__init__.py")
            if "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "mxparams", src / "mxparams",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
         "--disable-pip-version-check", "--wheel-dir", str(out), str(src)],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    wheels = list(out.glob("mxparams-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> dict:
    """What the probe finds in a fresh environment with only the wheel."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)],
                   check=True, timeout=120)
    python = venv / "bin" / "python"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install",
         "--no-deps", "--no-index", "--quiet", "--disable-pip-version-check",
         str(wheel)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    purelib = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True).stdout.strip())
    # The dependencies: this environment's site-packages, after the new
    # environment's own (a path line; its .pth files are not processed).
    (purelib / "zz_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    cwd = tmp_path_factory.mktemp("cwd")  # not the checkout: '' is on sys.path
    done = subprocess.run([str(python), "-c", PROBE], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["venv"] = str(venv)
    return report


def test_the_wheel_is_what_is_imported(installed):
    venv = Path(installed["venv"]).resolve()
    file = Path(installed["file"]).resolve()
    assert file.is_relative_to(venv), file
    assert not file.is_relative_to(ROOT), file
    assert Path(installed["prefix"]).resolve() == venv


def test_every_module_of_the_wheel_imports(installed):
    assert installed["failed"] == {}
    packages = {name for name, ispkg in installed["modules"] if ispkg} | {"mxparams"}
    # Every package of the source tree ships (automatic discovery), and
    # nothing else.
    assert packages == source_packages()
    modules = {name for name, _ in installed["modules"]}
    assert "mxparams.cli" in modules  # a plain module, walked too


def test_the_installed_metadata(installed):
    assert installed["typed"]
    assert installed["version"] == PROJECT["version"]
    files = set(installed["files"])
    assert "mxparams/py.typed" in files
    assert any(f.endswith(".dist-info/licenses/LICENSE") for f in files), files


def test_dunder_version_is_the_installed_version(installed):
    assert installed["dunder_version"] == installed["version"]


def test_wheel_metadata(wheel):
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        info = f"mxparams-{PROJECT['version']}.dist-info"
        metadata = Parser().parsestr(whl.read(f"{info}/METADATA").decode())
        license_text = whl.read(f"{info}/licenses/LICENSE").decode()
    assert "mxparams/py.typed" in names
    assert metadata["Name"] == "mxparams"
    assert metadata["Version"] == PROJECT["version"]
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert license_text == (ROOT / "LICENSE").read_text()
    assert "Apache License\n                           Version 2.0" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text
    classifiers = metadata.get_all("Classifier")
    assert classifiers == PROJECT["classifiers"]
    assert "Typing :: Typed" in classifiers
    assert not [c for c in classifiers if c.startswith("License ::")]
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL"))
    assert urls == PROJECT["urls"]
    assert metadata["Requires-Python"] == PROJECT["requires-python"]
