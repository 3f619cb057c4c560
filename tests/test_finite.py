"""mp.check_finite: NaN/Inf named by path, checked on the device."""
import mxnet as mx
import numpy
import pytest
from mxnet import autograd, gluon
from mxnet.gluon import nn

import mxparams as mp
from mxparams import _compat

import helpers
from helpers import Holder, chapter_mlp, forward, initialize, tied_net, uniform


def trained_on(net, x, y):
    """One step of the chapter's loop (L2 loss, SGD) on the given batch."""
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    with autograd.record():
        loss = gluon.loss.L2Loss()(net(x), y)
    loss.backward()
    trainer.step(x.shape[0])


def test_all_finite_is_a_falsy_report():
    net = chapter_mlp()
    forward(net, 2, 20)
    report = mp.check_finite(net)  # does not raise
    assert not report and report.rows == ()
    assert str(report) == "No NaN or Inf (4 parameters, 4 gradients checked)"
    assert report._repr_html_() == f"<p>{report}</p>"
    assert str(mp.check_finite(net, grads=False)) == (
        "No NaN or Inf (4 parameters, 0 gradients checked)")


@pytest.mark.cpu_matrix  # follows a NaN through MXNet's kernels
def test_a_nan_in_the_batch_is_traced_to_the_weights_it_touched():
    net = chapter_mlp()
    forward(net, 2, 20)
    x = uniform(2, 20)
    x[0, 3] = numpy.nan
    trained_on(net, x, uniform(2, 10))
    with pytest.raises(mp.NonFiniteError) as info:
        mp.check_finite(net)
    err = info.value
    assert isinstance(err, ValueError)
    # The contract: the NaN is found and named by path.  Input feature 3
    # reaches column 3 of the first weight's gradient (and its value after
    # the SGD step) on any kernel.  How much further it spreads depends on
    # the kernels: oneDNN's ReLU turns NaN into 0 (256 NaN in '0.weight'),
    # MXNet's own ReLU passes it on (oneDNN disabled: everything is NaN).
    message = str(err)
    assert message.startswith("NaN or Inf in ")
    assert "'0.weight' (data): " in message and "'0.weight' (grad): " in message
    assert "Usual causes: a learning rate too high" in message
    grad = net[0].weight.grad().asnumpy()
    assert numpy.isnan(grad[:, 3]).all()
    rows = {(r.path, r.kind): r for r in err.report.rows}
    for kind in ("data", "grad"):
        row = rows["0.weight", kind]
        assert 256 <= row.nan <= row.elements == 5120 and row.inf == 0
    assert rows["0.weight", "grad"].nan == numpy.isnan(grad).sum()
    assert mp.check_finite(net, raise_error=False).rows == err.report.rows


def test_counts_and_report_text(golden):
    net = Holder(dense=nn.Dense(3, in_units=2))
    initialize(net)
    mp.set_data(net.dense.bias, numpy.array([numpy.nan, numpy.inf, -numpy.inf]))
    net.dense.weight.grad()[:] = numpy.inf
    report = mp.check_finite(net, raise_error=False)
    golden("finite_report.txt", str(report))
    golden("finite_report.html", report._repr_html_())
    assert [(r.path, r.kind, r.nan, r.inf, r.elements) for r in report.rows] == [
        ("dense.weight", "grad", 0, 6, 6), ("dense.bias", "data", 1, 2, 3)]
    with pytest.raises(mp.NonFiniteError, match=(
            r"^NaN or Inf in 2 arrays: 'dense.weight' \(grad\): 6 Inf; "
            r"'dense.bias' \(data\): 1 NaN, 2 Inf\. Usual causes")):
        mp.check_finite(net)
    # select and grads narrow what is checked.
    assert not mp.check_finite(net, select="dense.weight", grads=False)
    assert [r.path for r in mp.check_finite(
        net, select=".*bias", raise_error=False).rows] == ["dense.bias"]


def test_tied_parameter_is_named_at_each_path():
    net = tied_net()
    forward(net, 2, 20)
    net[1].bias.data()[0] = numpy.nan
    report = mp.check_finite(net, grads=False, raise_error=False)
    assert [r.path for r in report.rows] == ["1.bias", "2.bias"]


def test_only_the_copy_on_one_device_is_bad():
    layer = nn.Dense(2, in_units=3)
    layer.initialize(ctx=[mx.cpu(0), mx.cpu(1)])
    layer.weight.grad(mx.cpu(1))[0, 0] = numpy.nan
    report = mp.check_finite(layer, raise_error=False)
    assert [(r.path, r.kind, r.device, r.nan) for r in report.rows] == [
        ("weight", "grad", "cpu(1)", 1)]
    assert str(report).splitlines()[0].split() == [
        "Path", "Kind", "Device", "Elements", "NaN", "Inf"]
    assert "'weight' (grad on cpu(1)): 1 NaN" in report.message()


def test_one_reduction_call_per_device_and_dtype(monkeypatch):
    calls = []
    real = mx.nd.multi_sum_sq

    def counting(*arrays, **kwargs):
        calls.append(len(arrays))
        return real(*arrays, **kwargs)

    monkeypatch.setattr(mx.nd, "multi_sum_sq", counting)
    net = chapter_mlp()
    forward(net, 2, 20)
    mp.check_finite(net)
    assert calls == [8]  # 4 parameters + 4 gradients, one call
    calls.clear()
    net.cast("float16")  # another dtype, and an integer constant
    helpers.add_param(net, "steps", shape=(1,), dtype="int32", grad_req="null")
    net.steps.initialize(init=mx.init.Zero())
    layer = nn.Dense(2, in_units=2)
    layer.initialize(ctx=[mx.cpu(0), mx.cpu(1)])
    holder = Holder(half=net, multi=layer)
    mp.check_finite(holder)
    # float16 on cpu(0): 8 arrays; float32 on cpu(0) and on cpu(1): 4 each.
    assert sorted(calls) == [4, 4, 8]


def test_large_finite_values_are_not_reported():
    # Their sum of squares overflows float32; the host recount clears them.
    layer = nn.Dense(2, in_units=2)
    layer.initialize()
    mp.set_data(layer.weight, numpy.full((2, 2), 3e19))
    assert not mp.check_finite(layer)


def test_inside_autograd_record_and_before_initialization():
    net = chapter_mlp()
    initialize(net)  # shapes unknown: nothing to check yet
    assert str(mp.check_finite(net)) == (
        "No NaN or Inf (2 parameters, 2 gradients checked)")
    x = uniform(2, 20)
    with autograd.record():
        y = net(x)
        assert not mp.check_finite(net)
    y.backward()
    assert net[0].weight.grad().shape == (256, 20)


def test_errors():
    with pytest.raises(TypeError, match="mp.check_finite expects a Gluon Block"):
        mp.check_finite([nn.Dense(2)])
    with pytest.raises(ValueError, match="not a valid regular expression"):
        mp.check_finite(nn.Dense(2), select="*")


def sparse_embedding_step(loss_scale=1.0):
    """Embedding(10, 4, sparse_grad=True) after one backward pass over rows
    1, 2 and 3 (its gradient is row_sparse in legacy nd mode)."""
    emb = nn.Embedding(10, 4, sparse_grad=True)
    emb.initialize()
    x = mx.nd.array([1, 2, 3]) if _compat.current_mode() == "nd" else (
        mx.np.array([1, 2, 3]))
    with autograd.record():
        loss = (emb(x) * loss_scale).sum()
    loss.backward()
    mx.nd.waitall()
    return emb


def test_sparse_gradients_print_nothing_and_are_checked(capfd, mode):
    if mode == "np":
        # Gluon itself refuses sparse gradients in numpy mode (1.9.1 at
        # initialize(), 2.0 when the layer is built): nothing to check.
        with pytest.raises((ValueError, AssertionError), match="sparse"):
            sparse_embedding_step()
        return
    mx.nd.zeros((1,)).wait_to_read()  # MXNet's first-allocation log, if any
    emb = sparse_embedding_step()
    assert emb.weight.grad().stype == "row_sparse"
    capfd.readouterr()
    # multi_sum_sq over a row_sparse array logged "Storage type fallback
    # detected" to fd 2 at every check.
    assert not mp.check_finite(emb)
    stats = mp.stats(emb, grads=True)
    watch = mp.Watch(emb)
    watch.record()
    mx.nd.waitall()
    assert capfd.readouterr().err == ""
    grad = emb.weight.grad().asnumpy()
    assert stats.rows[1].norm == numpy.sqrt((grad.astype("float64") ** 2).sum())
    assert watch.rows[1].zeros == 0.7  # 7 of 10 rows not touched

    bad = sparse_embedding_step(float("nan"))  # NaN in the 3 stored rows
    capfd.readouterr()
    with pytest.raises(mp.NonFiniteError,
                       match=r"'weight' \(grad\): 12 NaN\. Usual causes"):
        mp.check_finite(bad)
    report = mp.check_finite(bad, raise_error=False)
    assert [(r.path, r.kind, r.elements, r.nan, r.inf) for r in report.rows] == [
        ("weight", "grad", 40, 12, 0)]
    assert mp.stats(bad, grads=True).rows[1].nan == 12
    mx.nd.waitall()
    assert capfd.readouterr().err == ""
