"""mp.set_data and mp.constant on both versions (docs/compatibility.md §6, §8)."""
import gc

import mxnet as mx
import numpy
import pytest
from mxnet import autograd, gluon, init
from mxnet.gluon import nn

import mxparams as mp

from helpers import arrays, chapter_mlp, forward, uniform


def mlp():
    net = chapter_mlp()
    forward(net, 2, 20)
    return net


@pytest.mark.parametrize("kind", ["numpy", "mode", "np", "nd"])
def test_accepts_numpy_and_both_mxnet_array_kinds(kind):
    net = mlp()
    value = numpy.arange(10, dtype="float64")
    array = {"numpy": value, "mode": arrays().array(value),
             "np": mx.np.array(value), "nd": mx.nd.array(value)}[kind]
    old = net[1].bias.data()
    mp.set_data(net[1].bias, array)
    assert net[1].bias.data() is old  # written in place, as Gluon does
    assert net[1].bias.data().asnumpy().tolist() == list(range(10))
    assert mp.collect(net)["1.bias"].dtype in ("float32", numpy.float32)


def test_inside_autograd_record_before_and_after_forward():
    net = mlp()
    x = uniform(2, 20)
    with autograd.record():
        mp.set_data(net[1].bias, numpy.ones(10))
        y = net(x)
        mp.set_data(net[0].bias, numpy.full(256, 0.5))  # after the forward pass
    y.backward()
    assert (net[0].bias.data().asnumpy() == 0.5).all()
    assert (net[1].bias.data().asnumpy() == 1).all()
    assert net[0].weight.grad().shape == (256, 20)


def test_every_device_copy_is_set():
    layer = nn.Dense(2, in_units=3)
    layer.initialize(ctx=[mx.cpu(0), mx.cpu(1)])
    mp.set_data(layer.bias, numpy.array([4.0, 5.0]))
    assert [c.asnumpy().tolist() for c in layer.bias.list_data()] == [[4, 5], [4, 5]]


def test_lower_precision_parameter_keeps_its_dtype():
    layer = nn.Dense(2, in_units=3)
    layer.initialize()
    layer.cast("float16")
    mp.set_data(layer.weight, numpy.ones((2, 3)))
    assert numpy.dtype(layer.weight.data().dtype) == numpy.float16


def fails(param, value, error, match):
    before = param.data().asnumpy().copy() if param._data is not None else None
    with pytest.raises(error, match=match):
        mp.set_data(param, value)
    if before is not None:
        numpy.testing.assert_array_equal(param.data().asnumpy(), before)


def test_errors_name_the_problem_and_change_nothing():
    net = mlp()
    fails(net[0].weight, numpy.zeros((20, 256)), mp.ShapeMismatch,
          r"cannot set the float32 parameter of shape \(256, 20\): expected "
          r"shape \(256, 20\), got \(20, 256\)")
    fails(net[0].bias, numpy.zeros(256, dtype=complex), TypeError,
          r"cannot set the float32 parameter of shape \(256,\) from complex128 "
          r"values; convert with .astype\('float32'\)")
    fails(net[0].bias, [0.0] * 256, TypeError,
          r"takes an MXNet or numpy array, got list; wrap lists")
    with pytest.raises(TypeError, match="takes a Gluon Parameter"):
        mp.set_data(net[0], numpy.zeros(3))


def test_before_initialization_and_while_deferred():
    net = chapter_mlp()
    fails(net[0].bias, numpy.zeros(256), RuntimeError,
          r"cannot set the float32 parameter of shape \(256,\): it is not "
          r"initialized; call net.initialize\(\)")
    net.initialize()
    fails(net[0].weight, numpy.zeros((256, 20)), RuntimeError,
          r"cannot set the float32 parameter of shape \(256, \?\): its shape "
          r"is not known yet \(deferred initialization\); run a forward pass "
          r"first")


class FixedHiddenMLP(nn.Block):
    """The chapter's exercise: a constant weight and one Dense used twice."""

    def __init__(self):
        super().__init__()
        a = arrays()
        # A constant random weight: not updated during training.
        mp.constant(self, "rand_weight", a.random.uniform(
            **({"size": (20, 20)} if a is mx.np else {"shape": (20, 20)})))
        self.dense = nn.Dense(20, activation="relu")

    def forward(self, x):
        a = arrays()
        x = self.dense(x)
        x = a.dot(x, self.rand_weight.data())
        x = (a.maximum(x, 0) if a is mx.nd else mx.npx.relu(x)) + 1
        x = self.dense(x)  # the same layer again: its parameters are shared
        while a.abs(x).sum() > 1:
            x = x / 2  # not in place: this runs inside autograd.record()
        return x.sum()


def test_fixed_hidden_mlp(golden):
    mx.random.seed(0)
    net = FixedHiddenMLP()
    net.initialize()
    constant = net.rand_weight.data().asnumpy().copy()
    x = uniform(2, 20)
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5})
    with autograd.record():
        y = net(x)
    y.backward()
    trainer.step(1)
    numpy.testing.assert_array_equal(net.rand_weight.data().asnumpy(), constant)
    assert net.rand_weight.grad_req == "null"
    summary = mp.summary(net)
    golden("summary_fixed_hidden_mlp.txt", str(summary))
    assert [r.path for r in summary.rows] == ["rand_weight", "dense.weight", "dense.bias"]
    assert (summary.trainable, summary.non_trainable) == (420, 400)


def test_constant_errors():
    block = nn.Dense(2)
    with pytest.raises(ValueError, match="Dense already has an attribute 'weight'"):
        mp.constant(block, "weight", numpy.zeros(2))
    with pytest.raises(ValueError, match="must be a Python identifier"):
        mp.constant(block, "0", numpy.zeros(2))
    with pytest.raises(TypeError, match="must be an MXNet or numpy array, got list"):
        mp.constant(block, "c", [1, 2])
    assert list(mp.collect(block)) == ["weight", "bias"]


def test_constant_from_numpy_initializes_with_its_value():
    block = nn.Sequential()
    mp.constant(block, "table", numpy.arange(6, dtype="float32").reshape(2, 3))
    mp.initialize(block, init.Zero())  # a constant keeps its own value
    assert block.table.data().asnumpy().tolist() == [[0, 1, 2], [3, 4, 5]]
    assert mp.get(block, "table") is block.table


def test_constants_made_one_after_another_raise_no_warning():
    # 2.x names a constant's initializer after id(constant); ids are reused
    # once a constant is freed, and MXNet then warned (an error here).
    for i in range(50):
        block = nn.HybridSequential()
        mp.constant(block, "c", numpy.full(3, i, dtype="float32"))
        mp.initialize(block)
        assert block.c.data().asnumpy().tolist() == [i] * 3
        del block
        gc.collect()
