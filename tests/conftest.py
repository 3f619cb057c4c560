"""Fixtures for tests/: the array-mode matrix and golden files.

Every test here runs once per array mode the installed MXNet supports:
numpy mode on both versions, and legacy nd mode on 1.x as well.  Golden
files are shared by all of those runs, so a golden passing everywhere
means the output is identical on every version and mode.
"""
from pathlib import Path

import pytest

from mxparams import _compat

GOLDENS = Path(__file__).parent / "goldens"


def pytest_addoption(parser):
    parser.addoption(
        "--update-goldens", action="store_true",
        help="write golden files that are missing or differ (for authors: "
             "read every written file before committing it)")


@pytest.fixture(autouse=True, params=_compat.MODES)
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
