"""Figures: histograms of parameter values (``plot_hist``) and statistics
recorded over training steps (``plot_watch``); they need ``mxparams[plot]``."""
from __future__ import annotations

import math
import warnings

import numpy
from mxnet import gluon

from . import _arrays
from ._arrays import STAT_FIELDS
from .monitor import Watch
from .params import Select, check_count, check_flag, check_str, collect

_INSTALL = "pip install mxparams[plot]"


def _pyplot():
    """matplotlib.pyplot, imported only when a plot is asked for."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError(
            f"mxparams' plots need matplotlib, which is not installed; install "
            f"the plot extra: {_INSTALL}") from err
    return plt


def plot_hist(block: gluon.Block, *, select: Select = None, grads: bool = False,
              bins: int = 50, columns: int = 4):
    """A grid of histograms, one per parameter (and gradient); returns the Figure.

    One panel per selected parameter, titled with its path (a tied
    parameter once, titled with all its paths), drawn from the values of
    its first device's copy; ``grads=True`` puts each parameter's gradient
    next to it (two panels per row).  NaN and Inf cannot be binned: the
    panel says how many it left out.  Parameters not initialized yet get
    an empty panel that says so.

    Needs matplotlib (``pip install mxparams[plot]``), imported only here;
    the figure is closed in pyplot before it is returned, so Jupyter shows
    it once (as the cell's value) and scripts save it with
    ``fig.savefig("hist.png")``.

    >>> import mxparams as mp
    >>> from mxnet.gluon import nn
    >>> net = nn.HybridSequential()
    >>> net.add(nn.Dense(4, in_units=3), nn.Dense(2, in_units=4))
    >>> net.initialize()
    >>> fig = mp.plot_hist(net, select=".*weight", grads=True)
    >>> [ax.get_title() for ax in fig.axes]
    ['0.weight', '0.weight (grad)', '1.weight', '1.weight (grad)']
    """
    check_count(bins, "bins", "plot_hist", "histogram bins, from 1")
    check_count(columns, "columns", "plot_hist", "panels per row, from 1")
    check_flag(grads, "grads", "plot_hist")
    found = _arrays.entries(block, select, grads, "plot_hist")
    if not found:
        raise ValueError(f"plot_hist: select={select!r} matches no parameter "
                         "path; list them with mp.collect(block).keys()")
    # One panel per Parameter: tied paths share it and its title.
    names: dict[tuple[str, str], list[str]] = {}
    params: dict[tuple[str, str], gluon.Parameter] = {}
    for e in found:
        if e.kind == "data":  # every path has a data entry
            names.setdefault(e.group, []).append(e.path)
            params[e.group] = e.param
    return _hist_figure(_pyplot(), params, names, grads, bins, columns)


@_arrays.ieee  # matplotlib's numpy work, as in host statistics
def _hist_figure(plt, params: dict, names: dict, grads: bool, bins: int,
                 columns: int):
    ncols = 2 if grads else min(columns, len(params))
    nrows = len(params) if grads else math.ceil(len(params) / ncols)
    fig, axes = plt.subplots(nrows, ncols, squeeze=False,
                             figsize=(3.2 * ncols, 2.4 * nrows))
    # Returned, not shown: closing it in pyplot keeps Jupyter from drawing
    # it twice and a training loop from accumulating open figures.
    plt.close(fig)
    cells = iter(axes.flat)
    for key, param in params.items():
        title = ", ".join(names[key])
        kinds = ["data", "grad"] if grads else ["data"]
        for kind in kinds:
            ax = next(cells)
            if kind == "grad" and param.grad_req == "null":
                fig.delaxes(ax)
                continue
            _draw(ax, param, kind, title + (" (grad)" if kind == "grad" else ""),
                  bins)
    for ax in cells:  # the unused end of the last row
        fig.delaxes(ax)
    with warnings.catch_warnings():
        # Very many panels leave no room for margins; the grid still draws.
        warnings.filterwarnings("ignore", "Tight layout not applied")
        fig.tight_layout()
    return fig


def _draw(ax, param: gluon.Parameter, kind: str, title: str, bins: int) -> None:
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    arrays = _arrays.copies(param, kind)
    if not arrays:
        ax.text(0.5, 0.5, "not initialized", ha="center", va="center",
                transform=ax.transAxes)
        return
    values = _arrays.on_host(arrays[0])
    finite = values[numpy.isfinite(values)]
    if finite.size:
        counts, edges, power = histogram(finite, bins)
        ax.hist(edges[:-1], bins=edges, weights=counts)
        if power:
            ax.set_xlabel(f"×1e{power}", fontsize=7)
    left_out = values.size - finite.size
    if left_out:
        ax.text(0.98, 0.95, f"{left_out:,} NaN/Inf not shown", ha="right",
                va="top", fontsize=7, color="red", transform=ax.transAxes)


#: Beyond these magnitudes matplotlib cannot draw an axis: its margins
#: and tick steps overflow float64 (or vanish below its resolution).
_AXIS_LIMITS = (2.0 ** -1000, 2.0 ** 1000)


def histogram(values: numpy.ndarray, bins: int
              ) -> tuple[numpy.ndarray, numpy.ndarray, int]:
    """``(counts, edges, power)`` of finite ``values`` of any dtype: the
    bars to draw at ``edges`` in units of ``10**power`` (0 for plain units).

    numpy bins in the values' dtype, where the range of float16 or float32
    values beyond half the type's maximum overflows (an ``IndexError`` with
    overflow warnings); in float64 the range of float64 values near
    ±1.8e308 does, and the scale of a range of subnormals.  So the values
    are binned in float64 after scaling by a power of two into (-1, 1),
    which is exact and leaves numpy's edges unchanged; values of a
    magnitude matplotlib cannot draw come back in units of a power of ten.
    Constant values get numpy's one unit either side where it exists.

    >>> import numpy
    >>> values = numpy.array([-3.4e38, 0, 3.4e38], "float32")
    >>> counts, edges, power = histogram(values, 4)
    >>> counts.tolist(), bool(edges[-1] == values[-1]), power
    ([1, 0, 1, 1], True, 0)
    >>> counts, edges, power = histogram(numpy.array([-1.7e308, 1.7e308]), 2)
    >>> counts.tolist(), edges.round(3).tolist(), power
    ([1, 1], [-1.7, 0.0, 1.7], 308)
    >>> histogram(numpy.full(3, 2.5, "float16"), 2)[:2]
    (array([0, 3]), array([2. , 2.5, 3. ]))
    """
    values = numpy.asarray(values, dtype=numpy.float64)
    low, high = float(values.min()), float(values.max())
    magnitude = max(-low, high)
    if low == high and abs(low) < 2.0 ** 50:  # low ± 0.5 exists
        counts, edges = numpy.histogram(values, bins=bins)
        return counts, edges, 0
    exponent = math.frexp(magnitude)[1]  # magnitude < 2**exponent
    counts, edges = numpy.histogram(numpy.ldexp(values, -exponent), bins=bins)
    if _AXIS_LIMITS[0] <= magnitude <= _AXIS_LIMITS[1]:
        return counts, numpy.ldexp(edges, exponent), 0
    power = math.floor(math.log10(magnitude))
    return counts, edges * 10.0 ** (exponent * math.log10(2) - power), power


def plot_watch(watch: Watch, *, field: str = "norm", select: Select = None):
    """Line plots of one statistic over the recorded steps; returns the Figure.

    One panel for the parameters' values and, when the :class:`Watch`
    recorded gradients, one for the gradients; one line per selected path,
    labelled with it.  The numbers behind the lines are ``watch.series(path,
    field, kind)`` (print them where a figure is not enough: nbval and
    doctests do not compare images).  Like :func:`plot_hist` it needs
    matplotlib and returns the figure closed in pyplot.

    >>> import numpy
    >>> import mxparams as mp
    >>> from mxnet.gluon import nn
    >>> layer = nn.Dense(2, in_units=2)
    >>> layer.initialize()
    >>> watch = mp.Watch(layer, grads=False)
    >>> for step in range(3):
    ...     mp.set_data(layer.bias, numpy.full(2, step + 1.0))
    ...     watch.record(step)
    >>> fig = mp.plot_watch(watch, field="mean", select="bias")
    >>> [(ax.get_title(), [line.get_label() for line in ax.get_lines()])
    ...  for ax in fig.axes]
    [('mean of the values', ['bias'])]
    >>> fig.axes[0].get_lines()[0].get_ydata().tolist()
    [1.0, 2.0, 3.0]
    """
    if not isinstance(watch, Watch):
        raise TypeError(f"plot_watch expects an mp.Watch, got "
                        f"{type(watch).__name__}; record one with "
                        "watch = mp.Watch(net) and watch.record(step)")
    check_str(field, "field", "plot_watch", "a statistic such as 'norm'")
    if field not in STAT_FIELDS:
        raise ValueError(f"plot_watch: unknown field {field!r}; choose one of "
                         f"{', '.join(STAT_FIELDS)}")
    if not watch.rows:
        raise ValueError("plot_watch: nothing recorded yet; call "
                         "watch.record(step) in the training loop first")
    recorded = dict.fromkeys((r.kind, r.path) for r in watch.rows)
    chosen = collect(watch.block, select=select)
    if not any(path in chosen for _, path in recorded):
        raise ValueError(f"plot_watch: select={select!r} matches none of the "
                         "recorded paths; they are "
                         f"{', '.join(dict.fromkeys(p for _, p in recorded))}")
    return _watch_figure(_pyplot(), watch, field, recorded, chosen)


@_arrays.ieee
def _watch_figure(plt, watch: Watch, field: str, recorded: dict, chosen):
    kinds = [k for k in ("data", "grad") if any(k == kind for kind, _ in recorded)]
    fig, axes = plt.subplots(1, len(kinds), squeeze=False,
                             figsize=(5.0 * len(kinds), 3.4))
    plt.close(fig)  # returned, not shown (see plot_hist)
    for ax, kind in zip(axes.flat, kinds, strict=True):
        for path in dict.fromkeys(p for k, p in recorded if k == kind):
            if path in chosen:
                steps, values = watch.series(path, field, kind)
                ax.plot(steps, values, marker=".", label=path)
        ax.set_title(f"{field} of the {'values' if kind == 'data' else 'gradients'}",
                     fontsize=10)
        ax.set_xlabel("step", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
