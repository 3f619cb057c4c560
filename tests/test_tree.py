"""mp.tree: goldens shared by both versions, counts, options."""
import pytest
from mxnet.gluon import nn

import mxparams as mp

from helpers import Holder, chapter_mlp, forward, rgnet, tied_net


def test_nested_network(golden):
    net = rgnet()
    golden("tree_rgnet_deferred.txt", str(mp.tree(net)))
    forward(net, 2, 20)
    t = mp.tree(net)
    golden("tree_rgnet.txt", str(t))
    golden("tree_rgnet.html", t._repr_html_())
    assert t.total == mp.summary(net).total
    golden("tree_rgnet_depth1.txt", str(mp.tree(net, depth=1)))
    cut = mp.tree(net, depth=1)
    assert cut.labels() == ["Sequential", "├── 0: Sequential", "└── 1: Dense"]
    # The rows are data; the branches are drawn when rendered.
    assert [(r.path, r.name, r.kind, r.type, r.level, r.last, r.elements)
            for r in cut.rows] == [
        ("", "", "block", "Sequential", 0, True, 4586),
        ("0", "0", "block", "Sequential", 1, False, 4416),
        ("1", "1", "block", "Dense", 1, True, 170)]


def test_parameters_as_leaves(golden):
    net = tied_net()
    forward(net, 2, 20)
    golden("tree_tied_params.txt", str(mp.tree(net, params=True)))
    assert mp.tree(net).total == mp.summary(net).total


def test_counts_add_up_per_subtree():
    net = Holder(body=rgnet(), head=nn.Dense(3))
    forward(net, 2, 20)
    counts = {r.path: r.elements for r in mp.tree(net).rows}
    assert counts["body"] == mp.summary(net.body).total
    assert counts["head"] == 10 * 3 + 3
    assert counts[""] == mp.summary(net).total
    leaves = [r for r in mp.tree(net, params=True).rows if r.kind == "param"]
    assert [r.path for r in leaves] == list(mp.collect(net))


def test_unknown_counts_show_as_question_marks():
    t = mp.tree(chapter_mlp())
    assert t.total is None
    assert str(t).splitlines()[2].endswith("?")


def test_bad_depth():
    with pytest.raises(ValueError, match="tree: depth counts block levels from 1"):
        mp.tree(chapter_mlp(), depth=0)
    with pytest.raises(TypeError, match="tree: depth must be an int"):
        mp.tree(chapter_mlp(), depth="1")
