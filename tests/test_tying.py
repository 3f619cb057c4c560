"""mp.tie and mp.tied_groups on both versions, with gradients checked
numerically (docs/compatibility.md §7)."""
import mxnet as mx
import numpy
import pytest
from mxnet import autograd, gluon, init
from mxnet.gluon import nn

import mxparams as mp

from helpers import Holder, block1, block2, initialize, uniform


def chapter_tied(hybrid=False):
    """The chapter's net, with the third layer tied to `shared` by mp.tie."""
    Seq = nn.HybridSequential if hybrid else nn.Sequential
    shared = nn.Dense(8, activation="relu")
    net = Seq()
    net.add(nn.Dense(8, activation="relu"), shared,
            mp.tie(nn.Dense(8, activation="relu"), shared), nn.Dense(10))
    return net


def untied_twin(net, hybrid=False):
    """Same layers, separate Parameters, values copied from `net`."""
    Seq = nn.HybridSequential if hybrid else nn.Sequential
    twin = Seq()
    twin.add(*(nn.Dense(8, activation="relu") for _ in range(3)), nn.Dense(10))
    twin.initialize()
    twin(uniform(2, 20)).wait_to_read()
    for path, param in mp.collect(twin).items():
        mp.set_data(param, mp.get(net, path).data())
    return twin


def data(net):
    return {path: p.data().asnumpy().copy() for path, p in mp.collect(net).items()}


def grads(net):
    return {path: p.grad().asnumpy().copy() for path, p in mp.collect(net).items()}


def scalar(array):
    return float(array.asnumpy().ravel()[0])


def backward(net, x):
    with autograd.record():
        loss = (net(x) ** 2).sum()
    loss.backward()
    return loss


def test_chapter_constructor_time_sharing(golden):
    net = chapter_tied()
    assert mp.tied_groups(net) == [["1.weight", "2.weight"], ["1.bias", "2.bias"]]
    mp.initialize(net)  # Gluon 2's net.initialize() warns for tied params
    net(uniform(2, 20)).wait_to_read()
    assert net[1].weight is net[2].weight and net[1].bias is net[2].bias
    assert net[1].weight.data() is net[2].weight.data()
    net[1].weight.data()[0, 0] = 100  # changing one changes "both"
    assert scalar(net[2].weight.data()[0, 0]) == 100
    summary = mp.summary(net)
    assert (summary.paths, summary.unique, summary.total) == (8, 6, 330)
    golden("summary_tied.txt", str(summary))  # the same golden as Sequential(d, d)


@pytest.mark.parametrize("hybrid", [False, True], ids=["imperative", "hybrid"])
def test_tied_gradient_is_the_sum_of_the_untied_gradients(hybrid):
    net = chapter_tied(hybrid)
    mp.initialize(net, init.Normal(0.5))
    x = uniform(4, 20)
    net(x).wait_to_read()
    twin = untied_twin(net, hybrid)
    if hybrid:
        net.hybridize()
        twin.hybridize()
    for _ in range(2):  # the second pass runs the cached graph when hybridized
        loss = backward(net, x)
        twin_loss = backward(twin, x)
        numpy.testing.assert_allclose(loss.asnumpy(), twin_loss.asnumpy(), rtol=1e-6)
        g, gt = grads(net), grads(twin)
        for attr in ("weight", "bias"):
            expected = gt[f"1.{attr}"] + gt[f"2.{attr}"]
            assert numpy.abs(expected).max() > 0
            numpy.testing.assert_allclose(g[f"1.{attr}"], expected, rtol=1e-5, atol=1e-6)
            numpy.testing.assert_array_equal(g[f"2.{attr}"], g[f"1.{attr}"])
        for path in ("0.weight", "0.bias", "3.weight", "3.bias"):
            numpy.testing.assert_allclose(g[path], gt[path], rtol=1e-5, atol=1e-6)


def test_trainer_updates_the_shared_parameter_once_per_step():
    net = chapter_tied()
    mp.initialize(net, init.Normal(0.5))
    x = uniform(4, 20)
    net(x).wait_to_read()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    for _ in range(3):
        before, = [data(net)]
        backward(net, x)
        g = grads(net)
        trainer.step(4)
        after = data(net)
        for path in before:
            numpy.testing.assert_allclose(after[path], before[path] - 0.1 * g[path] / 4,
                                          rtol=1e-5, atol=1e-6)


def test_saving_and_loading_a_tied_net_round_trips(tmp_path):
    net = chapter_tied()
    mp.initialize(net, init.Normal(0.5))
    x = uniform(2, 20)
    expected = net(x).asnumpy()
    net.save_parameters(str(tmp_path / "tied.params"))
    other = chapter_tied()
    other.load_parameters(str(tmp_path / "tied.params"))
    assert other[1].weight is other[2].weight
    numpy.testing.assert_array_equal(other(x).asnumpy(), expected)
    assert mp.tied_groups(other) == mp.tied_groups(net)


def test_tie_after_construction_takes_the_source_values():
    a, b = nn.Dense(3, in_units=2), nn.Dense(3, in_units=2)
    a.initialize(init.Constant(5))
    b.initialize(init.Constant(1))
    assert mp.tie(b, a) is b
    assert b.weight is a.weight and (b.weight.data().asnumpy() == 5).all()
    assert list(mp.collect(b)) == ["weight", "bias"]


def test_nested_blocks_tie_every_common_path():
    src, dst = block2(), block2()
    holder = Holder(src=src, dst=dst)
    mp.tie(dst, src)
    assert len(mp.tied_groups(holder)) == 16
    assert all(g[0].startswith("src.") and g[1] == "dst." + g[0][4:]
               for g in mp.tied_groups(holder))
    initialize(holder)
    src(uniform(2, 5)).wait_to_read()
    numpy.testing.assert_array_equal(dst(uniform(2, 5)).asnumpy().shape, (2, 16))
    assert dst[3][1].weight.data() is src[3][1].weight.data()


def test_partial_overlap_ties_the_common_paths_only():
    small = block1()                          # 0.*, 1.*
    big = block1()
    big.add(nn.Dense(4))                      # 0.*, 1.*, 2.*
    mp.tie(big, small)
    assert big[0].weight is small[0].weight and big[1].bias is small[1].bias
    assert big[2].weight is not None and len(mp.tied_groups(Holder(a=small, b=big))) == 4


def test_unknown_dims_are_compatible():
    a, b = nn.Dense(8), nn.Dense(8, in_units=4)
    mp.tie(a, b)
    assert a.weight is b.weight


def tie_fails(dst, src, error, match):
    before = {path: p for path, p in mp.collect(dst).items()}
    with pytest.raises(error, match=match):
        mp.tie(dst, src)
    assert all(mp.collect(dst)[path] is p for path, p in before.items())


def test_errors_change_nothing():
    tie_fails(nn.Dense(3), nn.BatchNorm(), ValueError,
              r"cannot tie Dense to BatchNorm: they have no parameter path in "
              r"common \(Dense has 'weight', 'bias'; BatchNorm has 'gamma', "
              r"'beta', 'running_mean', 'running_var'\)")
    dst = block1()
    dst.add(nn.Dense(3, in_units=4))
    src = block1()
    src.add(nn.Dense(3, in_units=5))
    tie_fails(dst, src, mp.ShapeMismatch,
              r"cannot tie: shapes differ at '2.weight': expected \(3, 5\) "
              r"\(as in Sequential\), got \(3, 4\). Nothing was changed")
    wide = nn.Dense(3, in_units=2)
    wide.initialize()
    wide.cast("float16")
    tie_fails(wide, nn.Dense(3, in_units=2), mp.DTypeMismatch,
              r"dtypes differ at 'weight': float32 in Dense, float16 in Dense")
    # One family with shape mismatches, and still the TypeError it was.
    assert issubclass(mp.DTypeMismatch, mp.Mismatch)
    assert issubclass(mp.ShapeMismatch, mp.Mismatch)
    assert issubclass(mp.DTypeMismatch, TypeError)
    with pytest.raises(TypeError, match="expects a Gluon Block"):
        mp.tie(nn.Dense(3).weight, nn.Dense(3))


def test_tying_after_a_hybridized_forward_pass():
    """Gluon's cached graph keeps the old parameters (docs/compatibility.md §7)."""
    def build():
        a = nn.Dense(1, in_units=1, use_bias=False)
        b = nn.Dense(1, in_units=1, use_bias=False)
        net = Holder(a=a, b=b)
        net.initialize(init.One())
        mp.set_data(b.weight, numpy.full((1, 1), 10.0))
        return net, a, b

    class Sum(nn.HybridBlock):
        def __init__(self, a, b):
            super().__init__()
            self.a, self.b = a, b

        def forward(self, x):
            return self.a(x) + self.b(2 * x)

    if mp._compat.GLOBAL_NAMES:  # 1.x HybridBlocks implement hybrid_forward
        Sum.hybrid_forward = lambda self, F, x: self.a(x) + self.b(2 * x)
        del Sum.forward

    for use_root in (True, False):
        _, a, b = build()
        net = Sum(a, b)
        net.hybridize()
        x = mx.np.ones((1, 1)) if mx.util.is_np_array() else mx.nd.ones((1, 1))
        assert scalar(net(x)) == 21  # 1*1 + 10*2
        if use_root:
            mp.tie(b, a, root=net)
        else:
            with pytest.warns(UserWarning, match=r"call net.hybridize\(\) again"):
                mp.tie(b, a)
            net.hybridize()
        assert scalar(net(x)) == 3  # 1*1 + 1*2: the tied weight
        with autograd.record():
            y = net(x)
        y.backward()
        assert scalar(a.weight.grad()) == 3
