"""The chapter notebooks are real regression tests.

``python3 tasks.py test`` runs notebooks/*.ipynb under strict nbval
(pyproject.toml: ``--nbval --nbval-current-env``).  nbval only compares
what is stored, so these tests check that something is stored and that a
wrong stored output does fail: a notebook whose cells were never executed
passes nbval while checking nothing.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import mxnet
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))

# The notebooks run in numpy mode in their own kernel; the tests here read
# files and start pytest in a subprocess, so one array mode is enough.
pytestmark = pytest.mark.parametrize("mode", ["np"], indirect=True)

# nbval's markers that weaken the check: none is allowed.
MARKERS = ("NBVAL_IGNORE_OUTPUT", "NBVAL_SKIP", "NBVAL_RAISES_EXCEPTION",
           "PYTEST_VALIDATE_IGNORE_OUTPUT", "nbval-ignore-output",
           "nbval-skip", "raises-exception")
# Share of code cells (per notebook) whose output must be worth checking.
MIN_CHECKED = 0.75


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def code_cells(nb: dict) -> list:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def text_of(output: dict) -> str:
    """What nbval compares as text: a stream, or a result's text/plain."""
    if output["output_type"] == "stream":
        return "".join(output["text"])
    return "".join(output.get("data", {}).get("text/plain", ""))


def worth_checking(cell: dict) -> bool:
    """True if the cell shows a result nbval can compare meaningfully.

    Not enough: no output, a figure (nbval skips image data and the text is
    only '<Figure size ...>'), or a bare None/True.
    """
    for output in cell["outputs"]:
        text = text_of(output).strip()
        if text and not text.startswith("<Figure size") and text not in (
                "None", "True", "False"):
            return True
    return False


def test_the_chapter_is_there():
    names = [p.name for p in NOTEBOOKS]
    assert names == [
        "01_truy_cap_tham_so.ipynb",
        "02_khoi_tao_tham_so.ipynb",
        "03_tham_so_bi_troi_buoc.ipynb",
        "04_bai_tap_1_3.ipynb",
        "05_bai_tap_4_5.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_code_cell_was_executed_and_stored(path):
    nb = load(path)
    cells = code_cells(nb)
    assert cells, f"{path.name} has no code cells"
    counts = [c["execution_count"] for c in cells]
    # 1, 2, 3, ...: executed once each, top to bottom, in one fresh kernel
    # (what `python3 tasks.py notebooks --store` writes).
    assert counts == list(range(1, len(cells) + 1)), (
        f"{path.name}: execution counts {counts}; re-store the outputs with "
        "python3 tasks.py notebooks --store")
    for i, cell in enumerate(cells):
        source = "".join(cell["source"])
        assert source.strip(), f"{path.name}: code cell {i} is empty"
        for output in cell["outputs"]:
            assert output["output_type"] != "error", (
                f"{path.name}: code cell {i} stored an error")
            # A warning or log line in a stored output would make the
            # notebook depend on warning filters or on MXNet's logging.
            assert output.get("name") != "stderr", (
                f"{path.name}: code cell {i} wrote to stderr: "
                f"{text_of(output)[:200]!r}")
            # Memory addresses differ from run to run (no sanitizer here).
            assert not re.search(r"\bat 0x[0-9a-f]+", text_of(output)), (
                f"{path.name}: code cell {i} shows a memory address")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_cell_is_exempt_from_the_check(path):
    for i, cell in enumerate(code_cells(load(path))):
        source = "".join(cell["source"])
        tags = cell.get("metadata", {}).get("tags", [])
        for marker in MARKERS:
            assert marker not in source and marker not in tags, (
                f"{path.name}: code cell {i} uses {marker}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_most_cells_show_an_output_worth_checking(path):
    cells = code_cells(load(path))
    checked = [worth_checking(c) for c in cells]
    share = sum(checked) / len(cells)
    unchecked = [i for i, ok in enumerate(checked) if not ok]
    assert share >= MIN_CHECKED, (
        f"{path.name}: only {sum(checked)} of {len(cells)} code cells show an "
        f"output worth checking (cells without: {unchecked})")


@pytest.mark.cpu_matrix  # nbval on notebook 01: every other cell must pass
def test_a_changed_stored_output_fails_nbval(tmp_path):
    """Run nbval, configured as the test command configures it, on a copy.

    The copy starts with a cell whose stored output is this environment's
    Python and MXNet version, so the run also shows that nbval's kernel is
    the environment's own Python (not some global one); one later stored
    output is then changed by a single character.  Exactly that cell must
    fail.
    """
    source = NOTEBOOK_DIR / "01_truy_cap_tham_so.ipynb"
    nb = load(source)
    kernel_check = {
        "cell_type": "code", "execution_count": 1, "id": "kernel-check",
        "metadata": {},
        "source": ["import sys, mxnet\n", "print(sys.executable)\n",
                   "print(mxnet.__version__)"],
        "outputs": [{"output_type": "stream", "name": "stdout",
                     "text": [f"{sys.executable}\n", f"{mxnet.__version__}\n"]}],
    }
    nb["cells"].insert(0, kernel_check)
    cells = code_cells(nb)
    # The first stored stream output after the check cell that shows the
    # hidden layer's 256 units: print(net).
    target, stream = next(
        (i, o) for i, c in enumerate(cells) if i > 0 for o in c["outputs"]
        if o["output_type"] == "stream" and "256" in text_of(o))
    original = text_of(stream)
    assert original.startswith("Sequential(\n"), original
    stream["text"] = original.replace("256", "257", 1)
    path = tmp_path / "mutated.ipynb"
    path.write_text(json.dumps(nb, ensure_ascii=False), encoding="utf-8")

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"),
         "--rootdir", str(tmp_path), "-q", "-rf", str(path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    report = done.stdout + done.stderr
    assert done.returncode == 1, report
    n_cells = len(cells)
    assert f"1 failed, {n_cells - 1} passed" in report, report
    assert f"mutated.ipynb::Cell {target}" in report, report
    assert "257" in report, report
