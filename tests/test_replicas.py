"""Parameters on several devices: mp.check_replicas and summary's Devices column."""
import warnings

import mxnet as mx
import numpy
import pytest
from mxnet import autograd, gluon
from mxnet.gluon import nn

import mxparams as mp

from helpers import chapter_mlp, forward, tied_net, uniform

DEVICES = [mx.cpu(0), mx.cpu(1)]


def data_parallel_step(net, trainer):
    """One data-parallel step: half the batch per device, then Trainer.step."""
    loss = gluon.loss.L2Loss()
    x, y = uniform(4, 20), uniform(4, 10)
    with autograd.record():
        losses = [loss(net(x[i:i + 2].copyto(d)), y[i:i + 2].copyto(d))
                  for i, d in zip((0, 2), DEVICES, strict=True)]
    for value in losses:
        value.backward()
    trainer.step(4)


def test_copies_stay_equal_in_data_parallel_training():
    net = chapter_mlp()
    net.initialize(ctx=DEVICES)
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    for _ in range(2):
        data_parallel_step(net, trainer)
    report = mp.check_replicas(net)
    assert not report and report.rows == ()
    assert str(report) == ("All copies equal (4 arrays with copies on "
                           "several devices)")
    # Each device computed the gradient of its own half of the batch.
    grads = mp.check_replicas(net, grads=True)
    assert grads and {r.kind for r in grads.rows} == {"grad"}
    assert [r.path for r in grads.rows] == ["0.weight", "0.bias", "1.weight",
                                             "1.bias"]
    assert grads.compared == 8
    for row in grads.rows:
        a, b = (g.asnumpy().astype(numpy.float64)
                for g in mp.get(net, row.path).list_grad())
        assert row.max_abs_diff == numpy.abs(a - b).max() > 0
        assert row.differing == numpy.count_nonzero(a != b)
        assert (row.device, row.reference) == ("cpu(1)", "cpu(0)")


def test_a_diverged_copy_is_reported(golden):
    net = chapter_mlp()
    net.initialize(ctx=DEVICES)
    net(uniform(2, 20).copyto(DEVICES[0]))
    net[0].bias.data(DEVICES[1])[:5] = 0.25
    net[1].weight.data(DEVICES[1])[0, 0] = numpy.nan
    report = mp.check_replicas(net)
    golden("replicas_diverged.txt", str(report))
    assert [(r.path, r.differing) for r in report.rows] == [
        ("0.bias", 5), ("1.weight", 1)]
    assert report.rows[0].max_abs_diff == 0.25
    assert numpy.isnan(report.rows[1].max_abs_diff)  # NaN against a number
    assert report._repr_html_().startswith('<table class="mxparams">')
    assert not mp.check_replicas(net, select="1.bias")


def test_nan_in_both_copies_counts_as_equal():
    layer = nn.Dense(2, in_units=2)
    layer.initialize(ctx=DEVICES)
    for copy in layer.bias.list_data():
        copy[0] = numpy.nan
    assert not mp.check_replicas(layer)


def test_tied_parameters_and_single_device_networks():
    net = tied_net()
    with warnings.catch_warnings():  # Gluon 2 visits the shared block twice
        warnings.filterwarnings("ignore", "Parameter .* is already initialized")
        net.initialize(ctx=DEVICES)
    net(uniform(2, 20).copyto(DEVICES[0]))
    net[1].weight.data(DEVICES[1])[:] = 0
    assert [r.path for r in mp.check_replicas(net).rows] == [
        "1.weight", "2.weight"]
    single = chapter_mlp()
    forward(single, 2, 20)
    report = mp.check_replicas(single)
    assert not report and report.compared == 0
    assert str(report) == "No parameter has copies on more than one device"
    with pytest.raises(TypeError, match="mp.check_replicas expects a Gluon Block"):
        mp.check_replicas(single[0].weight)


def test_summary_shows_devices_only_when_they_matter(golden):
    net = chapter_mlp()
    net.initialize(ctx=DEVICES)
    deferred = mp.summary(net)  # devices are known before the shapes
    assert [r.devices for r in deferred.rows] == [tuple(DEVICES)] * 4
    net(uniform(2, 20).copyto(DEVICES[0]))
    golden("summary_devices.txt", str(mp.summary(net)))
    golden("summary_devices_depth1.txt", str(mp.summary(net, depth=1)))
    other = nn.Dense(2, in_units=3)
    other.initialize(ctx=mx.cpu(1))
    assert str(mp.summary(other)).splitlines()[2].split()[-1] == "cpu(1)"
    plain = chapter_mlp()
    forward(plain, 2, 20)
    assert "Devices" not in str(mp.summary(plain))
    assert mp.summary(plain).rows[0].devices == (mx.cpu(0),)
    assert mp.summary(chapter_mlp()).rows[0].devices == ()
