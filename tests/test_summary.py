"""mp.summary: goldens shared by both versions, totals, options, errors."""
import math

import pytest
from mxnet.gluon import nn

import mxparams as mp

import helpers
from helpers import Holder, chapter_mlp, forward, rgnet, tied_net


def layer_zoo():
    """Layers whose parameter shapes Gluon 1.x and 2.x know differently
    before the first forward pass (docs/compatibility.md §4), plus the usual ones."""
    net = Holder(
        dense=nn.Dense(3, in_units=2),
        dense_deferred=nn.Dense(3),
        conv=nn.Conv2D(4, 3, in_channels=2),
        conv_groups=nn.Conv2D(4, 3, in_channels=2, groups=2),
        conv_nhwc=nn.Conv2D(4, 3, in_channels=2, layout="NHWC"),
        conv1d=nn.Conv1D(4, 3, in_channels=2),
        conv3d=nn.Conv3D(4, 3, in_channels=2, use_bias=False),
        deconv=nn.Conv2DTranspose(4, 3, in_channels=6, groups=2),
        conv_deferred=nn.Conv2D(4, 3),
        bn=nn.BatchNorm(in_channels=3),
        bn_deferred=nn.BatchNorm(),
        ln=nn.LayerNorm(in_channels=5),
        emb=nn.Embedding(10, 4),
        prelu=nn.PReLU(),  # one alpha: MXNet 1.6.0's PReLU has no in_channels
    )
    helpers.add_param(net, "scale", shape=(2, 2), grad_req="null")
    return net


def test_chapter_mlp_before_and_after_the_forward_pass(golden):
    net = chapter_mlp()
    before = mp.summary(net)
    golden("summary_mlp_deferred.txt", str(before))
    assert (before.total, before.trainable, before.non_trainable) == (None,) * 3
    assert before.pending == 2 and before.known_elements == 266
    forward(net, 2, 20)
    after = mp.summary(net)
    golden("summary_mlp.txt", str(after))
    golden("summary_mlp.html", after._repr_html_())
    assert after.total == 20 * 256 + 256 + 256 * 10 + 10
    assert after.trainable == after.total and after.non_trainable == 0
    assert after.nbytes == 4 * after.total


def test_repr_is_the_text_table():
    s = mp.summary(chapter_mlp())
    assert repr(s) == str(s) == s.table().to_text()


def test_layers_before_the_first_forward_pass(golden):
    net = layer_zoo()
    conv = net.conv.weight
    raw = conv.shape
    golden("summary_layers.txt", str(mp.summary(net)))
    assert conv.shape == raw  # display-only: the Parameter is untouched
    row = {r.path: r for r in mp.summary(net).rows}
    assert row["conv.weight"].shape == (4, 2, 3, 3)
    assert row["conv_nhwc.weight"].shape == (4, 3, 3, 2)
    assert row["deconv.weight"].shape == (6, 2, 3, 3)
    assert row["conv_deferred.weight"].shape == (4, None, 3, 3)
    assert row["scale"].trainable is False and row["scale"].layer == "Holder"


def test_nested_network_full_and_by_depth(golden):
    net = rgnet()
    forward(net, 2, 20)
    full = mp.summary(net)
    golden("summary_rgnet.txt", str(full))
    golden("summary_rgnet_depth1.txt", str(mp.summary(net, depth=1)))
    golden("summary_rgnet_depth2.txt", str(mp.summary(net, depth=2)))
    for depth in (1, 2, 3, 9):
        cut = mp.summary(net, depth=depth)
        assert cut.total == full.total  # depth changes rows, never totals
        assert sum(r.elements for r in cut.rows) == full.total
        assert all(len(r.path.split(".")) <= depth for r in cut.rows)
    assert [r.path for r in mp.summary(net, depth=1).rows] == ["0", "1"]
    assert mp.summary(net, depth=9).rows == full.rows


def test_tied_parameters_are_shown_and_counted_once(golden):
    net = tied_net()
    forward(net, 2, 20)
    s = mp.summary(net)
    golden("summary_tied.txt", str(s))
    golden("summary_tied.html", s._repr_html_())
    tied = {r.path: r.tied_to for r in s.rows if r.tied_to}
    assert tied == {"2.weight": "1.weight", "2.bias": "1.bias"}
    unique = {id(p): p for p in mp.collect(net).values()}.values()
    # Dense 20->8, the shared Dense 8->8 (once), Dense 8->10.
    assert s.total == sum(p.data().size for p in unique) == (
        20 * 8 + 8) + (8 * 8 + 8) + (8 * 10 + 10)
    assert s.paths == 8 and s.unique == 6
    # Tied to a path outside the selection: still named, counted once.
    only2 = mp.summary(net, select="2")
    assert [r.tied_to for r in only2.rows] == ["1.weight", "1.bias"]
    assert only2.total == 8 * 8 + 8


def test_batchnorm_running_statistics_are_not_trainable(golden):
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, in_channels=3), nn.BatchNorm(), nn.Dense(2))
    forward(net, 1, 3, 6, 6)
    s = mp.summary(net)
    golden("summary_conv_bn.txt", str(s))
    assert s.non_trainable == 2 * 4
    assert s.trainable == 4 * 3 * 3 * 3 + 4 + 2 * 4 + 2 * 4 * 4 * 4 + 2


def test_bytes_follow_the_dtype(golden):
    net = nn.HybridSequential()
    net.add(nn.Dense(4, in_units=4), nn.Dense(2, in_units=4))
    # Initialize in float32, then cast: 1.x numpy mode cannot initialize
    # other dtypes directly (docs/compatibility.md §5).
    net.initialize()
    net[0].cast("float16")
    net[1].cast("float64")
    s = mp.summary(net)
    golden("summary_dtypes.txt", str(s))
    assert s.nbytes == 2 * (16 + 4) + 8 * (8 + 2)
    assert [r.dtype for r in mp.summary(net, depth=1).rows] == [
        "float16", "float64"]
    outer = nn.HybridSequential()
    outer.add(net)
    assert mp.summary(outer, depth=1).rows[0].dtype == "mixed"


def test_select(golden):
    net = rgnet()
    forward(net, 2, 20)
    s = mp.summary(net, select=[r".*\.bias", "1"])
    golden("summary_rgnet_select.txt", str(s))
    assert s.total == 4 * (32 + 16) + 10 * 16 + 10


def test_text_does_not_depend_on_the_terminal(monkeypatch):
    net = rgnet()
    wide = str(mp.summary(net))
    monkeypatch.setenv("COLUMNS", "20")
    monkeypatch.setenv("LINES", "5")
    assert str(mp.summary(net)) == wide
    assert max(len(line) for line in wide.splitlines()) > 20


@pytest.mark.parametrize("depth", [0, -1])
def test_depth_counts_block_levels_from_1(depth):
    with pytest.raises(ValueError, match=(
            r"^summary: depth counts block levels from 1, the network's "
            rf"children, got {depth}$")):
        mp.summary(chapter_mlp(), depth=depth)


@pytest.mark.parametrize("depth", [1.5, "2", True])
def test_depth_must_be_an_int(depth):
    with pytest.raises(TypeError, match=(
            r"^summary: depth must be an int \(block levels from 1, the "
            rf"network's children\) or None, got {type(depth).__name__} ")):
        mp.summary(chapter_mlp(), depth=depth)


def test_element_counts_are_products_of_shapes():
    net = layer_zoo()
    forward_free = mp.summary(net)
    for row in forward_free.rows:
        if row.shape is not None and None not in row.shape:
            assert row.elements == math.prod(row.shape)
        else:
            assert row.elements is None
