"""Every public function on unusual structures, against Gluon's own traversal.

The networks are in tests/corpus.py.  Gluon's ``_collect_params_with_prefix``
is the ground truth: what ``save_parameters`` writes.  Every function must
agree with it on keys, order and objects, count each Parameter once, and
work (no KeyError, no crash) where the old code assumed a path's prefix
names a child block.
"""
import gc
import math
import sys

import numpy
import pytest
from mxnet import init
from mxnet.gluon import nn

import mxparams as mp
from mxparams import _compat

from corpus import CORPUS, build, gluon_params


def expected_sizes(truth):
    """Elements of each distinct Parameter (None while its shape is unknown),
    taken from the data Gluon holds, not from mxparams."""
    sizes = {}
    for param in truth.values():
        if id(param) not in sizes:
            sizes[id(param)] = (math.prod(param.data().shape)
                                if _compat.is_initialized(param) else None)
    return sizes


def firsts(truth):
    seen = {}
    return {path: seen.setdefault(id(p), path) for path, p in truth.items()}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_every_function_agrees_with_gluon(name, tmp_path):
    net = build(name)
    truth = gluon_params(net)
    assert truth, "every corpus network has parameters"
    first = firsts(truth)

    # collect and get: Gluon's keys, order and very objects.
    params = mp.collect(net)
    assert list(params.items()) == list(truth.items())
    for path, param in truth.items():
        assert mp.get(net, path) is param
    assert mp.tied_groups(net) == [
        [p for p in truth if first[p] == f] for f in dict.fromkeys(first.values())
        if list(first.values()).count(f) > 1]

    # summary: a row per path, each Parameter counted once.
    sizes = expected_sizes(truth)
    known = [s for s in sizes.values() if s is not None]
    s = mp.summary(net)
    assert [r.path for r in s.rows] == list(truth)
    assert [r.tied_to for r in s.rows] == [
        "" if first[p] == p else first[p] for p in truth]
    assert s.unique == len(sizes) and s.pending == len(sizes) - len(known)
    assert s.known_elements == sum(known)
    assert s.total == (sum(known) if len(known) == len(sizes) else None)
    for row, param in zip(s.rows, truth.values(), strict=True):
        if _compat.is_initialized(param):
            assert row.elements == param.data().size
            assert row.shape == tuple(param.data().shape)
    for depth in (1, 2, 3):
        cut = mp.summary(net, depth=depth)
        assert cut.total == s.total and cut.paths == s.paths
        assert sum(r.tensors or 1 for r in cut.rows) == len(truth)

    # tree: the same total; with params=True a leaf per path.
    assert mp.tree(net).total == s.total
    leaves = [r for r in mp.tree(net, params=True).rows if r.kind == "param"]
    assert [r.path for r in leaves] == list(truth)
    assert [r.tied_to for r in leaves] == [
        "" if first[p] == p else first[p] for p in truth]

    # statistics and checks read every path.
    assert [r.path for r in mp.stats(net).rows] == list(truth)
    assert not mp.check_finite(net, raise_error=False)
    assert not mp.check_replicas(net)

    # save and load into a twin: the same values at every path.
    if s.pending == 0 and all(_compat.is_initialized(p) for p in truth.values()):
        path = tmp_path / "corpus.params"
        mp.save(net, path)
        twin = build(name)
        report = mp.load(twin, path)
        assert report.loaded == [p for p in truth if first[p] == p]
        for p, param in gluon_params(twin).items():
            numpy.testing.assert_array_equal(param.data().asnumpy(),
                                             truth[p].data().asnumpy())

    # initialize every Parameter once, at its first path.
    mp.initialize(net, init.Constant(0.25))
    assert all(_compat.is_initialized(p) or _compat.is_pending(p)
               for p in truth.values())

    # tie a twin to the network: every path then holds the network's object.
    twin = build(name)
    mp.tie(twin, net)
    assert all(param is truth[p] for p, param in gluon_params(twin).items())
    assert list(mp.collect(twin).items()) == list(truth.items())


def test_fused_lstm_paths_are_gluons_on_each_version(golden):
    """One golden per MXNet version, the exception to "one golden for both":
    1.9.1 builds unfused per-layer, per-direction cells
    ('_unfused.0.l_cell.i2h_weight', 16 tensors here), 2.0 one flat
    'rnn_param' whose size is known after the first forward pass
    (docs/compatibility.md §3)."""
    net = build("lstm_2layers_bidirectional")
    # Not run: 2.0 sizes rnn_param at the first forward pass only, and
    # without oneDNN the fused RNN kernel of both versions fails.
    version = _compat.MXNET_VERSION.split(".")[0]
    golden(f"summary_lstm_bidirectional.mxnet{version}.txt", str(mp.summary(net)))
    golden(f"tree_lstm_bidirectional.mxnet{version}.txt",
           str(mp.tree(net, params=True)))


def test_symbolblock_keys_are_gluons_on_each_version(golden):
    """One golden per MXNet version, the exception to "one golden for both":
    a 1.9.1 SymbolBlock keys its parameters by 1.x global names with their
    common prefix cut ('dense0_weight', 'dense1_weight' -> '0_weight',
    '1_weight'), 2.0 by the exported network's paths ('0.weight')
    (docs/compatibility.md §3)."""
    for forward in (False, True):
        net = build("symbolblock_after_forward" if forward else "symbolblock")
        version = _compat.MXNET_VERSION.split(".")[0]
        # Shapes come from the loaded data: Gluon leaves Parameter.shape
        # None there, before and after a forward pass, on both versions.
        golden(f"summary_symbolblock.mxnet{version}.txt", str(mp.summary(net)))


def test_blocks_with_keys_of_their_own_print_the_same_on_both(golden):
    net = build("encoder")
    text = str(mp.summary(net, select=r"(embed|attention)\."))
    golden("summary_attention_cell.txt", text)
    assert "attention.proj_query.weight" in text
    golden("summary_encoder_depth1.txt",
           str(mp.summary(net, select=r"(embed|attention)\.", depth=1)))


def test_a_garbage_collected_child_is_named():
    """2.x keeps children added with register_child as weak references; 1.x
    keeps the blocks.  On 2.x mxparams names the lost child before Gluon's
    own traversal fails with "'NoneType' object has no attribute"."""
    net = nn.HybridSequential()
    net.add(nn.Dense(2, in_units=2))
    inner = nn.HybridSequential()
    net.add(inner)
    inner.register_child(nn.Dense(3, in_units=2), "lost")
    gc.collect()
    if _compat.GLOBAL_NAMES:  # 1.x: a strong reference, nothing is lost
        assert list(mp.collect(net)) == ["0.weight", "0.bias", "1.lost.weight",
                                         "1.lost.bias"]
        return
    with pytest.raises(AttributeError):
        net._collect_params_with_prefix()
    for call in (mp.collect, mp.summary, mp.tree, mp.stats, mp.tied_groups):
        with pytest.raises(RuntimeError, match=(
                r"the child block at path '1\.lost' \(HybridSequential child "
                r"'lost'\) was garbage collected")):
            call(net)


def test_deeper_than_gluons_recursion_limit():
    """Gluon's traversal recurses once per level and stops near Python's
    recursion limit; the walk keeps its own stack."""
    net = top = nn.HybridSequential()
    depth = sys.getrecursionlimit() + 100
    for _ in range(depth):
        inner = nn.HybridSequential()
        net.add(inner)
        net = inner
    net.add(nn.Dense(2, in_units=3))
    with pytest.raises(RecursionError):
        top._collect_params_with_prefix()
    path = ".".join(["0"] * (depth + 1))
    assert list(mp.collect(top)) == [path + ".weight", path + ".bias"]
    assert mp.summary(top).total == 8
    assert [r.path for r in mp.summary(top, depth=2).rows] == ["0.0"]
