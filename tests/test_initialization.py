"""mp.initialize and mp.Initializer on both versions (docs/compatibility.md §5)."""
import mxnet as mx
import numpy
import pytest
from mxnet import init
from mxnet.gluon import nn

import mxparams as mp

from helpers import arrays, chapter_mlp, forward, tied_net, uniform


def values(net):
    return {path: p.data().asnumpy().copy() for path, p in mp.collect(net).items()}


def seeded_input():
    mx.random.seed(7)
    return uniform(2, 20)


BUILTINS = [
    init.Normal(sigma=0.01), init.Constant(1), init.Xavier(), init.Uniform(0.5),
    init.MSRAPrelu(), init.Orthogonal(), init.One(), init.Zero(), "xavier",
]


@pytest.mark.parametrize("initializer", BUILTINS, ids=str)
def test_builtin_initializers_pass_through_like_gluon(initializer):
    """The same draws as Gluon's own initialize(), before and after forward."""
    x = seeded_input()
    results = []
    for use_mp in (False, True):
        net = chapter_mlp()
        mx.random.seed(42)
        if use_mp:
            mp.initialize(net, initializer)
        else:
            net.initialize(initializer)
        net(x).wait_to_read()  # deferred: the draws happen here
        first = values(net)
        mx.random.seed(43)
        if use_mp:
            mp.initialize(net, initializer)  # after the forward pass
        else:
            net.initialize(initializer, force_reinit=True)
        results.append((first, values(net)))
    (gluon_deferred, gluon_again), (mp_deferred, mp_again) = results
    for path in gluon_deferred:
        numpy.testing.assert_array_equal(mp_deferred[path], gluon_deferred[path])
        numpy.testing.assert_array_equal(mp_again[path], gluon_again[path])
    # The layer's own bias initializer ('zeros') keeps precedence.
    assert not mp_again["0.bias"].any() and not mp_again["1.bias"].any()


def test_layer_initializers_keep_precedence():
    layer = nn.Dense(3, in_units=2, weight_initializer=init.Constant(2),
                     bias_initializer=init.Constant(1))
    plain = nn.Dense(3, in_units=2)
    net = nn.Sequential()
    net.add(layer, plain)
    mp.initialize(net, init.Zero())
    assert (layer.weight.data().asnumpy() == 2).all()
    assert (layer.bias.data().asnumpy() == 1).all()
    assert not plain.weight.data().asnumpy().any()


class ChapterInit(mp.Initializer):
    """The chapter's custom initializer: U[-10, 10] with |w| < 5 zeroed."""

    def init_weight(self, path, arr):
        print("Init", path, arr.shape)
        a = arrays()
        if a is mx.np:
            arr[:] = a.random.uniform(-10, 10, arr.shape)
        else:
            arr[:] = a.random.uniform(-10, 10, shape=arr.shape)
        arr *= a.abs(arr) >= 5


def test_chapter_custom_initializer_prints_paths(capsys, golden):
    net = chapter_mlp()
    mp.initialize(net, ChapterInit())
    assert capsys.readouterr().out == ""  # deferred until shapes are known
    net(seeded_input()).wait_to_read()
    printed = capsys.readouterr().out
    golden("custom_init_mlp.txt", printed)
    w = net[0].weight.data().asnumpy()
    assert ((numpy.abs(w) >= 5) | (w == 0)).all() and (w != 0).any()
    assert (numpy.abs(w) <= 10).all()
    assert not net[0].bias.data().asnumpy().any()  # Dense biases: 'zeros'
    mp.initialize(net, ChapterInit(), select="1")  # known shapes: at once
    assert capsys.readouterr().out == "Init 1.weight (10, 256)\n"


def test_initializer_dispatches_on_the_last_path_part(capsys):
    class Named(mp.Initializer):
        def init_weight(self, path, arr):
            print("weight-like", path)
            arr[:] = 1

        def init_bias(self, path, arr):
            print("bias", path)
            arr[:] = 2

    net = nn.Sequential()
    net.add(nn.Dense(2, in_units=2, bias_initializer=None),
            nn.Dense(2, in_units=2))
    mp.initialize(net, Named())
    assert capsys.readouterr().out == ("weight-like 0.weight\nbias 0.bias\n"
                                       "weight-like 1.weight\n")
    assert (net[0].bias.data().asnumpy() == 2).all()
    assert not net[1].bias.data().asnumpy().any()


def test_select_paramdict_and_single_parameter_targets():
    net = chapter_mlp()
    forward(net, 2, 20)
    before = values(net)
    mp.initialize(net, init.Constant(3), select=r"1\.")
    after = values(net)
    numpy.testing.assert_array_equal(after["0.weight"], before["0.weight"])
    assert (after["1.weight"] == 3).all()

    mp.initialize(mp.collect(net).select(r".*weight"), init.One())
    assert (values(net)["0.weight"] == 1).all()

    seen = []

    class Record(mp.Initializer):
        def init_weight(self, path, arr):
            seen.append(path)
            arr[:] = 5

    # A lone Parameter has no path to tell an mp.Initializer...
    with pytest.raises(TypeError, match="a lone Parameter has none: pass the "
                                        "block and pick the parameter by path"):
        mp.initialize(net[0].weight, Record())
    assert seen == [] and (values(net)["0.weight"] == 1).all()
    # ... so it is picked from the block by path; Gluon's own work on it.
    mp.initialize(net, Record(), select=r"0\.weight")
    assert seen == ["0.weight"] and (values(net)["0.weight"] == 5).all()
    mp.initialize(net[0].weight, init.Constant(2))
    assert (values(net)["0.weight"] == 2).all()
    mp.initialize(net[0].bias, init.Constant(4), device=mx.cpu())
    with pytest.raises(TypeError, match="pass device= or its MXNet 1.x name "
                                        "ctx=, not both"):
        mp.initialize(net, device=mx.cpu(), ctx=mx.cpu())


def test_force_reinit_false_only_fills_the_rest():
    net = nn.Sequential()
    net.add(nn.Dense(2, in_units=2), nn.Dense(2, in_units=2))
    mp.initialize(net[0], init.One())
    mp.initialize(net, init.Constant(7), force_reinit=False)  # no warning
    assert (net[0].weight.data().asnumpy() == 1).all()
    assert (net[1].weight.data().asnumpy() == 7).all()


def test_tied_parameter_is_initialized_once(capsys):
    net = tied_net()
    mp.initialize(net, ChapterInit())
    net(uniform(2, 20)).wait_to_read()
    assert capsys.readouterr().out.splitlines() == [
        "Init 0.weight (8, 20)", "Init 1.weight (8, 8)", "Init 3.weight (10, 8)"]


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_devices_are_kept(mode):
    devices = [mx.cpu(0), mx.cpu(1)]
    layer = nn.Dense(2, in_units=3)
    layer.initialize(ctx=devices)
    mp.initialize(layer, init.One())
    copies = layer.weight.list_data()
    assert len(copies) == 2
    assert all((c.asnumpy() == 1).all() for c in copies)


def test_errors_change_nothing():
    net = chapter_mlp()
    forward(net, 2, 20)
    before = values(net)
    with pytest.raises(ValueError, match=r"unknown initializer 'xavir'; did "
                                         r"you mean 'xavier'\?"):
        mp.initialize(net, "xavir")
    with pytest.raises(TypeError, match="init must be an initializer"):
        mp.initialize(net, 0.01)
    with pytest.raises(ValueError, match="not a valid regular expression"):
        mp.initialize(net, init.One(), select="(")
    with pytest.raises(TypeError, match="takes a Block, a Parameter or an "
                                        "mp.ParamDict, got list"):
        mp.initialize([net], init.One())
    after = values(net)
    for path in before:
        numpy.testing.assert_array_equal(after[path], before[path])


def test_mp_initializer_in_gluon_initialize_says_what_to_do():
    layer = nn.Dense(2, in_units=2)
    with pytest.raises(TypeError, match=r"Use mp.initialize\(net, "
                                        r"ChapterInit\(...\)\)"):
        layer.initialize(ChapterInit())


def test_initializer_names_are_the_same_on_both_versions():
    with pytest.raises(ValueError) as info:
        mp.initialize(chapter_mlp(), "xavir")
    assert str(info.value) == (
        "unknown initializer 'xavir'; did you mean 'xavier'? built-in names: "
        "bilinear, lstmbias, msraprelu, normal, one, ones, orthogonal, "
        "uniform, xavier, zero, zeros; or pass an instance such as "
        "mx.init.Normal(0.01)")
    with pytest.raises(ValueError, match=(
            r"^initializer 'Constant' needs arguments: pass an instance, "
            r"mx.init.Constant\(value\)$")):
        mp.initialize(chapter_mlp(), "Constant")
    # The fused-RNN initializer is registered as 'fusedrnn' on 1.x and
    # 'rnnfused' on 2.x; neither can be made from its name alone.
    for name in ("fusedrnn", "rnnfused"):
        with pytest.raises(ValueError, match=(
                rf"^(initializer '{name}' needs arguments: pass an instance, "
                r"mx.init.(FusedRNN|RNNFused)\(...\)|"
                rf"unknown initializer '{name}'; )")):
            mp.initialize(chapter_mlp(), name)
