"""mp.freeze, mp.unfreeze, mp.configure and mp.cast: training settings by
path, checked through real training steps on both versions (issue 26).

The networks are in the states users have them in: initialized with
shapes unknown (deferred), after a forward pass, hybridized, in the middle
of training with a Trainer, and cast to float64.  A step is
``autograd.record()``, ``backward()`` and ``Trainer.step`` with plain SGD,
so an update is ``-learning_rate * lr_mult * grad / batch``, up to
rounding.
"""
from __future__ import annotations

import json
from pathlib import Path

import mxnet as mx
import numpy
import pytest
from mxnet import autograd, gluon
from mxnet.gluon import nn

import mxparams as mp
from mxparams import _compat

from helpers import MXNET_VERSIONS, arrays

STATES = ("deferred", "forward", "hybridized", "trained", "float64")
LR = 0.1
BATCH = 2
FEATURES = ["features.0.weight", "features.0.bias", "features.1.gamma",
            "features.1.beta", "features.1.running_mean", "features.1.running_var"]
HEAD = ["output.weight", "output.bias"]

# Values followed through MXNet's kernels: also under every simulated CPU.
pytestmark = pytest.mark.cpu_matrix


class Classifier(gluon.Block):
    """A backbone and a head, named as the model zoo names them."""

    def __init__(self, classes: int = 3):
        super().__init__()
        self.features = nn.HybridSequential()
        self.features.add(nn.Conv2D(4, 3, padding=1), nn.BatchNorm(),
                          nn.Activation("relu"))
        self.output = nn.Dense(classes)

    def forward(self, x):
        return self.output(self.features(x))


def batch(dtype: str = "float32"):
    rng = numpy.random.RandomState(3)
    values = (rng.randint(-8, 9, size=(BATCH, 3, 4, 4)) / 8).astype(dtype)
    return arrays().array(values, dtype=dtype)


def dtype_of(net) -> str:
    return _compat.dtype_name(net.output.weight)


def values(net) -> dict[str, numpy.ndarray]:
    return {path: p.data().asnumpy().copy() for path, p in mp.collect(net).items()}


def settings(net) -> dict[str, tuple]:
    return {path: (p.grad_req, p.lr_mult, p.wd_mult, _compat.dtype_name(p))
            for path, p in mp.collect(net).items()}


def step(net, trainer) -> dict[str, numpy.ndarray]:
    """One training step; the gradients it used, by path."""
    x = batch(dtype_of(net))
    with autograd.record():
        loss = (net(x) ** 2).sum()
    loss.backward()
    grads = {path: p.grad().asnumpy().copy() for path, p in mp.collect(net).items()
             if p.grad_req != "null"}
    trainer.step(BATCH)
    return grads


def sgd(net) -> gluon.Trainer:
    return gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": LR})


def step_on_ones(net):
    """One SGD step of a small network on a batch of two 3-vectors of ones:
    its values (before, after)."""
    trainer = sgd(net)
    before = values(net)
    with autograd.record():
        loss = (net(arrays().ones((2, 3))) ** 2).sum()
    loss.backward()
    trainer.step(2)
    return before, values(net)


def build(state: str):
    """(network, Trainer or None) in ``state``."""
    mx.random.seed(7)
    net = Classifier()
    net.initialize()
    if state == "deferred":
        return net, None
    if state == "hybridized":
        net.features.hybridize(static_alloc=True, static_shape=True)
        net.output.hybridize()
    net(batch()).wait_to_read()
    trainer = None
    if state == "trained":
        trainer = sgd(net)
        step(net, trainer)
    if state == "float64":
        assert mp.cast(net, "float64")
        net(batch("float64")).wait_to_read()
    mx.nd.waitall()
    return net, trainer


def assert_updates(before, after, grads, mults, dtype, batch=BATCH):
    """Each path of ``mults`` moved by -LR * lr_mult * grad / batch, up to
    the rounding of the values themselves (a few units in their last place)
    and of the optimizer's factors, which MXNet's update operators take as
    float32 whatever the parameter's dtype."""
    eps = numpy.finfo(dtype).eps
    for path, mult in mults.items():
        expected = -LR * mult * grads[path] / batch
        assert numpy.abs(expected).max() > 0, path
        numpy.testing.assert_allclose(
            after[path] - before[path], expected, rtol=max(100 * eps, 1e-6),
            atol=4 * eps * numpy.abs(before[path]).max(), err_msg=path)


# -- freeze and lr_mult through a training step ----------------------------

@pytest.mark.parametrize("state", STATES)
def test_a_step_leaves_frozen_parameters_and_scales_by_lr_mult(state):
    net, trainer = build(state)
    frozen = mp.freeze(net, "features")
    assert [(r.path, r.setting, r.old, r.new) for r in frozen.rows] == [
        (p, "grad_req", "write", "null") for p in FEATURES[:4]]
    # The weight learns at 10x the learning rate, the bias at 1x.
    faster = mp.configure(net, r"output\.weight", lr_mult=10)
    assert [(r.path, r.old, r.new) for r in faster.rows] == [("output.weight", 1.0, 10.0)]
    if state == "deferred":
        net(batch()).wait_to_read()
    if trainer is None:  # made after the settings; "trained" keeps its own
        trainer = sgd(net)
    before = values(net)
    grads = step(net, trainer)
    after = values(net)
    assert sorted(grads) == sorted(HEAD)
    for path in FEATURES:  # BatchNorm's statistics too: no gradient passed
        assert after[path].tobytes() == before[path].tobytes(), path
    for path in FEATURES[:4]:
        with pytest.raises(RuntimeError, match="grad_req='null'"):
            mp.get(net, path).grad()
    assert_updates(before, after, grads, {"output.weight": 10, "output.bias": 1},
                   dtype_of(net))
    # As a ratio, where the step is large next to the rounding of the values.
    grad = grads["output.weight"]
    large = numpy.abs(grad) > 0.01 * numpy.abs(grad).max()
    ratio = ((after["output.weight"] - before["output.weight"])[large]
             / (-LR * grad[large] / BATCH))
    numpy.testing.assert_allclose(ratio, 10, rtol=1e-4)


@pytest.mark.parametrize("state", ["forward", "hybridized", "trained"])
def test_unfreeze_trains_again(state):
    net, trainer = build(state)
    mp.freeze(net)
    trainer = trainer or sgd(net)
    report = mp.unfreeze(net, "features")
    assert [r.path for r in report.rows] == FEATURES[:4]
    assert report.skipped == ("features.1.running_mean", "features.1.running_var")
    before = values(net)
    grads = step(net, trainer)
    after = values(net)
    assert sorted(grads) == sorted(FEATURES[:4])
    assert_updates(before, after, grads, dict.fromkeys(FEATURES[:4], 1), "float32")
    # A gradient now passes through BatchNorm: its statistics move again.
    assert not (after["features.1.running_mean"] == before["features.1.running_mean"]).all()
    assert all((after[p] == before[p]).all() for p in HEAD)


def test_wd_mult_scales_weight_decay():
    net, _ = build("forward")
    mp.freeze(net)
    mp.unfreeze(net, "output")
    mp.configure(net, "output", wd_mult=0)
    mp.configure(net, r"output\.bias", wd_mult=2)
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": LR, "wd": 0.5})
    before = values(net)
    grads = step(net, trainer)
    after = values(net)
    assert_updates(before, after, grads, {"output.weight": 1}, "float32")
    # SGD: w -= lr * (grad / batch + wd * wd_mult * w)
    expected = before["output.bias"] - LR * (grads["output.bias"] / BATCH
                                             + 0.5 * 2 * before["output.bias"])
    numpy.testing.assert_allclose(after["output.bias"], expected, rtol=1e-5, atol=1e-8)


def test_settings_before_the_shapes_are_known_survive_the_first_pass():
    net, _ = build("deferred")
    mp.freeze(net, "features")
    mp.configure(net, "output", lr_mult=0.5, wd_mult=3)
    net(batch()).wait_to_read()
    assert settings(net) == {
        **{p: ("null", 1.0, 1.0, "float32") for p in FEATURES},
        **{p: ("write", 0.5, 3.0, "float32") for p in HEAD}}
    assert mp.summary(net).trainable == 3 * 64 + 3


# -- BatchNorm's running statistics (what the docstring of freeze says) -----

def test_batchnorm_statistics_move_only_where_a_gradient_passes():
    """MXNet updates them in the layer's backward pass (1.x and 2.x)."""
    net, _ = build("forward")
    mp.freeze(net, r"features\.1")  # the BatchNorm only; the conv trains
    trainer = sgd(net)
    before = values(net)
    step(net, trainer)
    after = values(net)
    assert (after["features.1.gamma"] == before["features.1.gamma"]).all()
    assert not (after["features.1.running_mean"] == before["features.1.running_mean"]).all()
    assert not (after["features.0.weight"] == before["features.0.weight"]).all()

    # The workaround: that part in predict mode, inside record().
    before = values(net)
    with autograd.record():
        with autograd.predict_mode():
            hidden = net.features(batch())
        loss = (net.output(hidden) ** 2).sum()
    loss.backward()
    assert numpy.abs(net.features[0].weight.grad().asnumpy()).max() > 0
    trainer.step(BATCH)
    after = values(net)
    for path in ("features.1.running_mean", "features.1.running_var"):
        assert (after[path] == before[path]).all(), path
    assert not (after["features.0.weight"] == before["features.0.weight"]).all()


def test_batchnorm_built_with_global_stats_keeps_them():
    mx.random.seed(7)
    net = nn.HybridSequential()
    net.add(nn.Dense(4, in_units=3), nn.BatchNorm(in_channels=4, use_global_stats=True))
    net.initialize()
    mp.freeze(net, "1")
    before, after = step_on_ones(net)
    assert (after["1.running_mean"] == before["1.running_mean"]).all()
    assert not (after["0.weight"] == before["0.weight"]).all()


# -- tied parameters ---------------------------------------------------------

def tied():
    shared = nn.Dense(4, in_units=4)
    net = nn.HybridSequential()
    net.add(nn.Dense(4, in_units=3), shared, shared, nn.Dense(2, in_units=4))
    mp.initialize(net)  # Gluon 2's net.initialize() warns for tied parameters
    return net


def test_part_of_a_tied_parameter_is_refused_before_anything_changes():
    net = tied()
    start = settings(net)
    for call in (lambda: mp.freeze(net, ["0", r"1\."]),
                 lambda: mp.configure(net, r"1\.weight", lr_mult=2),
                 lambda: mp.cast(net, "float64", select=r"(0|1)\.")):
        with pytest.raises(ValueError, match=r"'1\.weight' selected but '2\.weight' "
                                             r"not.*add r'2\\\.weight'.*Nothing was changed"):
            call()
        assert settings(net) == start


def test_a_tied_parameter_is_set_once_and_trained_once():
    net = tied()
    report = mp.freeze(net, ["1", "2"])
    assert [(r.path, r.tied) for r in report.rows] == [("1.weight", ("2.weight",)),
                                                       ("1.bias", ("2.bias",))]
    assert (report.selected, report.parameters, report.changed) == (4, 2, 2)
    assert str(report).splitlines()[0].split() == ["Path", "Setting", "Old", "New",
                                                   "Also", "at"]
    mp.configure(net, ["1", "2"], lr_mult=3)
    assert net[2].weight.grad_req == "null" and net[2].weight.lr_mult == 3
    before, after = step_on_ones(net)
    assert all((after[p] == before[p]).all() for p in ("1.weight", "2.weight", "1.bias"))
    assert not (after["3.weight"] == before["3.weight"]).all()


# -- what a selection that matches nothing says --------------------------------

@pytest.mark.parametrize("select, hint", [
    ("featurs", "did you mean 'features'"),
    (r"outptu\.weight", "did you mean 'output.weight'"),
    ("dense0_weight", "looks like an MXNet 1.x name"),
    (lambda path, param: False, "matches none of the 8 paths"),
])
def test_a_selection_that_matches_nothing_names_close_paths(select, hint):
    net, _ = build("forward")
    start = settings(net)
    with pytest.raises(mp.ParamNotFound, match="Nothing was changed") as caught:
        mp.freeze(net, select)
    assert hint in str(caught.value) and isinstance(caught.value, KeyError)
    assert settings(net) == start


# -- bad arguments: a clear error, and the network as it was ----------------

#: name -> (call on the network, the error, what its message says)
BAD_CALLS = {
    "grad_req-typo": (lambda n: mp.configure(n, grad_req="nul"), ValueError,
                      r"one of 'write', 'add', 'null', got 'nul'; did you mean 'null'"),
    "grad_req-int": (lambda n: mp.configure(n, grad_req=0), TypeError,
                     "one of 'write', 'add', 'null'"),
    "lr_mult-negative": (lambda n: mp.configure(n, lr_mult=-1), ValueError,
                         "finite number >= 0"),
    "wd_mult-inf": (lambda n: mp.configure(n, wd_mult=float("inf")), ValueError,
                    "finite number >= 0"),
    "lr_mult-str": (lambda n: mp.configure(n, lr_mult="10"), TypeError, "must be a number"),
    "lr_mult-bool": (lambda n: mp.configure(n, lr_mult=True), TypeError, "must be a number"),
    "lr_mult-list": (lambda n: mp.configure(n, "output", grad_req="null", lr_mult=[1]),
                     TypeError, "must be a number"),
    "no-setting": (lambda n: mp.configure(n), TypeError, "nothing to set"),
    "bad-regex": (lambda n: mp.configure(n, "[", lr_mult=2), ValueError,
                  "not a valid regular expression"),
    "select-int": (lambda n: mp.freeze(n, 3), TypeError, "select must be"),
    "a-parameter": (lambda n: mp.freeze(n.output.weight), TypeError,
                    "got a single Parameter"),
    "dtype-typo": (lambda n: mp.cast(n, "flaot32"), TypeError,
                   "not understood.*did you mean 'float32'"),
    "dtype-none": (lambda n: mp.cast(n, None), TypeError, "not understood"),
    "dtype-int": (lambda n: mp.cast(n, "int32"), ValueError, "floating point.*got int32"),
}


@pytest.mark.parametrize("name", BAD_CALLS)
def test_bad_arguments_change_nothing(name):
    call, error, match = BAD_CALLS[name]
    net, _ = build("forward")
    start, data = settings(net), values(net)
    with pytest.raises(error, match=match):
        call(net)
    assert settings(net) == start
    assert all((values(net)[k] == data[k]).all() for k in data)


def test_cast_needs_values():
    net, _ = build("deferred")
    start = settings(net)
    with pytest.raises(RuntimeError, match=r"'features\.0\.weight'.* hold no values "
                                           r"yet.*run one forward pass, then cast"):
        mp.cast(net, "float64")
    assert settings(net) == start


# -- parameters without gradients ---------------------------------------------

def test_constants_and_statistics_are_skipped_without_warnings():
    net = nn.HybridSequential()
    net.add(nn.Dense(2, in_units=2), nn.BatchNorm(in_channels=2))
    mp.constant(net[0], "scale", numpy.ones(2))
    net.initialize()
    # filterwarnings=error: Gluon's warning for a Constant would fail here.
    assert not mp.freeze(net, "0.scale")
    report = mp.configure(net, grad_req="write", lr_mult=2)
    assert report.skipped == ("0.scale", "1.running_mean", "1.running_var")
    assert mp.get(net, "0.scale").grad_req == "null"
    assert mp.get(net, "0.scale").lr_mult == 1
    assert "Skipped   3 parameters without gradients: '0.scale', " in str(report)


# -- the report ----------------------------------------------------------------

def test_the_report_as_text_and_html():
    net, _ = build("forward")
    report = mp.freeze(net, "features")
    assert bool(report) and report.changed == 4 and report.unchanged == 0
    assert str(report) == repr(report) == """\
Path               Setting   Old    New
-----------------  --------  -----  ----
features.0.weight  grad_req  write  null
features.0.bias    grad_req  write  null
features.1.gamma   grad_req  write  null
features.1.beta    grad_req  write  null
========================================
Selected  6 paths, 6 parameters
Changed   4 settings of 4 parameters"""
    html = report._repr_html_()
    assert html.startswith('<table class="mxparams">') and html.count("<tr>") == 5 + 2
    again = mp.freeze(net, "features")
    assert not again and again.rows == ()
    assert str(again) == "Nothing changed (6 paths selected; 4 parameters already as asked)"
    assert again._repr_html_() == f"<p>{again}</p>"
    assert not mp.freeze(nn.HybridSequential())  # nothing to select, nothing asked


def test_a_mixed_report_of_several_settings():
    net, _ = build("forward")
    report = mp.configure(net, "output", grad_req="add", lr_mult=2.5, wd_mult=0)
    assert str(report) == """\
Path           Setting   Old    New
-------------  --------  -----  ---
output.weight  grad_req  write  add
output.weight  lr_mult   1      2.5
output.weight  wd_mult   1      0
output.bias    grad_req  write  add
output.bias    lr_mult   1      2.5
output.bias    wd_mult   1      0
===================================
Selected  2 paths, 2 parameters
Changed   6 settings of 2 parameters"""
    # unfreeze leaves grad_req 'add' as it is: the parameter is trainable.
    assert not mp.unfreeze(net, "output")


# -- the summary's lr_mult and wd_mult columns ------------------------------

def test_summary_shows_multipliers_only_when_one_is_not_1():
    net = nn.HybridSequential()
    net.add(nn.Dense(3, in_units=2), nn.Dense(1, in_units=3))
    plain = str(mp.summary(net))
    assert "lr_mult" not in plain and "wd_mult" not in plain
    mp.configure(net, "1", lr_mult=10)
    mp.freeze(net, "0")
    assert str(mp.summary(net)) == """\
Path      Type   Shape   Dtype    Elements  Trainable  lr_mult
--------  -----  ------  -------  --------  ---------  -------
0.weight  Dense  (3, 2)  float32         6  no               1
0.bias    Dense  (3,)    float32         3  no               1
1.weight  Dense  (1, 3)  float32         3  yes             10
1.bias    Dense  (1,)    float32         1  yes             10
==============================================================
Parameters  4 paths, 4 unique
Elements    13 (4 trainable, 9 non-trainable)
Memory      52 bytes"""
    mp.configure(net, r"1\.bias", wd_mult=0)
    text = str(mp.summary(net, depth=1))
    assert text.splitlines()[0].split()[-2:] == ["lr_mult", "wd_mult"]
    assert text.splitlines()[3].split()[-3:] == ["yes", "10", "mixed"]
    mp.configure(net, lr_mult=1, wd_mult=1)
    mp.unfreeze(net)
    assert str(mp.summary(net)) == plain


# -- cast ----------------------------------------------------------------------

class Mixed(nn.HybridBlock):
    """float32 layers, then float64 ones; the activations are cast between."""

    def __init__(self):
        super().__init__()
        self.low = nn.HybridSequential()
        self.low.add(nn.Dense(8, in_units=5, activation="relu"),
                     nn.BatchNorm(in_channels=8))
        self.high = nn.HybridSequential()
        self.high.add(nn.Dense(4, in_units=8, activation="relu"),
                      nn.BatchNorm(in_channels=4), nn.Dense(2, in_units=4))

    def forward(self, x):
        return self.high(self.low(x).astype("float64"))


if _compat.GLOBAL_NAMES:  # 1.x HybridBlocks implement hybrid_forward
    Mixed.hybrid_forward = lambda self, F, x: self.high(self.low(x).astype("float64"))
    del Mixed.forward


@pytest.mark.parametrize("hybrid", [False, True], ids=["imperative", "hybridized"])
def test_a_network_of_two_dtypes_trains(hybrid):
    mx.random.seed(7)
    net = Mixed()
    net.initialize()
    if hybrid:
        net.hybridize()
    report = mp.cast(net, "float64", select="high")
    assert [r.path for r in report.rows] == [p for p in mp.collect(net) if p.startswith("high")]
    assert {(r.old, r.new) for r in report.rows} == {("float32", "float64")}
    dtypes = [r.dtype for r in mp.summary(net).rows]
    assert dtypes == ["float32"] * 6 + ["float64"] * 8
    x = arrays().array(numpy.linspace(-1, 1, 15).reshape(3, 5), dtype="float32")
    trainer = sgd(net)
    for _ in range(2):  # the second pass runs a hybridized net's cached graph
        before = values(net)
        with autograd.record():
            out = net(x)
            # Not out ** 2: BatchNorm centres the batch, which would leave
            # the last bias without a gradient.
            loss = ((out - 1) ** 2).sum()
        loss.backward()
        assert numpy.dtype(out.dtype).name == "float64"
        params = mp.collect(net)
        assert [_compat.dtype_name(p) for p in params.values()] == dtypes
        grads = {k: p.grad().asnumpy() for k, p in params.items() if p.grad_req != "null"}
        assert all(grads[k].dtype == before[k].dtype for k in grads)
        trainer.step(3)
        after = values(net)
        for part, dtype in (("low", "float32"), ("high", "float64")):
            mults = {k: 1 for k in grads if k.startswith(part)}
            assert_updates(before, after, grads, mults, dtype, batch=3)


def test_a_cast_hybridized_network_is_traced_again(tmp_path):
    mx.random.seed(7)
    net = nn.HybridSequential()
    net.add(nn.Dense(3, in_units=2), nn.Dense(1, in_units=3))
    net.initialize()
    net.hybridize()
    x = arrays().ones((2, 2))
    net(x).wait_to_read()  # a cached graph in float32
    mp.cast(net, "float64")
    out = net(x.astype("float64"))
    assert numpy.dtype(out.dtype).name == "float64"
    assert mp.summary(net).nbytes == 8 * 13
    # The traced graph declares the new dtype (MXNet 1.x's Parameter.cast
    # alone keeps the old one in it): 1 is float64 in MXNet's type codes.
    net.export(str(tmp_path / "net"))
    graph = json.loads((tmp_path / "net-symbol.json").read_text())
    declared = [node["attrs"]["__dtype__"] for node in graph["nodes"]
                if node["op"] == "null" and node["name"] != "data"]
    assert declared == ["1"] * 4


def test_float16_casts_and_round_trips_through_a_file(tmp_path):
    net, _ = build("forward")
    report = mp.cast(net, "float16", select="output")
    assert len(report.rows) == 2
    assert [r.dtype for r in mp.summary(net).rows] == ["float32"] * 6 + ["float16"] * 2
    assert mp.get(net, "output.weight").grad().dtype == numpy.float16
    path = tmp_path / "half.params"
    mp.save(net, path)
    other = Classifier()
    other.initialize()
    other(batch()).wait_to_read()
    mp.cast(other, numpy.float16, select="output")
    assert not mp.load(other, path)
    assert all(values(other)[k].tobytes() == v.tobytes() and values(other)[k].dtype == v.dtype
               for k, v in values(net).items())


def test_a_cast_that_fails_part_way_puts_everything_back(monkeypatch):
    net, _ = build("forward")
    start, data = settings(net), values(net)
    real, calls = _compat.cast, []

    def fail_third(param, dtype):
        calls.append(param)
        if len(calls) == 3:
            raise MemoryError("simulated")
        real(param, dtype)

    monkeypatch.setattr(_compat, "cast", fail_third)
    with pytest.raises(MemoryError):
        mp.cast(net, "float64")
    assert len(calls) == 3 and settings(net) == start
    assert all(values(net)[k].tobytes() == v.tobytes() for k, v in data.items())
    net(batch()).wait_to_read()


def test_casting_what_a_trainer_updates_warns():
    net, trainer = build("trained")
    with pytest.warns(UserWarning, match="Make the Trainer after casting"):
        mp.cast(net, "float64", select="output")
    assert not mp.cast(net, "float64", select="output")  # nothing to cast: no warning


# -- the fine-tuning recipe across versions ------------------------------------

def finetune(seed: int):
    """docs/training.md's recipe: (network before training, after)."""
    mx.random.seed(seed)
    net = Classifier()
    net.initialize()
    net(batch()).wait_to_read()
    initial = values(net)
    mp.freeze(net, "features")
    mp.configure(net, "output", lr_mult=10)
    trainer = sgd(net)
    for _ in range(2):
        step(net, trainer)
    return initial, net


def save_finetuned(folder: Path, seed: int) -> None:
    """The recipe's network (numpy mode) as ``finetuned.params``, its values
    before and after training in ``finetuned.npz``: the file set of
    tests/checkpoint_sets.py."""
    initial, net = finetune(seed)
    mp.save(net, folder / "finetuned.params")
    numpy.savez(folder / "finetuned.npz", **{"initial/" + k: v for k, v in initial.items()},
                **{"final/" + k: v for k, v in values(net).items()})


@pytest.mark.cross_version
@pytest.mark.parametrize("writer", MXNET_VERSIONS)
def test_a_network_finetuned_on_every_version_loads_here(file_sets, writer):
    saved = numpy.load(file_sets / writer / "finetuned.npz")
    net = Classifier()
    net.initialize()
    mp.load(net, file_sets / writer / "finetuned.params")
    got = values(net)
    assert all(got[k].tobytes() == saved["final/" + k].tobytes() for k in got)
    # The backbone was frozen, the head was trained.
    assert all((got[k] == saved["initial/" + k]).all() for k in FEATURES)
    assert not (got["output.weight"] == saved["initial/output.weight"]).all()
