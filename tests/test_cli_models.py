"""mxparams summary|tree|demo MODEL for every kind of MODEL, and mp.load_model.

Exports of both versions are read here: tests/fixtures/exports/ holds the
tiny custom HybridBlock exported by each version (made once by
tests/fixtures/make_exports.py), and every test run exports the same
network, and a model-zoo network, itself; the ``cross_version`` test
has the other version export them too.  Each export prints the same on
both versions (one golden per exporting version), except a 2.0 zoo
export, which 1.9.1 refuses in one line.
"""
import os
import shutil
import sys
from importlib.metadata import version
from pathlib import Path

import mxnet as mx
import numpy
import pytest
from mxnet.gluon import nn
from test_cli import LOUD_MXNET, stderr_of
from test_cli import cli as run_script

import mxparams as mp
from mxparams import _compat, cli
from mxparams.models import CheckpointBlock

from ckpt_common import TINY_INPUT, export_tiny, tiny_net, zoo_export
from helpers import MXNET_VERSIONS

TESTS = Path(__file__).resolve().parent
EXPORTS = TESTS / "fixtures" / "exports"
VERSIONS = ("1.9.1", "2.0.0b1")
THIS = version("mxnet")
OTHER = next(v for v in VERSIONS if v != THIS)
TINY = ",".join(map(str, TINY_INPUT))
NP = pytest.mark.parametrize("mode", ["np"], indirect=True)

NETS = '''\
from mxnet.gluon import nn


def build(units=8, classes=3):
    net = nn.HybridSequential()
    net.add(nn.Dense(units, activation="relu"), nn.BatchNorm(), nn.Dense(classes))
    return net


def broken():
    raise RuntimeError("no GPU here")


def legacy():
    # MXNet 1.x: InstanceNorm is a legacy operator, which runs in nd mode only.
    net = nn.HybridSequential()
    net.add(nn.Conv2D(2, 1, in_channels=1), nn.InstanceNorm())
    return net


def ready():
    import mxnet as mx
    net = build()
    net.initialize(mx.init.Constant(2))
    return net


def not_a_block():
    return 42


VALUE = 3
'''


def run(capsys, *args):
    """The command, in this process: (exit code, stdout, stderr)."""
    try:
        code = cli.main(list(args))
    except SystemExit as exit_:  # argparse's errors
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def ok(capsys, *args) -> str:
    code, out, err = run(capsys, *args)
    assert (code, err) == (0, ""), err
    return out


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A folder with a factory file, a factory package and both versions'
    tiny exports, made the current folder; sys.path restored afterwards."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nets.py").write_text(NETS)
    package = tmp_path / "mxp_test_factories"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "layers.py").write_text(NETS)
    for name in os.listdir(EXPORTS):
        shutil.copy(EXPORTS / name, tmp_path / name)
    return tmp_path


# --- goldens: the same text on both versions ------------------------------------

@NP
@pytest.mark.parametrize("writer", VERSIONS)
def test_the_tiny_export_of_each_version_prints_the_same_here(writer, workdir,
                                                              capsys, golden, mode):
    out = ok(capsys, "demo", f"{writer}-tiny-symbol.json", "--input-shape", TINY)
    golden(f"models_export_{writer}.txt", out)


@NP
def test_an_export_made_now_prints_as_the_fixture_of_its_version(tmp_path, monkeypatch,
                                                                  capsys, golden, mode):
    monkeypatch.chdir(tmp_path)
    with mx.name.NameManager():  # 1.x: conv0, batchnorm0, dense0 as in a fresh process
        net = tiny_net()
    export_tiny(tmp_path / f"{THIS}-tiny", net)
    out = ok(capsys, "demo", f"{THIS}-tiny-symbol.json", "--input-shape", TINY)
    golden(f"models_export_{THIS}.txt", out)


@NP
def test_a_zoo_export_prints_the_same_on_both(tmp_path, monkeypatch, capsys, golden,
                                               mode):
    monkeypatch.chdir(tmp_path)
    zoo_export(tmp_path / "mobilenet0.25")
    out = ok(capsys, "summary", "mobilenet0.25-symbol.json")
    golden(f"models_zoo_export.mxnet{THIS[0]}.txt", out)


@NP
def test_factories_print_the_same_on_both(workdir, capsys, golden, mode):
    before = ok(capsys, "summary", "mxp_test_factories.layers:build",
                "--kwargs", '{"units": 5}')
    assert "?" in before and "before the first forward pass" in before
    after = ok(capsys, "tree", "nets.py:build", "--input-shape", "2,4", "--params")
    assert "?" not in after
    # 1.9.1 runs it in legacy nd mode (the command's choice), 2.0 in numpy mode.
    legacy = ok(capsys, "summary", "nets.py:legacy", "--input-shape", "1,1,3,3")
    golden("models_factory.txt", "\n".join([before, after, legacy]))


@NP
def test_checkpoints_alone_print_their_arrays(workdir, capsys, golden, mode):
    shared = nn.Dense(3, in_units=3)
    tied = nn.HybridSequential()
    tied.add(nn.Dense(3, in_units=2), shared, shared)
    mp.initialize(tied)
    mp.save(tied, "tied.safetensors")
    flat = ok(capsys, "summary", "1.9.1-tiny-0000.params")
    nested = ok(capsys, "demo", "2.0.0b1-tiny-0000.params")
    shared_ = ok(capsys, "summary", "tied.safetensors", "--depth", "1")
    golden("models_checkpoint.txt", "\n".join([flat, nested, shared_]))


@NP
def test_a_zoo_network_on_an_input_of_its_own(capsys, golden, mode):
    out = ok(capsys, "summary", "mobilenet0.25", "--input-shape", "1,3,32,32",
             "--depth", "1")
    assert out.startswith("mobilenet0.25 (model zoo, pretrained=False), after one "
                          "forward pass on an input of shape 1x3x32x32\n")
    golden("models_zoo.txt", out)


@NP
def test_mxnet_logs_of_reading_the_other_versions_export_stay_out(workdir, capsys,
                                                                  mode):
    # 1.9.1 logs "loading symbol saved by MXNet version 20000 with lower
    # version" for a 2.0 symbol, 2.0 "Loading symbol saved by previous
    # version" for a 1.9.1 one, both to fd 2.
    args = ("summary", f"{OTHER}-tiny-symbol.json", "--input-shape", TINY)
    done = run_script(*args, script=True, env=LOUD_MXNET)
    assert done.returncode == 0 and stderr_of(done) == "", done.stderr[-2000:]
    assert done.stdout == ok(capsys, *args)


# --- bad input: one line, exit 2 ------------------------------------------------------

BAD = [
    (["nets.py:broken"], "factory 'nets.py:broken' raised RuntimeError: no GPU here"),
    (["nets.py:biuld"], "factory 'nets.py:biuld': 'nets.py' has no 'biuld'; did you "
                        "mean 'build'?"),
    (["nets.py:not_a_block"], "factory 'nets.py:not_a_block' returned int, not a "
                              "Gluon block"),
    (["nets.py:VALUE"], "factory 'nets.py:VALUE' is int, not a function or class"),
    (["nets.py:build", "--kwargs", '{"unit": 3}'],
     "factory 'nets.py:build' raised TypeError: build() got an unexpected keyword "
     "argument 'unit'"),
    (["nets.py:build", "--kwargs", "{units: 3}"], "--kwargs is not JSON"),
    (["nets.py:build", "--kwargs", "[3]"], "--kwargs must be a JSON object"),
    (["mxp_no_such_module:build"], "factory 'mxp_no_such_module:build': importing "
                                   "'mxp_no_such_module' raised ModuleNotFoundError: "
                                   "No module named 'mxp_no_such_module'"),
    (["missing.py:build"], "factory file 'missing.py': no such file"),
    (["syntax.py:build"], "factory 'syntax.py:build': importing 'syntax.py' raised "
                          "SyntaxError"),
    (["nets.py:build()"], "'nets.py:build()' is not a factory"),
    (["nets.py:build", "--input-shape", "2,4", "--dtype", "float3"],
     "dtype: 'float3' is not a dtype"),
    (["nets.py:build", "--input-shape", "2,x"], "argument --input-shape: '2,x' is "
                                                "not a shape"),
    (["nets.py:build", "--input-shape", "2,4", "--no-forward"], "contradict"),
    (["nets.py:build", "--input-shape", "2,4", "--input-shape", "2,4"],
     "'nets.py:build': the forward pass on inputs of shapes 2x4 and 2x4 failed: "
     "TypeError: "),
    (["1.9.1-tiny-symbol.json", "--input-shape", "1,3,5,5"],
     "'1.9.1-tiny-symbol.json': the forward pass on an input of shape 1x3x5x5 "
     "failed: MXNetError: "),
    (["1.9.1-tiny-symbol.json", "--input-shape", TINY, "--input-shape", "2"],
     "'1.9.1-tiny-symbol.json' takes 1 input (data); 2 input shapes given"),
    (["1.9.1-tiny-symbol.json", "--params", "2.0.0b1-tiny-0000.params"],
     "parameter file '2.0.0b1-tiny-0000.params' does not fit symbol file "
     "'1.9.1-tiny-symbol.json': 8 of its arrays are no variables of the symbol: "
     "'conv.weight', 'conv.bias', 'bn.gamma', 'bn.beta', ... ('conv.weight': did you "
     "mean 'conv0_weight'"),
    (["2.0.0b1-tiny-symbol.json", "--params", "no_head_bias.safetensors",
      "--input-name", "data"],
     "does not fit symbol file '2.0.0b1-tiny-symbol.json': it lacks 1 parameters "
     "of the symbol: 'head.bias'"),
    (["2.0.0b1-tiny-symbol.json", "--params", "no_bn_running_var.safetensors"],
     "it lacks 1 parameters of the symbol: 'bn.running_var'"),
    (["1.9.1-tiny-symbol.json", "--input-name", "dta"],
     "symbol file '1.9.1-tiny-symbol.json' has no variable 'dta'; did you mean "
     "'data'?"),
    (["1.9.1-tiny-symbol.json", "--params", "1.9.1-tiny-0000.params",
      "--input-name", "data", "--input-name", "dense0_bias"],
     "parameter file '1.9.1-tiny-0000.params' does not fit symbol file "
     "'1.9.1-tiny-symbol.json': it holds 'dense0_bias', named as an input"),
    (["not_json-symbol.json"], "symbol file 'not_json-symbol.json' is not JSON"),
    (["other.json"], "'other.json' is JSON but no MXNet symbol"),
    (["nowhere-symbol.json"], "symbol file 'nowhere-symbol.json': no such file"),
    (["lonely-symbol.json"], "no parameter file lonely-NNNN.params beside "
                             "'lonely-symbol.json'"),
    (["twice-symbol.json"], "2 parameter files beside 'twice-symbol.json', of "
                            "epochs 0, 3; choose one (epoch=, --epoch)"),
    (["twice-symbol.json", "--epoch", "7"], "no parameter file of epoch 7 beside "
                                            "'twice-symbol.json' (twice-0007.params); "
                                            "the epochs there: 0, 3"),
    (["resnet18_v1", "--kwargs", "{}"], "--kwargs does not apply to 'resnet18_v1', "
                                        "a model-zoo name"),
    (["1.9.1-tiny-0000.params", "--input-shape", TINY],
     "--input-shape does not apply to '1.9.1-tiny-0000.params', a checkpoint file "
     "alone"),
    (["garbage.params"], "checkpoint 'garbage.params': unknown format"),
]


@pytest.fixture
def bad_files(workdir):
    (workdir / "syntax.py").write_text("def build(:\n")
    (workdir / "not_json-symbol.json").write_text("not json")
    (workdir / "other.json").write_text('{"a": 1}')
    (workdir / "garbage.params").write_bytes(bytes(64))
    shutil.copy(EXPORTS / "1.9.1-tiny-symbol.json", workdir / "lonely-symbol.json")
    for epoch in (0, 3):
        shutil.copy(EXPORTS / "1.9.1-tiny-symbol.json", workdir / "twice-symbol.json")
        shutil.copy(EXPORTS / "1.9.1-tiny-0000.params",
                    workdir / f"twice-{epoch:04d}.params")
    from safetensors.numpy import save_file
    arrays = mp.checkpoint.inspection.normalized(
        mp.checkpoint._file.read(EXPORTS / "2.0.0b1-tiny-0000.params"))
    arrays = {key: numpy.asarray(value) for key, value in arrays.items()}
    for key in ("head.bias", "bn.running_var"):
        save_file({k: v for k, v in arrays.items() if k != key},
                  str(workdir / f"no_{key.replace('.', '_')}.safetensors"))
    return workdir


@NP
@pytest.mark.parametrize("args, message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_and_exit_2(args, message, bad_files, capsys, mode):
    code, out, err = run(capsys, "summary", *args)
    assert (code, out) == (2, ""), err
    assert err.startswith("mxparams: error: ") and err.count("\n") == 1, err
    assert message in err, err


@NP
def test_tree_takes_an_exports_parameter_file_as_params_file(workdir, capsys, mode):
    shutil.copy(EXPORTS / "1.9.1-tiny-0000.params", workdir / "epoch3.params")
    out = ok(capsys, "tree", "1.9.1-tiny-symbol.json", "--params-file",
             "epoch3.params", "--params")
    assert out.startswith("1.9.1-tiny-symbol.json (exported network: parameters "
                          "epoch3.params, input data), before the first forward pass")
    assert "conv0_weight (4, 2, 3, 3)" in out


# --- every version's exports, made in this run ---------------------------------

@NP
@pytest.mark.cross_version
@pytest.mark.parametrize("writer", MXNET_VERSIONS)
def test_exports_made_by_every_version(writer, file_sets, monkeypatch, capsys, golden,
                                       mode):
    # tests/checkpoint_sets.py: each version exported the tiny net and a
    # zoo network before the run.
    monkeypatch.chdir(file_sets / writer)
    golden(f"models_export_{writer}.txt",
           ok(capsys, "demo", f"{writer}-tiny-symbol.json", "--input-shape", TINY))
    code, out, err = run(capsys, "summary", "mobilenet0.25-symbol.json")
    if code == 0:
        golden(f"models_zoo_export.mxnet{writer[0]}.txt", out)
    # Only MXNet 1.x refuses, the pooling of 2.0's zoo networks.
    assert (code == 2) == (writer[0] == "2" and THIS[0] == "1"), err
    if code == 2:
        assert err == ("mxparams: error: symbol file 'mobilenet0.25-symbol.json' "
                       f"(written by MXNet 2.0.0): MXNet {_compat.MXNET_VERSION} "
                       "cannot read it: MXNetError: Cannot find argument "
                       "'output_size'\n")


# --- the Python function -------------------------------------------------------------

def test_an_export_computes_what_the_network_computed(tmp_path, mode):
    net = tiny_net()
    expected = export_tiny(tmp_path / "tiny", net)
    model = mp.load_model(tmp_path / "tiny-symbol.json")
    assert isinstance(model, mx.gluon.SymbolBlock)
    got = model(_compat.ones(TINY_INPUT)).asnumpy()
    assert numpy.array_equal(got, expected)
    # The other version's file: the same values, so the same result.
    other = mp.load_model(EXPORTS / f"{OTHER}-tiny-symbol.json",
                          input_shapes=TINY_INPUT)
    assert numpy.allclose(other(_compat.ones(TINY_INPUT)).asnumpy(), expected,
                          rtol=1e-6, atol=0)
    # Running statistics are no trainable parameters.
    assert [r.path for r in mp.summary(other).rows if not r.trainable] == [
        "bn.running_mean" if OTHER != "1.9.1" else "batchnorm0_running_mean",
        "bn.running_var" if OTHER != "1.9.1" else "batchnorm0_running_var"]


def test_an_exports_paths_are_its_variable_names_on_both(tmp_path, mode):
    # 1.9.1's own SymbolBlock cuts the common prefix: 'dense0_weight' and
    # 'dense1_weight' would be '0_weight' and '1_weight'.
    with mx.name.NameManager():
        net = nn.HybridSequential()
        net.add(nn.Dense(3, in_units=2), nn.Dense(1, in_units=3))
    net.initialize()
    net.hybridize()
    net(_compat.ones((1, 2)))
    net.export(str(tmp_path / "mlp"))
    model = mp.load_model(str(tmp_path / "mlp-symbol.json"))
    names = (["dense0_weight", "dense0_bias", "dense1_weight", "dense1_bias"]
             if _compat.GLOBAL_NAMES else ["0.weight", "0.bias", "1.weight", "1.bias"])
    assert list(mp.collect(model)) == names
    # Gluon's own view (1.9.1: the ParameterDict its forward pass reads).
    trainer = mx.gluon.Trainer(model.collect_params(), "sgd")
    assert len(trainer._params) == 4


def test_a_factory_with_kwargs_and_a_forward_pass(workdir, mode):
    net = mp.load_model("nets.py:build", kwargs={"units": 5, "classes": 2},
                        input_shapes=[(2, 4)], init=mx.init.One())
    assert [tuple(p.shape) for p in mp.collect(net, select=".*weight").values()] == [
        (5, 4), (2, 5)]
    assert net[0].weight.data().asnumpy().sum() == 20.0
    # What the factory initialized keeps its values (here deferred: set at
    # the forward pass by the factory's own initializer).
    ready = mp.load_model("nets.py:ready", input_shapes=(2, 4), init=mx.init.One())
    assert ready[0].weight.data().asnumpy().sum() == 2.0 * 8 * 4
    assert ready[1].gamma.data().asnumpy().sum() == 8.0  # BatchNorm's own: ones


def test_a_checkpoint_alone(workdir, mode):
    model = mp.load_model("2.0.0b1-tiny-0000.params")
    assert isinstance(model, CheckpointBlock)
    assert list(mp.collect(model)) == [
        "conv.weight", "conv.bias", "bn.gamma", "bn.beta", "bn.running_mean",
        "bn.running_var", "head.weight", "head.bias"]
    assert [r.trainable for r in mp.summary(model).rows] == [True] * 4 + [False] * 2 + [
        True] * 2
    stored = mp.state_dict(model)
    with pytest.raises(mp.ModelError, match="a checkpoint alone has no computation"):
        model(_compat.ones((1,)))
    # The arrays load back into the network they came from.
    net = tiny_net()
    mp.load_state_dict(net, stored)
    assert numpy.array_equal(net.conv.weight.data().asnumpy(), stored["conv.weight"])


def test_tied_paths_of_a_safetensors_file_stay_tied(tmp_path, mode):
    shared = nn.Dense(3, in_units=3)
    net = nn.HybridSequential()
    net.add(nn.Dense(3, in_units=2), shared, shared)
    mp.initialize(net)  # Gluon 2 warns for a block it reaches twice
    mp.save(net, tmp_path / "tied.safetensors")
    model = mp.load_model(tmp_path / "tied.safetensors")
    assert mp.tied_groups(model) == [["1.bias", "2.bias"], ["1.weight", "2.weight"]]
    # Gluon's own view: a Trainer updates each of the 4 Parameters once.
    trainer = mx.gluon.Trainer(model.collect_params(), "sgd")
    assert len(trainer._params) == 4


def test_errors_say_what_was_tried(workdir, mode):
    with pytest.raises(mp.ModelError) as raised:
        mp.load_model("nets.py:broken")
    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value.__cause__, RuntimeError)
    with pytest.raises(ValueError, match=r"params= applies to an exported network"):
        mp.load_model("resnet18_v1", params="x.params")
    with pytest.raises(ValueError, match=r"input_shapes= needs a network to run"):
        mp.load_model("1.9.1-tiny-0000.params", input_shapes=(1, 2))
    with pytest.raises(TypeError, match=r"the model is a str or os.PathLike"):
        mp.load_model(3)
    with pytest.raises(TypeError, match=r"input_shapes: \[\[1\]\] is not a shape"):
        mp.load_model("nets.py:build", input_shapes=[(1, 2), [[1]]])
    with pytest.raises(mp.CheckpointError, match="unknown format"):
        (workdir / "zeros.params").write_bytes(bytes(32))
        mp.load_model("zeros.params")
