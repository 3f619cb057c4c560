"""mp.stats and mp.Watch: host float64 statistics, identical text on both versions."""
import math

import mxnet as mx
import numpy
import pytest
from mxnet import autograd, gluon
from mxnet.gluon import nn

import mxparams as mp

import helpers
from helpers import Holder, chapter_mlp, forward, initialize, tied_net, uniform

SPECIAL = numpy.array([numpy.nan, numpy.inf, -numpy.inf, -0.0, 0.0, 1e-8,
                       123456789.0], dtype="float32")


def fill(net):
    """Deterministic float32 values (numpy-made, so the same everywhere),
    one magnitude per parameter; gradients get another pattern."""
    for i, param in enumerate(mp.collect(net).values()):
        n = int(numpy.prod(param.shape))
        values = numpy.sin(numpy.arange(n) * (i + 1.5)) * 10.0 ** (i - 2)
        mp.set_data(param, values.reshape(param.shape).astype("float32"))
        if param.grad_req != "null":
            grad = numpy.cos(numpy.arange(n)) * 10.0 ** -i
            for g in param.list_grad():
                g[:] = grad.reshape(param.shape).astype("float32")


def reference(values):
    x = numpy.asarray(values, dtype=numpy.float64).ravel()
    return (x.mean(), x.std(), x.min(), x.max(), math.sqrt((x * x).sum()),
            (x == 0).mean(), 0, 0)


def test_chapter_mlp_data_and_gradients(golden):
    net = chapter_mlp()
    forward(net, 2, 20)
    fill(net)
    s = mp.stats(net, grads=True)
    golden("stats_mlp_grads.txt", str(s))
    golden("stats_mlp_grads.html", s._repr_html_())
    golden("stats_mlp.txt", str(mp.stats(net)))
    assert [(r.path, r.kind) for r in s.rows] == [
        (p, k) for p in ("0.weight", "0.bias", "1.weight", "1.bias")
        for k in ("data", "grad")]
    for row in s.rows:
        param = mp.get(net, row.path)
        arr = param.data() if row.kind == "data" else param.grad()
        assert row.shape == tuple(param.shape)
        numpy.testing.assert_allclose(row[3:11], reference(arr.asnumpy()),
                                      rtol=1e-12, atol=0)


def test_numbers_are_float64_numpy_statistics():
    net = chapter_mlp()
    forward(net, 2, 20)  # Gluon's random initial values
    row = mp.stats(net, select="0.weight").rows[0]
    w = net[0].weight.data().asnumpy().astype(numpy.float64)
    assert (row.mean, row.std, row.min, row.max) == (
        w.mean(), w.std(), w.min(), w.max())
    assert row.norm == numpy.sqrt(numpy.add.reduce(w.ravel() ** 2))
    bias = mp.stats(net, select="0.bias").rows[0]
    assert bias.zeros == 1.0 and bias.norm == 0  # biases start at zero


def test_nan_inf_and_signed_zero_print_the_same_everywhere(golden):
    net = Holder(dense=nn.Dense(2, in_units=2))
    special = helpers.add_param(net, "special", shape=SPECIAL.shape,
                                grad_req="null")
    helpers.add_param(net, "exact", shape=(3,), grad_req="null")
    initialize(net)
    mp.set_data(special, SPECIAL)
    mp.set_data(net.exact, numpy.array([-0.0, -0.0, -0.0], dtype="float32"))
    mp.set_data(net.dense.weight, numpy.array([[0.5, -0.25], [1e-3, 7.0]]))
    s = mp.stats(net, grads=True)
    golden("stats_special.txt", str(s))
    row = {(r.path, r.kind): r for r in s.rows}
    assert ("special", "grad") not in row  # grad_req='null': no gradient
    special_row = row["special", "data"]
    assert (special_row.nan, special_row.inf) == (1, 2)
    assert math.isnan(special_row.mean) and math.isnan(special_row.max)
    assert special_row.zeros == 2 / 7
    assert row["exact", "data"].zeros == 1.0


def test_tied_parameters_appear_at_each_path():
    net = tied_net()
    forward(net, 2, 20)
    s = mp.stats(net, grads=True)
    by = {(r.path, r.kind): r for r in s.rows}
    assert by["2.weight", "data"].tied_to == "1.weight"
    assert by["2.bias", "grad"].tied_to == "1.bias"
    assert by["2.weight", "data"][:2] == ("2.weight", "data")
    assert by["2.weight", "data"][2:11] == by["1.weight", "data"][2:11]
    assert "Tied to" in str(s).splitlines()[0]


def test_deferred_shapes_print_question_marks(golden):
    net = chapter_mlp()
    initialize(net)
    s = mp.stats(net, grads=True)
    golden("stats_mlp_deferred.txt", str(s))
    assert s.uninitialized == ["0.weight", "1.weight"]
    assert s.rows[0].shape == (256, None) and s.rows[0].mean is None
    assert s.rows[2].mean == 0  # the biases' shapes are known


def test_multi_device_parameters_use_the_first_copy(golden):
    layer = nn.Dense(2, in_units=3)
    layer.initialize(ctx=[mx.cpu(0), mx.cpu(1)])
    mp.set_data(layer.weight, numpy.arange(6.0).reshape(2, 3))
    layer.weight.data(mx.cpu(1))[:] = 100  # a diverged copy is not averaged in
    s = mp.stats(layer)
    golden("stats_devices.txt", str(s))
    assert s.multi_device == ["weight", "bias"]
    assert s.rows[0].max == 5


def test_select_and_errors():
    net = chapter_mlp()
    forward(net, 2, 20)
    assert [r.path for r in mp.stats(net, select=".*bias").rows] == [
        "0.bias", "1.bias"]
    assert mp.stats(net, select="nothing").rows == ()
    with pytest.raises(ValueError, match="not a valid regular expression"):
        mp.stats(net, select="(")
    with pytest.raises(TypeError, match="mp.stats expects a Gluon Block"):
        mp.stats(net[0].weight)
    assert repr(mp.stats(net)) == str(mp.stats(net))


# -- Watch ---------------------------------------------------------------

def train(net, watch, steps):
    """The chapter's loop (L2 loss, SGD), recording after every step."""
    trainer = gluon.Trainer(net.collect_params(), "sgd",
                            {"learning_rate": 0.1})
    loss = gluon.loss.L2Loss()
    x, y = uniform(4, 20), uniform(4, 10)
    for step in range(steps):
        with autograd.record():
            value = loss(net(x), y)
        value.backward()
        trainer.step(4)
        watch.record(step)
    return value


def test_watch_records_a_shared_layer_while_training():
    net = tied_net()  # exercise 4: an MLP with a shared layer
    forward(net, 4, 20)
    watch = mp.Watch(net)
    train(net, watch, 3)
    assert len(watch) == len(watch.rows) == 3 * 8 * 2
    assert watch.rows[0]._fields == (
        "step", "path", "kind", "mean", "std", "min", "max", "norm", "zeros",
        "nan", "inf")
    steps, norms = watch.series("1.weight", "norm", kind="grad")
    assert steps == [0, 1, 2] and all(n > 0 for n in norms)
    # The shared layer is one Parameter: the same values at both paths.
    assert watch.series("2.weight", "mean") == watch.series("1.weight", "mean")
    # Values change as SGD moves the weights.
    means = watch.series("0.weight", "mean")[1]
    assert len(set(means)) == 3
    final = net[0].weight.data().asnumpy().astype(numpy.float64)
    assert means[-1] == final.mean()
    assert str(watch).splitlines()[0].split() == [
        "Step", "Path", "Kind", "Mean", "Std", "Min", "Max", "Norm", "Zeros",
        "NaN", "Inf"]
    assert watch._repr_html_().startswith('<table class="mxparams">')
    assert repr(watch) == "<Watch of Sequential: 48 rows over 3 steps>"


def test_watch_table_is_the_same_on_both_versions(golden):
    net = chapter_mlp()
    forward(net, 2, 20)
    watch = mp.Watch(net, select=".*bias")
    for step in (0, 10):
        fill(net)
        for param in mp.collect(net).values():
            mp.set_data(param, param.data().asnumpy() * (step + 1))
        watch.record(step)
    watch.record()  # the step after the last one
    golden("watch_bias.txt", str(watch))
    assert sorted({r.step for r in watch.rows}) == [0, 10, 11]


def test_watch_errors_name_the_fix():
    net = chapter_mlp()
    initialize(net)
    watch = mp.Watch(net, grads=False)
    with pytest.raises(KeyError, match="nothing recorded yet"):
        watch.series("0.weight")
    with pytest.raises(RuntimeError, match="not initialized yet, e.g. "
                                           "'0.weight'.*forward pass"):
        watch.record(0)
    assert watch.rows == []
    net(uniform(2, 20))
    watch.record(0)
    with pytest.raises(KeyError, match=r"did you mean '0.bias'"):
        watch.series("0.bais")
    with pytest.raises(KeyError, match=r"Watch\(grads=False\) records no "
                                       "gradients"):
        watch.series("0.weight", kind="grad")
    with pytest.raises(ValueError, match="unknown field 'l2'; choose one of "
                                         "mean, std, min, max, norm"):
        watch.series("0.weight", "l2")
    with pytest.raises(ValueError, match="kind must be 'data' or 'grad'"):
        watch.series("0.weight", kind="weight")
    with pytest.raises(ValueError, match="not a valid regular expression"):
        mp.Watch(net, select="[")
    with pytest.raises(TypeError, match="mp.Watch expects a Gluon Block"):
        mp.Watch(mp.collect(net))


@pytest.mark.parametrize("mode", ["np"], indirect=True)
@pytest.mark.parametrize("engine", ["ThreadedEnginePerDevice", "NaiveEngine"])
def test_subnormal_values_count_on_every_engine(engine, mode):
    """MXNet 2's NaiveEngine leaves the Python thread flushing subnormals to
    zero; the statistics are still those of the values (one zero of four)."""
    import os
    import subprocess
    import sys
    code = (
        "import numpy, mxparams as mp\n"
        "from mxnet import np, npx\n"
        "from mxnet.gluon import nn\n"
        "npx.set_np()\n"
        "layer = nn.Dense(4, in_units=1)\n"
        "layer.initialize()\n"
        "layer(np.ones((1, 1))).wait_to_read()\n"
        # Bits, not a conversion: on a flushing thread float(1e-40) -> 0.
        "bits = numpy.array([[71362], [0], [0x3F800000], [0x40000000]], "
        "dtype='uint32')\n"
        "mp.set_data(layer.weight, bits.view('float32'))\n"
        "row = mp.stats(layer).rows[0]\n"
        "print(row.zeros, row.min, row.max, row.norm > 2.2)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, env=dict(os.environ, MXNET_ENGINE_TYPE=engine))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0.25", "0.0", "2.0", "True"]
