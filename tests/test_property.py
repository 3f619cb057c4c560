"""Property test: random nested networks against Gluon's own traversal.

Hypothesis draws a network *description* (so failures shrink and print
readably); the test builds it with real Gluon blocks and checks collect,
get, summary and tree against Gluon itself and against independent
navigation by attribute and index.
"""
import math
import re
import zipfile

import mxnet as mx
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from mxnet import gluon
from mxnet.gluon import nn

import mxparams as mp
from mxparams import _compat

import helpers
from helpers import Holder, initialize

sizes = st.integers(1, 6)
maybe = st.integers(0, 6)  # 0: leave the input size to inference

leaf = st.one_of(
    st.tuples(st.just("dense"), sizes, maybe),
    st.tuples(st.just("conv"), sizes, maybe),
    st.tuples(st.just("batchnorm"), maybe),
    st.tuples(st.just("embedding"), sizes, sizes),
    st.tuples(st.just("layernorm"), maybe),
    st.tuples(st.just("again"), st.integers(0, 50)),  # reuse: tied params
)
names = st.sampled_from(["body", "head", "fc", "enc", "dec", "proj", "x1"])

hybrid = st.recursive(
    leaf, lambda inner: st.tuples(st.just("hseq"),
                                  st.lists(inner, max_size=4)),
    max_leaves=8)
network = st.recursive(
    hybrid,
    lambda inner: st.one_of(
        st.tuples(st.just("seq"), st.lists(inner, max_size=4)),
        st.tuples(st.just("custom"),
                  st.dictionaries(names, inner, max_size=3),
                  st.lists(st.tuples(st.sampled_from(["w", "scale", "c"]),
                                     st.lists(sizes, min_size=1, max_size=3)),
                           max_size=2, unique_by=lambda t: t[0]))),
    max_leaves=14)


def build(spec, made):
    """Build the blocks for ``spec``; ``made`` collects leaves for reuse."""
    kind = spec[0]
    if kind == "again":
        if made:
            return made[spec[1] % len(made)]
        spec = ("dense", 2, 0)
        kind = "dense"
    if kind == "dense":
        block = nn.Dense(spec[1], in_units=spec[2])
    elif kind == "conv":
        block = nn.Conv2D(spec[1], 3, in_channels=spec[2])
    elif kind == "batchnorm":
        block = nn.BatchNorm(in_channels=spec[1])
    elif kind == "embedding":
        block = nn.Embedding(spec[1], spec[2])
    elif kind == "layernorm":
        block = nn.LayerNorm(in_channels=spec[1])
    elif kind in ("seq", "hseq"):
        block = nn.Sequential() if kind == "seq" else nn.HybridSequential()
        for child in spec[1]:
            block.add(build(child, made))
        return block
    else:
        block = Holder(**{n: build(c, made) for n, c in spec[1].items()})
        for name, shape in spec[2]:
            helpers.add_param(block, name, shape=tuple(shape))
        return block
    made.append(block)
    return block


def navigate(root, path):
    """Resolve a path by indexing and attribute access only."""
    *steps, attr = path.split(".")
    block = root
    for step in steps:
        if isinstance(block, (nn.Sequential, nn.HybridSequential)):
            block = block[int(step)]
        else:
            block = getattr(block, step)
    return getattr(block, attr)


def saved_keys(net, tmp_path):
    """The keys, in file order, that Gluon's save_parameters writes."""
    fn = str(tmp_path / "net.params")
    net.save_parameters(fn)
    if zipfile.is_zipfile(fn):  # 2.x writes .npz
        with zipfile.ZipFile(fn) as z:
            return [n[:-len(".npy")] for n in z.namelist()]
    load = mx.npx.load if _compat.current_mode() == "np" else mx.nd.load
    return list(load(fn))


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow,
                                 HealthCheck.function_scoped_fixture])
@given(spec=network, init=st.booleans(), data=st.data())
def test_random_networks(spec, init, data, tmp_path):
    net = build(spec, [])
    if init:
        initialize(net)

    gluon_view = net._collect_params_with_prefix()
    params = mp.collect(net)

    # Keys, order and identity: exactly Gluon's structural traversal.
    assert list(params.items()) == list(gluon_view.items())
    if not _compat.GLOBAL_NAMES:  # 2.x collect_params is structural too
        assert list(params) == list(net.collect_params())
    for path, param in params.items():
        assert type(param) is gluon.Parameter
        assert navigate(net, path) is param
        assert mp.get(net, path) is param
        if _compat.GLOBAL_NAMES:
            assert mp.get(net, param.name) is param

    # The owner of every path is the block at the path's prefix, where the
    # parameter is the attribute named by the path's last part.
    found = _compat.walk(net)
    for path, param in params.items():
        site = found.sites()[path]
        block_path, _, attr = path.rpartition(".")
        assert site.owner is found.nodes[block_path].block
        assert (site.owner_path, site.attr) == (block_path, attr)
        assert getattr(site.owner, attr) is param

    # The keys save_parameters writes, once every shape is known.
    summary = mp.summary(net)
    # (Not summary.pending: Gluon 2 defers a Conv2D's data until the first
    # forward pass even when in_channels makes its shape known.)
    if params and all(_compat.is_initialized(p) for p in params.values()):
        event("checked against save_parameters")
        assert saved_keys(net, tmp_path) == list(params)

    # Summary: one row per path, each object counted once in the totals.
    unique = {id(p): p for p in params.values()}
    event(f"parameters: {'none' if not params else '1-9' if len(params) < 10 else '10+'}")
    event(f"tied: {len(unique) < len(params)}")
    event(f"pending: {summary.pending > 0}")
    event(f"nesting: {max((p.count('.') for p in params), default=0)}")
    assert summary.paths == len(params) and summary.unique == len(unique)
    assert [r.path for r in summary.rows] == list(params)
    firsts = {}
    for row, param in zip(summary.rows, params.values(), strict=True):
        first = firsts.setdefault(id(param), row.path)
        assert row.tied_to == ("" if first == row.path else first)
        assert row.trainable == (param.grad_req != "null")
        raw = _compat.raw_shape(param)
        if raw is not None and None not in raw:  # known to Gluon itself
            assert row.elements == math.prod(raw)
        if row.elements is not None and _compat.is_initialized(param):
            assert row.elements == param.data().size
    if summary.total is not None:
        assert summary.total == sum(
            r.elements for r in summary.rows if not r.tied_to)
        assert summary.total == summary.trainable + summary.non_trainable
    assert mp.tree(net).total == summary.total

    # Selecting by a prefix of some path matches Gluon 2's re.match semantics.
    if params:
        path = data.draw(st.sampled_from(list(params)))
        literal = path[:data.draw(st.integers(0, len(path)))]
        assert list(mp.collect(net, select=re.escape(literal))) == [
            k for k in params if k.startswith(literal)]
