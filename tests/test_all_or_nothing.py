"""Every function that changes a network changes all of it or nothing.

Each test makes the change fail at the first, a middle and the last
parameter it touches, and checks that afterwards every parameter is the
same object in the same state (data, gradient arrays, initialization and
deferred state, devices, shape), that ties are as they were, and that the
network still runs.
"""
import mxnet as mx
import numpy
import pytest
from mxnet import gluon, init
from mxnet.gluon import nn

import mxparams as mp
from mxparams import _compat

from ckpt_common import compat_net, fill
from helpers import forward, initialize, tied_net, uniform


def state(net):
    """Everything about a network's parameters that a change could touch."""
    out = {}
    for path, param in net._collect_params_with_prefix().items():
        data = param._data
        out[path] = (id(param), _compat.is_initialized(param),
                     bool(_compat.is_pending(param)), _compat.raw_shape(param),
                     [a.asnumpy().copy() for a in data] if data else None,
                     [id(a) for a in data] if data else None,
                     tuple(map(str, _compat.devices(param))))
    return out, mp.tied_groups(net)


def assert_same(before, after):
    (params_a, ties_a), (params_b, ties_b) = before, after
    assert ties_a == ties_b
    assert params_a.keys() == params_b.keys()
    for path in params_a:
        a, b = params_a[path], params_b[path]
        assert a[:4] == b[:4] and a[5:] == b[5:], path
        if a[4] is None:
            assert b[4] is None, path
        else:
            for x, y in zip(a[4], b[4], strict=True):
                numpy.testing.assert_array_equal(x, y, err_msg=path)


POSITIONS = ["first", "middle", "last"]


def at(position, items):
    return items[{"first": 0, "middle": len(items) // 2, "last": -1}[position]]


class FailingAt(mp.Initializer):
    """Writes a constant, and raises at one path: after writing."""

    def __init__(self, path):
        super().__init__()
        self.path = path

    def init_weight(self, path, arr):
        arr[:] = -1
        if path == self.path:
            raise RuntimeError(f"initializer failed at {path}")

    init_bias = init_weight


def five_layers():
    net = nn.HybridSequential()
    for _ in range(5):
        net.add(nn.Dense(3, in_units=3))
    initialize(net)
    return net


@pytest.mark.parametrize("position", POSITIONS)
def test_initialize_fails_at_any_parameter(position):
    net = five_layers()
    # Biases have their own initializer ('zeros'); the weights get ours.
    weights = [p for p in mp.collect(net) if p.endswith("weight")]
    before = state(net)
    with pytest.raises(RuntimeError, match="initializer failed"):
        mp.initialize(net, FailingAt(at(position, weights)))
    assert_same(before, state(net))
    net(uniform(2, 3)).wait_to_read()  # still runs


@pytest.mark.parametrize("position", POSITIONS)
def test_initialize_of_a_half_deferred_network_fails_cleanly(position):
    """Parameters of unknown shape wait for the forward pass; the ones with
    a shape are computed; a failure leaves both kinds as they were."""
    net = nn.HybridSequential()
    net.add(nn.Dense(4, in_units=3), nn.Dense(2), nn.Dense(3, in_units=2))
    initialize(net)
    known = ["0.weight", "2.weight"]  # 1.weight waits for its shape
    before = state(net)
    failing = {"first": "0.weight", "middle": "2.weight", "last": "2.weight"}
    with pytest.raises(RuntimeError, match="initializer failed"):
        mp.initialize(net, FailingAt(failing[position]), select=r".*weight")
    assert_same(before, state(net))
    assert _compat.is_pending(net[1].weight) and known


def test_a_builtin_initializer_that_fails_late_changes_nothing():
    # Bilinear needs a 4-d weight: Gluon raises after clearing the data.
    layer = nn.Dense(2, in_units=2)
    layer.initialize(init.Constant(5))
    before = state(layer)
    with pytest.raises(IndexError):  # Bilinear reads shape[3] of a 2-d weight
        mp.initialize(layer, "bilinear")
    assert_same(before, state(layer))
    assert layer.weight.data().asnumpy().tolist() == [[5, 5], [5, 5]]


def test_initialize_still_matches_gluon_bit_for_bit():
    mx.random.seed(7)
    ours = compat_net()
    mp.initialize(ours, init.Xavier())
    mx.random.seed(7)
    theirs = compat_net()
    theirs.initialize(init.Xavier())
    for (path, a), b in zip(mp.collect(ours).items(), mp.collect(theirs).values(), strict=True):
        numpy.testing.assert_array_equal(a.data().asnumpy(), b.data().asnumpy(),
                                         err_msg=path)


@pytest.mark.parametrize("position", POSITIONS)
def test_tie_refused_at_any_path(position):
    dst, src = compat_net(), compat_net()
    fill(dst, seed=1)
    fill(src, seed=2)
    # A source whose shape differs at one path only.
    paths = list(mp.collect(src))
    bad = at(position, paths)
    owner, _, attr = bad.rpartition(".")
    other = nn.HybridSequential()
    other.add(nn.Dense(5, in_units=3) if owner == "0" else nn.Dense(4, in_units=3),
              nn.BatchNorm(in_channels=5 if owner == "1" else 4),
              nn.Dense(3 if owner == "2" else 2, in_units=4))
    initialize(other)
    before = state(dst)
    with pytest.raises(mp.ShapeMismatch, match=bad.replace(".", r"\.")):
        mp.tie(dst, other)
    assert_same(before, state(dst))


@pytest.mark.parametrize("position", POSITIONS)
def test_tie_that_fails_midway_is_rolled_back(position, monkeypatch):
    dst, src = compat_net(), compat_net()
    fill(dst, seed=1)
    fill(src, seed=2)
    real = _compat.share
    fail_at = {"first": 0, "middle": 3, "last": 7}[position]

    def share(replacements):
        replacements = list(replacements)
        real(replacements[:fail_at])
        raise RuntimeError("interrupted while tying")

    monkeypatch.setattr(_compat, "share", share)
    before = state(dst)
    with pytest.raises(RuntimeError, match="interrupted"):
        mp.tie(dst, src)
    assert_same(before, state(dst))
    monkeypatch.undo()
    mp.tie(dst, src)  # the real one still works afterwards
    assert all(a is b for a, b in zip(mp.collect(dst).values(),
                                      mp.collect(src).values(), strict=True))


def test_constant_that_fails_leaves_the_block_as_it_was(monkeypatch):
    block = nn.HybridSequential()
    block.add(nn.Dense(2, in_units=2))
    keys = list(block._reg_params)

    def failing(*args, **kwargs):
        raise RuntimeError("could not create the constant")

    monkeypatch.setattr(gluon, "Constant", failing)
    if _compat.GLOBAL_NAMES:
        monkeypatch.setattr(type(block.params), "get_constant", failing)
    with pytest.raises(RuntimeError, match="could not create"):
        mp.constant(block, "scale", numpy.ones(2))
    assert not hasattr(block, "scale") and list(block._reg_params) == keys
    with pytest.raises(TypeError, match="float64 values cannot become int32"):
        mp.constant(block, "scale", numpy.ones(2), dtype="int32")
    assert not hasattr(block, "scale")


def test_constant_is_float32_unless_asked(golden):
    class Holder(nn.Block):
        def __init__(self):
            super().__init__()
            mp.constant(self, "counts", numpy.arange(3))          # int64
            mp.constant(self, "weights", numpy.ones((2, 2)))      # float64
            mp.constant(self, "ids", numpy.arange(4), dtype="int32")

    holder = Holder()
    holder.initialize()
    assert [_compat.dtype_name(p) for p in mp.collect(holder).values()] == [
        "float32", "float32", "int32"]
    assert holder.counts.data().asnumpy().tolist() == [0, 1, 2]
    golden("summary_constants.txt", str(mp.summary(holder)))


@pytest.mark.parametrize("value, message", [
    (numpy.array([2 ** 40, 1], dtype="int64"),
     r"values from 1 to 1099511627776 do not fit in int32 \(-2147483648 to "
     r"2147483647\)"),
    (numpy.array([1e300, 1.0]), r"values from 1.0 to 1e\+300 do not fit in float32"),
])
def test_set_data_refuses_values_that_do_not_fit(value, message):
    layer = nn.Dense(2, in_units=1, dtype="int32" if value.dtype.kind == "i"
                     else "float32")
    layer.initialize(init.Zero())
    before = state(layer)
    with pytest.raises(ValueError, match=message):
        mp.set_data(layer.bias, value)
    assert_same(before, state(layer))
    mp.set_data(layer.bias, value.clip(-5, 5))  # fitting values are fine


def test_set_data_on_several_devices_restores_all_on_failure(monkeypatch):
    layer = nn.Dense(2, in_units=3)
    layer.initialize(ctx=[mx.cpu(0), mx.cpu(1)])
    before = state(layer)
    real = layer.bias.set_data

    def half(value):  # writes the first copy, then fails
        layer.bias.list_data()[0][:] = value
        raise RuntimeError("device lost")

    monkeypatch.setattr(layer.bias, "set_data", half)
    with pytest.raises(RuntimeError, match="device lost"):
        mp.set_data(layer.bias, numpy.array([7.0, 8.0]))
    assert_same(before, state(layer))
    monkeypatch.setattr(layer.bias, "set_data", real)
    mp.set_data(layer.bias, numpy.array([7.0, 8.0]))
    assert [c.asnumpy().tolist() for c in layer.bias.list_data()] == [[7, 8]] * 2


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("strict", [True, False])
def test_load_with_one_bad_entry(tmp_path, position, strict):
    """A file whose entry at one position has the wrong shape."""
    source = fill(compat_net(), seed=3)
    arrays = {p: v.data().asnumpy() for p, v in mp.collect(source).items()}
    bad = at(position, list(arrays))
    arrays[bad] = numpy.zeros(arrays[bad].shape + (1,), numpy.float32)
    path = tmp_path / "bad.params"
    mx.nd.save(str(path), {k: mx.nd.array(v) for k, v in arrays.items()})
    net = fill(compat_net(), seed=9)
    before = state(net)
    if strict:
        with pytest.raises(mp.CheckpointError, match=bad.replace(".", r"\.")):
            mp.load(net, path)
        assert_same(before, state(net))
        return
    report = mp.load(net, path, strict=False)
    assert [p for p, _ in report.skipped] == [bad]
    params = mp.collect(net)
    numpy.testing.assert_array_equal(params[bad].data().asnumpy(), before[0][bad][4][0])
    for p in report.loaded:
        numpy.testing.assert_array_equal(params[p].data().asnumpy(), arrays[p])


def test_a_convolution_with_other_input_channels_is_refused(tmp_path):
    """What users see (the display shape) is what load compares: Gluon 2
    leaves the input channels of Conv2D(in_channels=3) unknown until the
    first forward pass, but they are 3 for the user on both versions."""
    source = nn.HybridSequential()
    source.add(nn.Conv2D(4, 3, in_channels=5))
    forward(source, 1, 5, 6, 6)
    path = tmp_path / "conv5.params"
    mp.save(source, path)
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, in_channels=3))
    initialize(net)
    before = state(net)
    with pytest.raises(mp.CheckpointError, match=(
            r"shape \(4, 5, 3, 3\) in the file, \(4, 3, 3, 3\) in the network")):
        mp.load(net, path)
    assert_same(before, state(net))
    net(uniform(1, 3, 6, 6)).wait_to_read()


def test_tied_paths_the_file_disagrees_on(tmp_path):
    """A file saved from an untied twin: '1.weight' and '2.weight' differ."""
    untied = nn.Sequential()
    untied.add(nn.Dense(8, in_units=20), nn.Dense(8, in_units=8),
               nn.Dense(8, in_units=8), nn.Dense(10, in_units=8))
    forward(untied, 2, 20)
    mp.set_data(untied[1].weight, numpy.full((8, 8), 0.1))
    mp.set_data(untied[2].weight, numpy.full((8, 8), 9.0))
    path = tmp_path / "untied.params"
    mp.save(untied, path)
    net = tied_net()
    forward(net, 2, 20)
    before = state(net)
    with pytest.raises(mp.CheckpointError, match=(
            r"tied to '1.weight' in the network, but the file holds another "
            r"value here: '2.weight'")):
        mp.load(net, path)
    assert_same(before, state(net))
    report = mp.load(net, path, strict=False)
    assert report.skipped == [("2.weight", "tied to '1.weight' in the network, "
                                           "but the file holds another value here")]
    assert (net[2].weight.data().asnumpy() == 0.1).all()
    # Equal values at both paths (a file saved from the tied net) load.
    same = tmp_path / "tied.params"
    mp.save(net, same)
    assert not mp.load(tied_net_forwarded(), same).skipped


def tied_net_forwarded():
    net = tied_net()
    forward(net, 2, 20)
    return net
