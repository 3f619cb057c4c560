"""mp.plot_hist, headless: render to PNG with Agg and look at the image."""
import io
import subprocess
import sys

import matplotlib
import matplotlib.image
import numpy
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from mxnet import autograd
from mxnet.gluon import nn

import mxparams as mp

from helpers import chapter_mlp, forward, initialize, tied_net, uniform


@pytest.fixture(autouse=True)
def agg():
    """Draw with Agg whatever the default backend; restore it afterwards."""
    before = matplotlib.get_backend()
    matplotlib.use("Agg")
    yield
    matplotlib.use(before)


def png(fig) -> numpy.ndarray:
    """The figure rendered to PNG by Agg, read back as RGBA pixels."""
    buffer = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buffer)
    assert buffer.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    buffer.seek(0)
    return matplotlib.image.imread(buffer, format="png")


def drawn(fig) -> list[str]:
    return [ax.get_title() for ax in fig.axes]


def test_chapter_mlp_grid_renders():
    net = chapter_mlp()
    forward(net, 2, 20)
    fig = mp.plot_hist(net)
    assert drawn(fig) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    pixels = png(fig)
    width, height = fig.get_size_inches() * fig.dpi
    assert pixels.shape == (round(height), round(width), 4)
    assert pixels.shape[1] > pixels.shape[0]  # one row of four panels
    rgb = pixels[..., :3]
    assert (rgb < 0.5).mean() > 0.001  # not blank: axes, text, bars
    assert len(numpy.unique(rgb.reshape(-1, 3), axis=0)) > 10
    # The weight panel has bars: its histogram counts every value.
    patches = fig.axes[0].patches
    assert len(patches) == 50
    assert sum(p.get_height() for p in patches) == 256 * 20


def test_gradients_sit_next_to_their_parameters():
    net = nn.HybridSequential()
    net.add(nn.Dense(4, in_units=3), nn.BatchNorm(in_channels=4))
    initialize(net)
    fig = mp.plot_hist(net, grads=True)
    # BatchNorm's running statistics have no gradient: their cells are empty.
    assert drawn(fig) == [
        "0.weight", "0.weight (grad)", "0.bias", "0.bias (grad)",
        "1.gamma", "1.gamma (grad)", "1.beta", "1.beta (grad)",
        "1.running_mean", "1.running_var"]
    assert fig.axes[0].get_subplotspec().colspan.start == 0
    assert fig.axes[1].get_subplotspec().colspan.start == 1
    height, width, _ = png(fig).shape
    assert height > width  # six rows of two


def test_select_tied_nan_and_uninitialized_panels():
    net = tied_net()
    forward(net, 2, 20)
    net[1].bias.data()[:3] = numpy.nan
    fig = mp.plot_hist(net, select=["1", "2"], bins=10, columns=3)
    assert drawn(fig) == ["1.weight, 2.weight", "1.bias, 2.bias"]
    texts = [t.get_text() for t in fig.axes[1].texts]
    assert texts == ["3 NaN/Inf not shown"]
    assert len(fig.axes[0].patches) == 10
    fresh = chapter_mlp()
    initialize(fresh)  # weights wait for the first forward pass
    fig = mp.plot_hist(fresh, select=".*weight")
    assert [t.get_text() for ax in fig.axes for t in ax.texts] == [
        "not initialized"] * 2
    png(fig)


F64_MAX = float(numpy.finfo(numpy.float64).max)


@pytest.mark.parametrize("dtype, values, counts, unit", [
    # numpy bins in the values' dtype: these ranges overflowed it.
    ("float32", [-3.4e38, 0, 3.4e38], {0: 1, 25: 1, 49: 1}, ""),
    ("float16", [-65504, 0, 65504], {0: 1, 25: 1, 49: 1}, ""),
    # Beyond what an axis can hold: drawn in units of 1e308.
    ("float64", [-1.7e308, 0, 1.7e308], {0: 1, 25: 1, 49: 1}, "×1e308"),
    ("float64", [-F64_MAX, F64_MAX, F64_MAX], {0: 1, 49: 2}, "×1e308"),
    ("float64", [0, 5e-324, 1e-323], {0: 1, 25: 1, 49: 1}, "×1e-324"),
    ("float32", [2.5] * 4, {25: 4}, ""),          # constant: 2.5 ± 0.5
    ("float16", [65504] * 2, {25: 2}, ""),
    ("float64", [F64_MAX] * 3, {25: 3}, "×1e308"),
    ("int32", [-2 ** 31, 0, 2 ** 31 - 1], {0: 1, 25: 1, 49: 1}, ""),
    ("int64", [-2 ** 63, 2 ** 63 - 1], {0: 1, 49: 1}, ""),
])
def test_histograms_of_any_finite_values(dtype, values, counts, unit):
    block = nn.HybridSequential()
    mp.constant(block, "c", numpy.array(values, dtype=dtype), dtype=dtype)
    block.initialize()
    fig = mp.plot_hist(block)  # warnings are errors here: none either
    ax = fig.axes[0]
    heights = {i: p.get_height() for i, p in enumerate(ax.patches)
               if p.get_height()}
    assert len(ax.patches) == 50 and heights == counts
    assert ax.get_xlabel() == unit
    left, right = ax.get_xlim()
    assert numpy.isfinite([left, right]).all() and left < right
    png(fig)


def test_figures_are_not_left_open_in_pyplot():
    import matplotlib.pyplot as plt
    net = chapter_mlp()
    forward(net, 2, 20)
    before = plt.get_fignums()
    mp.plot_hist(net)
    assert plt.get_fignums() == before


def test_missing_matplotlib_names_the_extra(monkeypatch):
    net = chapter_mlp()
    forward(net, 2, 20)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install mxparams\[plot\]"):
        mp.plot_hist(net)


@pytest.mark.parametrize("mode", ["np"], indirect=True)  # a fresh process
def test_importing_mxparams_does_not_import_matplotlib(mode):
    code = ("import sys, mxparams; "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "False"


def test_errors_come_before_drawing():
    net = chapter_mlp()
    forward(net, 2, 20)
    with pytest.raises(ValueError, match="matches no parameter path"):
        mp.plot_hist(net, select="2")
    with pytest.raises(ValueError, match="plot_hist: bins counts histogram bins, from 1, got 0"):
        mp.plot_hist(net, bins=0)
    with pytest.raises(ValueError, match="plot_hist: columns counts panels per row, from 1, got 0"):
        mp.plot_hist(net, columns=0)
    with pytest.raises(TypeError, match=r"plot_hist: bins must be an int "
                                        r"\(histogram bins, from 1\), got float 2.5"):
        mp.plot_hist(net, bins=2.5)
    with pytest.raises(TypeError, match="mp.plot_hist expects a Gluon Block"):
        mp.plot_hist(net[0].weight)


def test_plot_watch_draws_every_recorded_series():
    net = chapter_mlp()
    forward(net, 2, 20)
    watch = mp.Watch(net, select=".*weight")
    for step in range(4):
        with autograd.record():
            loss = (net(uniform(2, 20)) ** 2).sum()
        loss.backward()
        watch.record(step)
    fig = mp.plot_watch(watch)
    assert drawn(fig) == ["norm of the values", "norm of the gradients"]
    for ax, kind in zip(fig.axes, ("data", "grad"), strict=True):
        lines = ax.get_lines()
        assert [line.get_label() for line in lines] == ["0.weight", "1.weight"]
        for line in lines:
            steps, values = watch.series(line.get_label(), "norm", kind)
            assert line.get_xdata().tolist() == steps == [0, 1, 2, 3]
            assert line.get_ydata().tolist() == values
    assert (png(fig)[..., :3] < 0.5).mean() > 0.001
    only = mp.plot_watch(watch, field="max", select="1")
    assert [[line.get_label() for line in ax.get_lines()] for ax in only.axes] == [
        ["1.weight"], ["1.weight"]]


@pytest.mark.parametrize("call, error, words", [
    (lambda w: mp.plot_watch(w, field="l2"), ValueError, "unknown field 'l2'"),
    (lambda w: mp.plot_watch(w, select="9"), ValueError, "matches none of the recorded"),
    (lambda w: mp.plot_watch(mp.stats), TypeError, "expects an mp.Watch"),
])
def test_plot_watch_refuses_clearly(call, error, words):
    layer = nn.Dense(2, in_units=2)
    layer.initialize()
    watch = mp.Watch(layer, grads=False)
    watch.record()
    with pytest.raises(error, match=words):
        call(watch)


def test_plot_watch_needs_rows():
    layer = nn.Dense(2, in_units=2)
    with pytest.raises(ValueError, match="nothing recorded yet"):
        mp.plot_watch(mp.Watch(layer))
