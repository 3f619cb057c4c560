"""Structures without unique structural paths fail clearly; sharing works.

Issue 22, points 4 and 5: a child registered under the empty name made
``mp.tree`` loop forever, a block containing itself made every walk grow
without end, and a child named 'a.b' next to a child 'a' holding 'b' gave
two Parameters the path 'a.b.weight' (``collect`` kept one, ``save`` and
``load`` silently skipped the other).  Both MXNet versions build all of
these (``register_child`` takes any name and any block, the block itself
included), so every case runs on both.  Each call runs under a time limit:
a regression to an endless walk fails here instead of hanging the suite.
"""
import itertools
import signal

import numpy
import pytest
from mxnet import gluon
from mxnet.gluon import nn

import mxparams as mp
from mxparams.errors import StructureError

import helpers
from helpers import initialize, tied_net, uniform

LIMIT = 3.0  # seconds; every call here takes milliseconds when it ends


class Hung(Exception):
    """The call did not end within LIMIT seconds."""


def within_limit(func, *args, **kwargs):
    """func(*args, **kwargs), stopped by SIGALRM after LIMIT seconds.

    The walks are Python loops, so the signal's handler runs inside them
    and ends an endless one; a thread with a join timeout could not stop it.
    """
    def stop(signum, frame):
        raise Hung(f"{getattr(func, '__name__', func)} ran for over {LIMIT} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, LIMIT)
    try:
        return func(*args, **kwargs)
    except Hung as hung:
        message = str(hung)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    # Raised again out here, without the traceback: the frames of an
    # endless walk hold gigabytes of ever longer paths.
    raise Hung(message)


def dense():
    return nn.Dense(2, in_units=3)


# Each builder returns (network, blocks to keep alive): Gluon 2 holds
# children added with register_child by weak reference only.

def empty_name_at_root():
    child = dense()
    net = nn.HybridSequential()
    net.add(nn.Dense(3, in_units=3))
    net.register_child(child, "")
    return net, [child]


def empty_name_nested():
    inner, child = nn.HybridSequential(), dense()
    inner.register_child(child, "")
    net = nn.HybridSequential()
    net.add(nn.Dense(3, in_units=3), inner)
    return net, [inner, child]


def dotted_name_after():
    """Child 'a' holding 'b', then a different child registered as 'a.b'."""
    a, b, other = nn.HybridSequential(), dense(), dense()
    a.register_child(b, "b")
    net = nn.HybridSequential()
    net.register_child(a, "a")
    net.register_child(other, "a.b")
    return net, [a, b, other]


def dotted_name_before():
    a, b, other = nn.HybridSequential(), dense(), dense()
    a.register_child(b, "b")
    net = nn.HybridSequential()
    net.register_child(other, "a.b")
    net.register_child(a, "a")
    return net, [a, b, other]


def dotted_parameter_name():
    """A parameter attribute 'x.weight' next to a child 'x' with 'weight'."""
    net, x = nn.HybridSequential(), dense()
    helpers.add_param(net, "x.weight", shape=(2, 3))
    net.register_child(x, "x")
    return net, [x]


class OwnKeys(gluon.Block):
    """Lists its parameter under a key of its own, as 1.x fused RNN layers
    and NLP-toolkit attention cells do (compatibility §3)."""

    def __init__(self):
        super().__init__()
        helpers.add_param(self, "query_weight", shape=(2, 3))

    def _collect_params_with_prefix(self, prefix="", select=None):
        return {prefix + ".proj.weight": self.query_weight}


def own_key_collision():
    """Its key 'cell.proj.weight' is also the path of a child's weight."""
    net, cell = nn.Sequential(), OwnKeys()  # 1.x: no Block in a HybridBlock
    proj = nn.Dense(2, in_units=3, use_bias=False)
    net.register_child(cell, "cell")
    net.register_child(proj, "cell.proj")
    return net, [cell, proj]


def self_cycle():
    net = nn.HybridSequential()
    net.add(dense())
    net.register_child(net, "me")
    return net, []


def mutual_cycle():
    p, q = nn.HybridSequential(), nn.HybridSequential()
    p.add(dense())
    p.register_child(q, "q")
    q.register_child(p, "p")
    return p, [q]


def cycle_below_root():
    """A cycle below the root, reached after sibling subtrees that go
    deeper than the block that closes it."""
    p, q, deeper = nn.HybridSequential(), nn.HybridSequential(), nn.HybridSequential()
    deeper.add(dense())
    q.add(deeper)
    p.register_child(q, "q")
    q.register_child(p, "p")
    net = nn.HybridSequential()
    net.add(dense(), p)
    return net, [p, q, deeper]


def nested(levels, last=None):
    """``levels`` HybridSequentials each the child 'n' of the one above;
    the innermost holds ``last`` if given.  (outermost, all of them)"""
    blocks = [nn.HybridSequential() for _ in range(levels)]
    for outer, inner in itertools.pairwise(blocks):
        outer.register_child(inner, "n")
    if last is not None:
        blocks[-1].register_child(last, "n")
    return blocks[0], blocks


def long_cycle_through_root():
    """20 blocks, the last holding the first: longer than the level from
    which the walk looks for cycles (_compat._CYCLE_LEVEL)."""
    net, blocks = nested(20)
    blocks[-1].add(dense())
    blocks[-1].register_child(net, "back")
    return net, blocks


def cycle_far_down():
    """The block at level 24 holds its parent, at level 23."""
    net, blocks = nested(25)
    blocks[-1].register_child(blocks[-2], "up")
    return net, blocks


DEEP = ".".join(["n"] * 19)

# The exact messages: the same on both versions (this file runs on both).
MESSAGES = {
    empty_name_at_root: (
        "the root block (HybridSequential) has a child (Dense) registered "
        "under the empty name '': structural paths join child names with "
        "'.', so the child would have no path of its own and its "
        "parameters' paths could clash with its parent's; give the child a "
        "non-empty name without '.', such as 'head'"),
    empty_name_nested: (
        "block '1' (HybridSequential) has a child (Dense) registered under "
        "the empty name '': structural paths join child names with '.', so "
        "the child would have no path of its own and its parameters' paths "
        "could clash with its parent's; give the child a non-empty name "
        "without '.', such as 'head'"),
    dotted_name_after: (
        "two different blocks have the structural path 'a.b': a Dense "
        "registered as child 'b' of block 'a' (HybridSequential), and a "
        "Dense registered as child 'a.b' of the root block "
        "(HybridSequential); their parameters would share paths and "
        "save/load would keep only one of each; register child 'a.b' of the "
        "root block under a name without '.', such as 'a_b'"),
    dotted_name_before: (
        "two different blocks have the structural path 'a.b': a Dense "
        "registered as child 'a.b' of the root block (HybridSequential), "
        "and a Dense registered as child 'b' of block 'a' "
        "(HybridSequential); their parameters would share paths and "
        "save/load would keep only one of each; register child 'a.b' of the "
        "root block under a name without '.', such as 'a_b'"),
    dotted_parameter_name: (
        "two different parameters have the structural path 'x.weight': "
        "parameter 'x.weight' of the root block (HybridSequential), and "
        "parameter 'weight' of block 'x' (Dense); save/load would keep only "
        "one of them; register children and parameters under names without "
        "'.'"),
    own_key_collision: (
        "two different parameters have the structural path "
        "'cell.proj.weight': the key 'cell.proj.weight' listed by block "
        "'cell' (OwnKeys), and parameter 'weight' of block 'cell.proj' "
        "(Dense); save/load would keep only one of them; register children "
        "and parameters under names without '.'"),
    self_cycle: (
        "the root block (HybridSequential) contains itself: it is "
        "registered as its own child 'me', so its structural paths would "
        "never end ('me', 'me.me', ...); a block may be used at several "
        "paths, but not inside itself: remove that registration"),
    mutual_cycle: (
        "the root block (HybridSequential) contains itself: it is "
        "registered as child 'p' of block 'q' (HybridSequential), which it "
        "contains, so its structural paths would never end ('q.p', "
        "'q.p.q.p', ...); a block may be used at several paths, but not "
        "inside itself: remove that registration"),
    cycle_below_root: (
        "block '1' (HybridSequential) contains itself: it is registered as "
        "child 'p' of block '1.q' (HybridSequential), which it contains, so "
        "its structural paths would never end ('1.q.p', '1.q.p.q.p', ...); "
        "a block may be used at several paths, but not inside itself: "
        "remove that registration"),
    long_cycle_through_root: (
        "the root block (HybridSequential) contains itself: it is "
        f"registered as child 'back' of block '{DEEP}' (HybridSequential), "
        f"which it contains, so its structural paths would never end "
        f"('{DEEP}.back', '{DEEP}.back.{DEEP}.back', ...); a block may be "
        "used at several paths, but not inside itself: remove that "
        "registration"),
    cycle_far_down: (
        f"block '{DEEP}.n.n.n.n' (HybridSequential) contains itself: it is "
        f"registered as child 'up' of block '{DEEP}.n.n.n.n.n' "
        f"(HybridSequential), which it contains, so its structural paths "
        f"would never end ('{DEEP}.n.n.n.n.n.up', '{DEEP}.n.n.n.n.n.up.n.up', "
        "...); a block may be used at several paths, but not inside itself: "
        "remove that registration"),
}
CASES = list(MESSAGES)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A file saved from an ordinary network, for load."""
    net = nn.HybridSequential()
    net.add(dense())
    net.initialize()
    file = tmp_path_factory.mktemp("walk") / "plain.params"
    mp.save(net, file)
    return file


def dense_layers(blocks):
    """The Dense layers among ``blocks`` and their children, each once."""
    found = {}
    for block in blocks:
        for layer in [block] + [child for _, child in helpers.children(block)]:
            if isinstance(layer, nn.Dense):
                found[id(layer)] = layer
    return list(found.values())


def fails_clearly(case, func, *args, **kwargs):
    net, keep = case()
    with pytest.raises(StructureError) as raised:
        within_limit(func, net, *args, **kwargs)
    assert str(raised.value) == MESSAGES[case]
    assert isinstance(raised.value, ValueError)
    return net, keep


def test_gluon_builds_every_case():
    """Neither version refuses to build these structures, which is why
    the walk has to."""
    for case in CASES:
        net, keep = case()
        assert isinstance(net, gluon.Block)
    net, _ = empty_name_at_root()
    assert "" in net._children
    net, _ = dotted_name_after()
    assert list(net._children) == ["a", "a.b"]
    net, _ = self_cycle()
    assert helpers.children(net)[1] == ("me", net)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_collect(case):
    fails_clearly(case, mp.collect)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("options", [{}, {"depth": 1, "params": True}],
                         ids=["all", "depth1"])
def test_tree(case, options):
    fails_clearly(case, mp.tree, **options)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("options", [{}, {"depth": 1}], ids=["all", "depth1"])
def test_summary(case, options):
    fails_clearly(case, lambda net: str(mp.summary(net, **options)))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_save_writes_nothing(case, tmp_path):
    file = tmp_path / "net.params"
    fails_clearly(case, mp.save, file)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("strict", [True, False])
def test_load_changes_nothing(case, strict, checkpoint):
    net, keep = case()
    layers = dense_layers([net] + keep)
    for layer in layers:
        layer.initialize(force_reinit=True)
    before = {id(p): p.data().asnumpy().copy()
              for layer in layers for p in layer._reg_params.values()}
    with pytest.raises(StructureError) as raised:
        within_limit(mp.load, net, checkpoint, strict=strict)
    assert str(raised.value) == MESSAGES[case]
    for layer in layers:
        for param in layer._reg_params.values():
            numpy.testing.assert_array_equal(param.data().asnumpy(),
                                             before[id(param)])


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("call", [
    lambda net: mp.get(net, "weight"),
    mp.tied_groups,
    mp.stats,
    lambda net: mp.check_finite(net, raise_error=False),
    mp.check_replicas,
    mp.initialize,
    lambda net: mp.tie(net, net),
    lambda net: mp.tie(nn.Dense(2, in_units=3), net),
], ids=["get", "tied_groups", "stats", "check_finite", "check_replicas",
        "initialize", "tie_dst", "tie_src"])
def test_every_other_walk(case, call):
    fails_clearly(case, call)


def test_dotted_collision_saves_no_partial_file(tmp_path):
    """Before: save wrote one of the two 'a.b.weight' and said nothing."""
    net, keep = dotted_name_after()
    for layer in keep[1:]:
        layer.initialize()
    with pytest.raises(StructureError, match="'a.b'"):
        within_limit(mp.save, net, tmp_path / "net.safetensors")
    assert not (tmp_path / "net.safetensors").exists()


def test_dotted_collision_loads_nothing_from_a_matching_file(tmp_path):
    """Before: a file with 'a.b.weight' loaded into one of the two layers."""
    twin = nn.HybridSequential()
    twin.a = nn.HybridSequential()
    twin.a.b = dense()
    twin.initialize()
    mp.save(twin, tmp_path / "twin.params")
    net, (a, b, other) = dotted_name_after()
    b.initialize()
    other.initialize()
    kept = b.weight.data().asnumpy().copy(), other.weight.data().asnumpy().copy()
    with pytest.raises(StructureError, match="'a.b'"):
        within_limit(mp.load, net, tmp_path / "twin.params")
    numpy.testing.assert_array_equal(b.weight.data().asnumpy(), kept[0])
    numpy.testing.assert_array_equal(other.weight.data().asnumpy(), kept[1])


# -- what stays legal ------------------------------------------------------

def test_tied_layers_are_no_cycle(tmp_path):
    """The same block at two paths (tied layers) works as before."""
    net = tied_net()
    initialize(net)
    net(uniform(2, 20)).wait_to_read()
    paths = ["0.weight", "0.bias", "1.weight", "1.bias", "2.weight",
             "2.bias", "3.weight", "3.bias"]
    assert list(within_limit(mp.collect, net)) == paths
    assert list(net._collect_params_with_prefix()) == paths
    assert mp.tied_groups(net) == [["1.weight", "2.weight"], ["1.bias", "2.bias"]]
    rows = within_limit(mp.tree, net).rows
    assert [r.path for r in rows] == ["", "0", "0.act", "1", "1.act", "2",
                                      "2.act", "3"]
    assert within_limit(mp.summary, net, depth=1).total == mp.summary(net).total
    saved = {path: p.data().asnumpy().copy() for path, p in mp.collect(net).items()}
    within_limit(mp.save, net, tmp_path / "tied.params")
    for param in mp.collect(net).unique():
        param.set_data(param.data() * 0)
    within_limit(mp.load, net, tmp_path / "tied.params")
    for path, param in mp.collect(net).items():
        numpy.testing.assert_array_equal(param.data().asnumpy(), saved[path])
    assert net[1].weight is net[2].weight


def test_block_shared_at_different_depths():
    """One block inside another and beside it is shared, not a cycle."""
    shared = dense()
    inner = nn.HybridSequential()
    inner.add(shared)
    net = nn.HybridSequential()
    net.add(inner, shared)
    assert list(within_limit(mp.collect, net)) == [
        "0.0.weight", "0.0.bias", "1.weight", "1.bias"]
    assert [r.path for r in mp.tree(net).rows] == ["", "0", "0.0", "1"]


def test_same_block_twice_at_one_path_is_listed_once():
    """Child 'a.b' and child 'b' of 'a' being one block: one path, one
    Parameter each, so nothing clashes (Gluon lists each key once too)."""
    a, b = nn.HybridSequential(), dense()
    a.register_child(b, "b")
    net = nn.HybridSequential()
    net.register_child(b, "a.b")
    net.register_child(a, "a")
    params = within_limit(mp.collect, net)
    assert list(params) == ["a.b.weight", "a.b.bias"]
    assert params["a.b.weight"] is b.weight
    assert list(net._collect_params_with_prefix()) == list(params)
    assert [r.path for r in within_limit(mp.tree, net).rows] == ["", "a.b", "a"]


def test_deep_network_sharing_a_block_at_several_depths():
    """Deeper than the level where cycles are looked for, one block with a
    child used at levels 17 and 19 of sibling subtrees is no cycle."""
    shared = nn.Dense(2, in_units=2, activation="relu")
    net, blocks = nested(17)
    side, middle = nn.HybridSequential(), nn.HybridSequential()
    side.register_child(middle, "m")
    middle.register_child(shared, "s")
    blocks[-1].register_child(shared, "s")
    blocks[-1].register_child(side, "side")
    paths = list(within_limit(mp.collect, net))
    assert paths == [f"{'.'.join(['n'] * 16)}.{tail}" for tail in
                     ("s.weight", "s.bias", "side.m.s.weight", "side.m.s.bias")]
    rows = within_limit(mp.tree, net).rows
    assert [r.level for r in rows if r.path.endswith(".s")] == [17, 19]
    assert len(within_limit(mp.summary, net).rows) == 4


def test_dotted_name_without_collision_keeps_working():
    """A dotted name alone clashes with nothing: the keys stay Gluon's."""
    net = nn.HybridSequential()
    layer = dense()
    net.register_child(layer, "x.y")
    assert list(within_limit(mp.collect, net)) == ["x.y.weight", "x.y.bias"]
    assert list(net._collect_params_with_prefix()) == ["x.y.weight", "x.y.bias"]
    assert [r.path for r in within_limit(mp.tree, net).rows] == ["", "x.y"]
