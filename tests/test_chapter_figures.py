"""The chapter's figures, checked as figures.

nbval compares a figure's text only (``<Figure size 640x280 with 1 Axes>``),
not the picture.  So the notebooks' code runs here, cell by cell, in a fresh
interpreter with matplotlib's Agg backend, and every figure a cell makes (its
value, or a figure left open in pyplot) is described: titles, axis labels,
legends, which axes share their x axis, the data of its lines, the PNG it
saves to, and any warning of a glyph missing from the font.  The stored
PNGs (what a student sees without running anything) are checked too.
"""
import base64
import functools
import json
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
#: The largest PNG a figure may be, in bytes.
MAX_PNG = 120_000
#: Vietnamese letters with their marks: a title or a label has one.
VIETNAMESE = re.compile(r"[àáảãạăắằẳẵặâấầẩẫậèéẻẽẹêếềểễệìíỉĩịòóỏõọôốồổỗộơớờởỡợ"
                        r"ùúủũụưứừửữựỳýỷỹỵđ]", re.IGNORECASE)
#: English words of the labels mxparams' own plots use.
ENGLISH = re.compile(r"\b(?:step|norm|values?|count|of the|not initialized)\b")

pytestmark = pytest.mark.parametrize("mode", ["np"], indirect=True)

RUNNER = textwrap.dedent(r'''
    import ast, io, json, os, sys, warnings
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    def describe(fig):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            buf = io.BytesIO()
            fig.savefig(buf, format="png", bbox_inches="tight")
        axes = []
        for ax in fig.axes:
            legend = ax.get_legend()
            axes.append({
                "title": ax.get_title(), "xlabel": ax.get_xlabel(),
                "ylabel": ax.get_ylabel(), "visible": ax.axison,
                "legend": ([legend.get_title().get_text()]
                           + [t.get_text() for t in legend.get_texts()]) if legend else [],
                "shares_x": [j for j, other in enumerate(fig.axes)
                             if other is not ax and ax.get_shared_x_axes().joined(ax, other)],
                "line_x": [[float(x) for x in line.get_xdata()] for line in ax.get_lines()],
            })
        suptitle = fig._suptitle.get_text() if fig._suptitle is not None else ""
        return {"suptitle": suptitle, "axes": axes, "png": buf.tell(),
                "warnings": [str(w.message) for w in caught]}

    notebook, out = sys.argv[1], sys.argv[2]
    os.chdir(os.path.dirname(notebook))
    cells = [c for c in json.load(open(notebook, encoding="utf-8"))["cells"]
             if c["cell_type"] == "code"]
    namespace = {"__name__": "__main__"}
    figures = []
    for i, cell in enumerate(cells):
        tree = ast.parse("".join(cell["source"]))
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        exec(compile(tree, f"<cell {i}>", "exec"), namespace)
        value = eval(compile(last, f"<cell {i}>", "eval"), namespace) if last else None
        made = [value] if isinstance(value, Figure) else []
        made += [plt.figure(n) for n in plt.get_fignums()]
        plt.close("all")
        figures += [dict(cell=i, **describe(fig)) for fig in made]
    with open(out, "w", encoding="utf-8") as f:
        json.dump(figures, f)
''')


@functools.cache
def figures_of(path: Path) -> list[dict]:
    """The figures of ``path``'s code cells, run once per test session."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.json"
        done = subprocess.run([sys.executable, "-c", RUNNER, str(path), str(out)],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(out.read_text(encoding="utf-8"))


def stored_pngs(path: Path) -> list[tuple[int, int]]:
    """(code cell, bytes) of every stored PNG."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    return [(i, len(base64.b64decode(o["data"]["image/png"])))
            for i, c in enumerate(code) for o in c["outputs"]
            if "image/png" in o.get("data", {})]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_stores_a_figure_of_at_most_120_kb(path):
    pngs = stored_pngs(path)
    assert pngs, f"{path.name} has no figure"
    big = [(cell, size) for cell, size in pngs if size > MAX_PNG]
    assert not big, f"{path.name}: PNG larger than {MAX_PNG} bytes (cell, bytes): {big}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_figures_are_titled_and_labelled_in_vietnamese(path):
    figures = figures_of(path)
    assert figures, f"{path.name}: no cell makes a figure"
    assert [f["cell"] for f in figures] == [c for c, _ in stored_pngs(path)], (
        "the cells that make figures are not the cells that store them")
    for fig in figures:
        where = f"{path.name}, code cell {fig['cell']}"
        assert fig["png"] <= MAX_PNG, f"{where}: a PNG of {fig['png']} bytes"
        assert not [w for w in fig["warnings"] if "missing from" in w], (
            f"{where}: {fig['warnings']}")
        titles = [fig["suptitle"]] + [ax["title"] for ax in fig["axes"]]
        assert any(VIETNAMESE.search(t) for t in titles), f"{where}: titles {titles}"
        visible = [ax for ax in fig["axes"] if ax["visible"]]
        words = titles + [w for ax in fig["axes"]
                          for w in (ax["xlabel"], ax["ylabel"], *ax["legend"])]
        english = [w for w in words if ENGLISH.search(w)]
        assert not english, f"{where}: English in {english}"
        if visible:  # a chart, not a diagram: both axes say what they show
            for label in ("xlabel", "ylabel"):
                names = {ax[label] for ax in visible if ax[label]}
                assert names and all(VIETNAMESE.search(n) for n in names), (
                    f"{where}: {label}s {names}")


def test_the_initializer_gallery_shares_its_horizontal_axis():
    figures = figures_of(NOTEBOOK_DIR / "04_bai_tap_1_3.ipynb")
    gallery = max(figures, key=lambda f: len(f["axes"]))
    panels = [ax for ax in gallery["axes"] if ax["visible"]]
    assert len(panels) >= 9, gallery
    for i, ax in enumerate(panels):
        assert len(ax["shares_x"]) == len(gallery["axes"]) - 1, (i, ax["title"], ax["shares_x"])
    assert {ax["title"] for ax in panels} >= {"xavier", "xavier_gauss", "glorot_normal"}


def test_the_gradient_plot_starts_after_the_first_backward_pass():
    figures = figures_of(NOTEBOOK_DIR / "05_bai_tap_4_5.ipynb")
    panels = [ax for f in figures for ax in f["axes"] if "gradient" in ax["title"]]
    assert len(panels) == 1, panels
    xs = panels[0]["line_x"]
    assert len(xs) == 4 and all(x and min(x) > 0 for x in xs), xs
    assert panels[0]["legend"][1:] == ["0.weight", "1.weight", "2.weight", "3.weight"]
