"""Every function that reads or writes parameters, on a network in every
state users have one in (issue 22's state matrix).

One small network with Conv2D, BatchNorm, LSTM and Dense, in each state:

* ``deferred``: initialized, no forward pass (shapes unknown);
* ``forward``: after a forward pass: oneDNN then keeps the convolution's
  weight in a blocked layout of its own, with no plain buffer;
* ``hybridized``: after a hybridized forward pass;
* ``trained``: after ``autograd.record()``, ``backward()``, a
  ``Trainer.step`` and another forward pass (as an evaluation);
* ``float64``: cast, then forward and trained;
* ``float16``: cast after a forward pass (float16 forward of these
  layers is not implemented on CPU in either version);
* ``two-cpus``: initialized on cpu(0) and cpu(1) and trained on both,
  through the Trainer's kvstore ('device', Gluon's default), which keeps
  the weights and updates them itself (update on kvstore).  (On one
  device Gluon makes no kvstore; a KVStore object passed to the Trainer
  on one device cannot be re-initialized, so after Gluon's own
  ``load_parameters`` the next step fails: "duplicate init of key".)

Each test builds its network afresh (a few milliseconds), so no test sees
another's writes.  Values are compared bit for bit with what Gluon itself
holds (``Parameter.data(device).asnumpy()`` of every copy); statistics
with a relative tolerance of 1e-12, since both sides compute them in
float64 from the same values (the tolerance only absorbs the last bit of
a different summation order).
"""
from __future__ import annotations

import math
import os
import warnings

import mxnet as mx
import numpy
import pytest
from mxnet import autograd, gluon
from mxnet.gluon import nn, rnn

import mxparams as mp
from mxparams import _compat, cli
from mxparams.checkpoint import _common, _file

STATES = ("deferred", "forward", "hybridized", "trained", "float64", "float16",
          "two-cpus")
#: States whose arrays hold values (all but 'deferred').
RUN = STATES[1:]
REL = 1e-12  # statistics: both sides in float64 from the same values

#: oneDNN switched off, or not in this build of MXNet at all (PyPI's
#: ``mxnet==1.6.0`` has none: ``runtime.Features`` says MKLDNN off).
_FEATURES = mx.runtime.Features()
ONEDNN_OFF = ("0" in (os.environ.get("MXNET_MKLDNN_ENABLED"),
                      os.environ.get("MXNET_ONEDNN_ENABLED"))
              or not any(_FEATURES[name].enabled for name in ("MKLDNN", "ONEDNN")
                         if name in _FEATURES))

# Also under every simulated CPU (noxfile.py): the layouts oneDNN picks,
# and whether it runs at all, are what these states depend on.
pytestmark = pytest.mark.cpu_matrix


class Model(gluon.Block):
    """Conv2D -> BatchNorm -> ReLU, then the 16 channels as 16 time steps
    of an LSTM, then Dense; the two halves are hybridizable."""

    def __init__(self):
        super().__init__()
        self.features = nn.HybridSequential()
        # 16 output channels and padding: oneDNN picks a blocked layout
        # for this weight after a forward pass (8 channels it may not).
        self.features.add(nn.Conv2D(16, 3, padding=1), nn.BatchNorm(),
                          nn.Activation("relu"))
        self.head = nn.HybridSequential()
        # The head's shapes are given, the features' are inferred.  MXNet's
        # RNN operator runs only through oneDNN on the CPU: without it both
        # versions fail ("Check failed: in_data.size() == num_inputs (4 vs.
        # 3)" on 1.9.1, "out_data.size() == num_outputs (3 vs. 1)" on 2.0),
        # so the simulated CPU without oneDNN gets a Dense in its place.
        self.head.add(nn.Dense(6, in_units=25, flatten=False) if ONEDNN_OFF
                      else rnn.LSTM(6, layout="NTC", input_size=25),
                      nn.Dense(3, in_units=96))

    def forward(self, x):
        y = self.features(x)
        return self.head(y.reshape((y.shape[0], y.shape[1], -1)))


def devices(state: str) -> list:
    return [mx.cpu(0), mx.cpu(1)] if state == "two-cpus" else [mx.cpu(0)]


def batch(dtype="float32", device=None):
    rng = numpy.random.RandomState(3)
    values = (rng.randint(-8, 9, size=(2, 3, 5, 5)) / 8).astype(dtype)
    make = mx.np.array if _compat.current_mode() == "np" else mx.nd.array
    return make(values, dtype=dtype).copyto(device or mx.cpu(0))


def train(net, trainer, dtype, ctxs) -> None:
    xs = [batch(dtype, ctx) for ctx in ctxs]
    with autograd.record():
        losses = [(net(x) ** 2).sum() for x in xs]
    for loss in losses:
        loss.backward()
    trainer.step(2 * len(ctxs))


def build(state: str):
    """(network, Trainer or None) in ``state``."""
    mx.random.seed(7)
    net = Model()
    ctxs = devices(state)
    net.initialize(ctx=ctxs)
    if state == "deferred":
        return net, None
    if state == "hybridized":
        # Every layer but the LSTM: MXNet 1.9.1 cannot run a hybridized
        # LSTM in numpy mode (its begin state gets batch size 0: "Shape
        # inconsistent, Provided = [1,0,6]"), a bug of its own, not of the
        # parameters.
        net.features.hybridize()
        net.head[1].hybridize()
        if ONEDNN_OFF:
            net.head[0].hybridize()
    for ctx in ctxs:
        net(batch("float32", ctx)).wait_to_read()
    dtype = "float64" if state == "float64" else "float32"
    if state == "float64":
        # After the first pass: 1.9.1 cannot initialize deferred float64
        # parameters in numpy mode (its uniform draw stays float32).
        net.cast("float64")
        net(batch(dtype)).wait_to_read()
    trainer = None
    if state in ("trained", "float64", "two-cpus"):
        # Gluon's default kvstore, 'device': none on one device; on two,
        # the Trainer keeps the weights in it and updates them there.
        trainer = gluon.Trainer(net.collect_params(), "sgd",
                                {"learning_rate": 0.1})
        train(net, trainer, dtype, ctxs)
        # Then one more forward pass, as an evaluation in a training loop:
        # the update left plain arrays, the pass puts the convolution's
        # weight back into oneDNN's layout.
        for ctx in ctxs:
            net(batch(dtype, ctx)).wait_to_read()
    if state == "float16":
        net.cast("float16")
    mx.nd.waitall()
    return net, trainer


def gluon_values(net) -> dict:
    """path -> [host copy of every device copy], as Gluon itself holds them."""
    return {path: [a.asnumpy() for a in p.list_data()]
            for path, p in net._collect_params_with_prefix().items()}


def same(a: dict, b: dict) -> bool:
    """Bit-identical: keys, dtypes, shapes and bytes of every copy."""
    return list(a) == list(b) and all(
        len(a[k]) == len(b[k]) and all(
            x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
            for x, y in zip(a[k], b[k], strict=True)) for k in a)


def scramble(net) -> None:
    """Other values in every parameter, through Gluon's own set_data."""
    for i, param in enumerate(net._collect_params_with_prefix().values()):
        data = param.data()
        make = mx.np.array if isinstance(data, mx.np.ndarray) else mx.nd.array
        values = numpy.full(data.shape, 0.25 * (i + 1))
        param.set_data(make(values, dtype=data.dtype))


def has_onednn_layout(net) -> bool:
    """Whether some parameter array has no plain buffer (a copy from a host
    buffer is refused, before anything is written)."""
    for param in net._collect_params_with_prefix().values():
        for array in param.list_data():
            try:
                array._sync_copyfrom(array.asnumpy())
            except mx.base.MXNetError:
                return True
    return False


def assert_next_step_keeps(net, trainer, dtype, state, before) -> None:
    """The next step keeps the loaded values, not bringing back those the
    kvstore held.  (A forward pass in training mode moves BatchNorm's
    running statistics, so only trainable parameters are compared.)"""
    train(net, trainer, dtype, devices(state))
    trainable = [k for k, p in net._collect_params_with_prefix().items()
                 if p.grad_req != "null"]
    now = gluon_values(net)
    assert same({k: now[k] for k in trainable},
                {k: before[k] for k in trainable})


# -- the states themselves -------------------------------------------------

@pytest.mark.parametrize("state", ["forward", "hybridized", "trained",
                                   "two-cpus"])
def test_the_states_put_a_weight_in_onednn_layout(state):
    """The states reach what users' networks reach: without this, the tests
    below would not cover the arrays whose copy failed."""
    net, _ = build(state)
    assert has_onednn_layout(net) is not ONEDNN_OFF


# -- reading -----------------------------------------------------------------

@pytest.mark.parametrize("state", STATES)
def test_collect_gives_gluons_own_parameters(state):
    net, _ = build(state)
    params = mp.collect(net)
    gluon_params = net._collect_params_with_prefix()
    assert list(params) == list(gluon_params)
    assert all(params[k] is gluon_params[k] for k in params)
    if state != "deferred":
        found = {k: [a.asnumpy() for a in p.list_data()] for k, p in params.items()}
        assert same(found, gluon_values(net))


@pytest.mark.parametrize("state", STATES)
def test_summary_and_tree_count_every_element(state):
    net, _ = build(state)
    total = sum(math.prod(p.shape) for p in
                net._collect_params_with_prefix().values()) if state != "deferred" else None
    summary, tree = mp.summary(net), mp.tree(net, params=True)
    assert summary.total == total and tree.total == total
    text = str(summary)
    assert all(path in text for path in net._collect_params_with_prefix())
    assert [r.dtype for r in summary.rows] == [
        numpy.dtype(p.dtype).name for p in net._collect_params_with_prefix().values()]
    assert [r.path for r in tree.rows if r.kind == "param"] == list(
        net._collect_params_with_prefix())


@pytest.mark.parametrize("state", RUN)
def test_stats_and_watch_agree_with_numpy(state):
    net, _ = build(state)
    grads = state in ("trained", "float64", "two-cpus")
    values = gluon_values(net)
    found = mp.stats(net, grads=grads)
    for row in found.rows:
        source = (values[row.path][0] if row.kind == "data" else
                  net._collect_params_with_prefix()[row.path].list_grad()[0].asnumpy())
        host = source.astype(numpy.float64).ravel()
        for field, want in (("mean", host.mean()), ("std", host.std()),
                            ("min", host.min()), ("max", host.max()),
                            ("norm", math.sqrt(numpy.add.reduce(host * host)))):
            assert math.isclose(getattr(row, field), want, rel_tol=REL,
                                abs_tol=1e-300), (row.path, row.kind, field)
    watch = mp.Watch(net, grads=grads)
    watch.record()
    watch.record()
    assert len(watch) == 2 * len(found.rows)
    assert [(r.path, r.kind, r.mean) for r in watch.rows[:len(found.rows)]] == [
        (r.path, r.kind, r.mean) for r in found.rows]


def test_watch_and_save_refuse_a_deferred_network_clearly(tmp_path):
    net, _ = build("deferred")
    with pytest.raises(RuntimeError, match="run one forward pass"):
        mp.Watch(net).record()
    with pytest.raises(RuntimeError, match="run one forward pass"):
        mp.save(net, tmp_path / "a.params")
    assert not (tmp_path / "a.params").exists()
    assert not mp.check_finite(net, raise_error=False)
    assert not mp.check_replicas(net)


@pytest.mark.parametrize("state", RUN)
def test_check_finite_and_replicas(state):
    net, _ = build(state)
    assert not mp.check_finite(net, raise_error=False)
    assert not mp.check_replicas(net, grads=False)
    weight = mp.get(net, "features.0.weight")  # the array oneDNN lays out
    bad = weight.data().asnumpy()
    bad.ravel()[[0, 5]] = numpy.nan
    mp.set_data(weight, bad)
    with pytest.raises(mp.NonFiniteError, match=r"'features\.0\.weight' "
                                                r"\(data.*2 NaN"):
        mp.check_finite(net, grads=False)
    assert not mp.check_replicas(net)  # every copy got the NaN


# -- writing -----------------------------------------------------------------

def file_values(path) -> dict:
    raw = _file.read(path)
    return {k: _common.materialize(a) for k, a in raw.arrays.items()}


@pytest.mark.parametrize("fmt", ["params", "safetensors"])
@pytest.mark.parametrize("state", RUN)
def test_save_load_round_trip_is_bit_identical(state, fmt, tmp_path):
    net, trainer = build(state)
    before = gluon_values(net)
    path = tmp_path / f"net.{fmt}"
    mp.save(net, path)
    saved = file_values(path)
    assert all(saved[k].tobytes() == before[k][0].tobytes() for k in before)
    dtype = "float64" if state == "float64" else "float32"
    scramble(net)
    if trainer is not None:
        # A Trainer that updates on its kvstore keeps the weights there:
        # after this step (a zero learning rate) it holds the scrambled ones.
        trainer.set_learning_rate(0.0)
        train(net, trainer, dtype, devices(state))
    assert not same(gluon_values(net), before)
    report = mp.load(net, path)
    assert not report and len(report.loaded) == len(before)
    assert same(gluon_values(net), before)
    if trainer is not None:
        assert_next_step_keeps(net, trainer, dtype, state, before)
    if state != "float16":
        net(batch(dtype)).wait_to_read()


@pytest.mark.parametrize("state", RUN)
def test_state_dict_round_trip_is_bit_identical(state):
    net, trainer = build(state)
    before = gluon_values(net)
    state_ = mp.state_dict(net)
    assert list(state_) == list(before)  # no tied parameters here
    assert all(state_[k].tobytes() == before[k][0].tobytes()
               and state_[k].dtype == before[k][0].dtype for k in before)
    scramble(net)
    dtype = "float64" if state == "float64" else "float32"
    if trainer is not None:
        trainer.set_learning_rate(0.0)
        train(net, trainer, dtype, devices(state))
    assert not same(gluon_values(net), before)
    report = mp.load_state_dict(net, state_)
    assert not report and report.missing_keys == report.unexpected_keys == []
    assert same(gluon_values(net), before)
    if trainer is not None:  # the kvstore starts again from the loaded values
        assert_next_step_keeps(net, trainer, dtype, state, before)


@pytest.mark.parametrize("state", RUN)
def test_load_of_gluons_own_file_and_every_option(state, tmp_path):
    net, _ = build(state)
    before = gluon_values(net)
    path = str(tmp_path / "gluon.params")
    net.save_parameters(path)
    for options in ({}, {"strict": False}, {"rename": lambda key: key},
                    {"rename": {"head.1.bias": "head.1.bias"}}):
        scramble(net)
        mp.load(net, path, **options)
        assert same(gluon_values(net), before), options


@pytest.mark.parametrize("state", RUN)
def test_convert_through_the_command_line_then_load(state, tmp_path, capsys):
    net, _ = build(state)
    before = gluon_values(net)
    gluon_file = str(tmp_path / "gluon.params")
    net.save_parameters(gluon_file)
    for out in ("portable.params", "net.safetensors"):
        assert cli.main(["convert", gluon_file, str(tmp_path / out)]) == 0
        found = mp.inspect_checkpoint(tmp_path / out)
        assert found.keys() == sorted(before, key=found.keys().index)
        for entry in found.entries:
            values = before[entry.key][0]
            assert entry.min == float(values.min()) and entry.max == float(values.max())
            assert math.isclose(entry.mean, values.mean(dtype=numpy.float64),
                                rel_tol=REL, abs_tol=1e-300)
        scramble(net)
        mp.load(net, tmp_path / out)
        assert same(gluon_values(net), before), out
    assert "wrote" in capsys.readouterr().out


def test_load_into_a_deferred_network_matches_gluons_load(tmp_path):
    source, _ = build("forward")
    path = str(tmp_path / "net.params")
    mp.save(source, path)
    ours, _ = build("deferred")
    theirs, _ = build("deferred")
    mp.load(ours, path)
    theirs.load_parameters(path)
    assert same(gluon_values(ours), gluon_values(theirs))
    assert same(gluon_values(ours), gluon_values(source))


@pytest.mark.parametrize("state", RUN)
def test_set_data_writes_every_copy(state):
    net, _ = build(state)
    for path, param in mp.collect(net).items():
        data = param.data()
        values = numpy.arange(math.prod(data.shape)).reshape(data.shape) % 7 - 3
        mp.set_data(param, values.astype(data.dtype))
        assert all((a.asnumpy() == values).all() for a in param.list_data()), path
        as_mxnet = (mx.np.array if isinstance(data, mx.np.ndarray) else mx.nd.array)(
            values + 1, dtype=data.dtype)
        mp.set_data(param, as_mxnet)
        assert all((a.asnumpy() == values + 1).all() for a in param.list_data()), path


@pytest.mark.parametrize("state", STATES)
def test_initialize_by_path(state):
    net, _ = build(state)
    before = gluon_values(net) if state != "deferred" else None
    mp.initialize(net, mx.init.Constant(0.5), select=r"head\.1\.weight")
    if state == "deferred":
        net(batch()).wait_to_read()
        assert (mp.get(net, "head.1.weight").data().asnumpy() == 0.5).all()
        return
    after = gluon_values(net)
    assert all((a == 0.5).all() for a in after["head.1.weight"])
    assert same({k: v for k, v in after.items() if k != "head.1.weight"},
                {k: v for k, v in before.items() if k != "head.1.weight"})


@pytest.mark.parametrize("state", STATES)
def test_tie_to_a_layer_in_use(state):
    net, _ = build(state)
    dense = net.head[1]
    other = nn.Dense(3)
    other.initialize(ctx=devices(state))
    if state != "deferred":
        dtype = {"float64": "float64", "float16": "float16"}.get(state, "float32")
        if dtype != "float32":
            other.cast(dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Gluon's deferred-init notices
            mp.tie(other, dense)
    else:
        mp.tie(other, dense)
    assert other.weight is dense.weight and other.bias is dense.bias
