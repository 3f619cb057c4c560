"""Fixtures for tests/: the array-mode matrix and golden files.

Every test here runs once per array mode the installed MXNet supports:
numpy mode on every version, and legacy nd mode on 1.x as well (on the
older 1.x releases, numpy mode only in ``python3 tasks.py test``).  Golden
files are shared by all of those runs, so a golden passing everywhere
means the output is identical on every version and mode.
"""
import os
from pathlib import Path

import pytest

from mxparams import _compat

GOLDENS = Path(__file__).parent / "goldens"


def pytest_addoption(parser):
    parser.addoption(
        "--update-goldens", action="store_true",
        help="write golden files that are missing or differ (for authors: "
             "read every written file before committing it)")


def array_modes() -> tuple[str, ...]:
    """The array modes each test runs in: every mode of this MXNet, or those
    of them MXPARAMS_MODES names (comma-separated; noxfile.py runs the
    older 1.x releases in numpy mode only, to keep CI in its budget)."""
    chosen = [m for m in os.environ.get("MXPARAMS_MODES", "").split(",") if m]
    unknown = set(chosen) - set(_compat.MODES)
    if unknown:
        raise pytest.UsageError(f"MXPARAMS_MODES: {', '.join(sorted(unknown))} is no "
                                f"array mode of this MXNet ({', '.join(_compat.MODES)})")
    return tuple(m for m in _compat.MODES if not chosen or m in chosen)


@pytest.fixture(autouse=True, params=array_modes())
def mode(request):
    _compat.set_mode(request.param)
    yield request.param
    _compat.set_mode("np")


@pytest.fixture
def golden(request):
    """golden(name, text): compare with tests/goldens/<name> exactly."""
    update = request.config.getoption("--update-goldens")

    def check(name: str, text: str) -> None:
        path = GOLDENS / name
        text = text if text.endswith("\n") else text + "\n"
        if update and (not path.exists() or path.read_text() != text):
            path.write_text(text)
            print(f"wrote {path}")
            return
        assert path.exists(), (
            f"no golden {path.name}; run pytest with --update-goldens, then "
            "read the file before committing it")
        assert text == path.read_text(), f"output differs from golden {name}"
    return check


@pytest.fixture(scope="session")
def file_sets():
    """MXPARAMS_CHECKPOINT_SETS: the folder where every version's Python
    wrote its set (tests/checkpoint_sets.py, noxfile's session
    checkpoint-sets) before this run."""
    folder = Path(os.environ.get("MXPARAMS_CHECKPOINT_SETS", "")).resolve()
    if not os.environ.get("MXPARAMS_CHECKPOINT_SETS") or not folder.is_dir():
        pytest.fail("the cross-version tests load the checkpoint files every "
                    f"MXNet version writes in the run (MXPARAMS_CHECKPOINT_SETS: "
                    f"{folder}); `python3 tasks.py test` writes them", pytrace=False)
    return folder
