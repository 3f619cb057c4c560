"""The API of issue 23: state_dict / load_state_dict, get_block, save's
metadata and read_metadata, diff and convert, the load report's
missing_keys / unexpected_keys, and the error family of checkpoints."""
import mxnet as mx
import numpy
import pytest
from mxnet.gluon import nn

import mxparams as mp

from helpers import arrays, initialize, tied_net


def mlp():
    net = nn.HybridSequential()
    net.add(nn.Dense(3, in_units=2), nn.BatchNorm(in_channels=3),
            nn.Dense(1, in_units=3))
    return net


def filled(net, start=0.0):
    """``net`` initialized with distinct values per parameter."""
    net.initialize()
    for i, param in enumerate(mp.collect(net).values()):
        data = param.data()
        param.set_data(arrays().array(numpy.full(data.shape, start + i + 0.5),
                                      dtype=data.dtype))
    return net


def values(net) -> dict:
    return {k: p.data().asnumpy().copy() for k, p in mp.collect(net).items()}


def same(a: dict, b: dict) -> bool:
    return list(a) == list(b) and all(
        a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes() for k in a)


# -- state_dict --------------------------------------------------------------

def test_state_dict_is_every_parameter_as_numpy_in_its_dtype():
    net = filled(mlp())
    net[2].cast("float64")
    state = mp.state_dict(net)
    assert list(state) == list(mp.collect(net))  # BatchNorm's statistics too
    assert all(isinstance(v, numpy.ndarray) for v in state.values())
    assert state["2.weight"].dtype == numpy.float64
    assert same(state, values(net))
    state["0.weight"][:] = 99  # a copy: the network keeps its values
    assert float(net[0].weight.data().asnumpy().max()) != 99


def test_state_dict_holds_a_tied_parameter_once_and_constants():
    net = tied_net()
    initialize(net)
    net(arrays().ones((1, 4)))
    mp.constant(net, "scale", numpy.arange(3, dtype="float32"))
    mp.initialize(net, select="scale")
    state = mp.state_dict(net)
    assert "1.weight" in state and "2.weight" not in state
    assert state["scale"].tolist() == [0, 1, 2]
    copy = tied_net()
    initialize(copy)
    copy(arrays().ones((1, 4)))
    mp.constant(copy, "scale", numpy.zeros(3, dtype="float32"))
    mp.initialize(copy, select="scale")
    assert not mp.load_state_dict(copy, state)
    assert copy[2].weight is copy[1].weight
    assert same(values(copy), values(net))


def test_state_dict_of_an_uninitialized_network_says_what_to_do():
    with pytest.raises(RuntimeError, match=r"state_dict: cannot read "
                       r"HybridSequential: parameters 8 not initialized .*"
                       r"call net.initialize\(\)"):
        mp.state_dict(mlp())
    with pytest.raises(TypeError, match="state_dict"):
        mp.state_dict("net")


# -- load_state_dict ---------------------------------------------------------

def test_load_state_dict_round_trip_and_mx_arrays():
    net = filled(mlp())
    state = mp.state_dict(net)
    copy = filled(mlp(), start=10)
    report = mp.load_state_dict(copy, state)
    assert not report and report.file is None
    assert report.missing_keys == report.unexpected_keys == []
    assert same(values(copy), values(net))
    # MXNet arrays of the current mode are accepted as values too.
    other = filled(mlp(), start=20)
    mp.load_state_dict(other, {k: arrays().array(v, dtype=v.dtype)
                               for k, v in state.items()})
    assert same(values(other), values(net))


def test_load_state_dict_is_all_or_nothing_with_pytorch_names():
    net = filled(mlp())
    state = mp.state_dict(net)
    state["9.weight"] = state.pop("2.weight")
    copy = filled(mlp(), start=10)
    before = values(copy)
    with pytest.raises(mp.CheckpointError, match=r"^checkpoint 'state_dict': "
                       r"cannot load into HybridSequential: missing from the "
                       r"file: '2.weight'; in the file, not in the network: "
                       r"'9.weight'\. Nothing was loaded"):
        mp.load_state_dict(copy, state)
    assert same(values(copy), before)
    report = mp.load_state_dict(copy, state, strict=False)
    assert report.missing_keys == ["2.weight"]
    assert report.unexpected_keys == ["9.weight"]
    assert "2.weight" not in report.loaded and len(report.loaded) == 7
    assert str(report).startswith("Skipped   Reason")
    assert "Source  a mapping (load_state_dict)" in str(report)
    # rename= as for files
    assert not mp.load_state_dict(copy, state, rename={"9.weight": "2.weight"})
    assert same(values(copy), values(net))


def test_load_state_dict_refuses_shapes_and_dtypes_with_their_families():
    net = filled(mlp())
    state = mp.state_dict(net)
    copy = filled(mlp(), start=10)
    before = values(copy)
    wrong = dict(state, **{"0.weight": numpy.zeros((2, 3), "float32")})
    with pytest.raises(mp.CheckpointShapeMismatch, match=r"shape \(2, 3\) "
                       r"in the file, \(3, 2\) in the network"):
        mp.load_state_dict(copy, wrong)
    wrong = dict(state, **{"0.bias": state["0.bias"].astype("float64")})
    with pytest.raises(mp.CheckpointDTypeMismatch) as err:
        mp.load_state_dict(copy, wrong)
    assert isinstance(err.value, TypeError) and isinstance(err.value, mp.DTypeMismatch)
    assert same(values(copy), before)


def test_load_state_dict_argument_errors_change_nothing():
    copy = filled(mlp())
    before = values(copy)
    with pytest.raises(TypeError, match="state must be a mapping"):
        mp.load_state_dict(copy, [("0.weight", numpy.zeros((3, 2)))])
    with pytest.raises(TypeError, match=r"keys of state are paths \(str\), got int 0"):
        mp.load_state_dict(copy, {0: numpy.zeros((3, 2))})
    with pytest.raises(TypeError, match=r"state\['0.bias'\] must be a NumPy or "
                                        r"MXNet array, got list"):
        mp.load_state_dict(copy, {"0.bias": [0, 0, 0]})
    with pytest.raises(TypeError, match="strict"):
        mp.load_state_dict(copy, {}, strict="yes")
    assert same(values(copy), before)


def test_load_state_dict_into_a_deferred_network_takes_the_shapes():
    net = nn.HybridSequential()
    net.add(nn.Dense(3), nn.Dense(1))
    net.initialize()
    net(arrays().ones((2, 5)))
    state = mp.state_dict(net)
    fresh = nn.HybridSequential()
    fresh.add(nn.Dense(3), nn.Dense(1))
    fresh.initialize()  # shapes unknown until the first forward pass
    assert not mp.load_state_dict(fresh, state)
    assert same(values(fresh), values(net))


def test_load_report_of_a_file_names_missing_and_unexpected_keys(tmp_path):
    net = filled(mlp())
    path = tmp_path / "net.safetensors"
    mp.save(net, path)
    bigger = mlp()
    bigger.add(nn.Dense(1, in_units=1))
    bigger.initialize()
    report = mp.load(bigger, path, strict=False)
    assert report.missing_keys == ["3.weight", "3.bias"]
    assert report.unexpected_keys == []
    smaller = nn.HybridSequential()
    smaller.add(nn.Dense(3, in_units=2))
    smaller.initialize()
    report = mp.load(smaller, path, strict=False)
    assert report.missing_keys == []
    assert report.unexpected_keys == ["1.beta", "1.gamma", "1.running_mean",
                                      "1.running_var", "2.bias", "2.weight"]


# -- get_block ----------------------------------------------------------------

def test_get_block_by_path():
    inner = nn.HybridSequential()
    inner.add(nn.Dense(4, in_units=3), nn.Dense(2, in_units=4))
    net = nn.HybridSequential()
    net.add(nn.Dense(3, in_units=2), inner)
    assert mp.get_block(net, "") is net
    assert mp.get_block(net, "1") is inner
    assert mp.get_block(net, "1.1") is inner[1]
    assert mp.get_block(net, "1.1").weight is mp.get(net, "1.1.weight")
    with pytest.raises(mp.BlockNotFound, match=r"no block at path '1\.2' in "
                       r"HybridSequential\. Did you mean '1\.1', '1\.0'"):
        mp.get_block(net, "1.2")
    with pytest.raises(KeyError, match="it is a parameter path"):
        mp.get_block(net, "0.bias")
    with pytest.raises(TypeError, match=r"mp.get_block: path must be a str"):
        mp.get_block(net, 1)
    with pytest.raises(mp.BlockNotFound, match="has no child blocks"):
        mp.get_block(nn.Dense(2, in_units=2), "0")


# -- metadata -----------------------------------------------------------------

def test_save_metadata_round_trips_through_safetensors(tmp_path):
    net = filled(mlp())
    path = tmp_path / "net.safetensors"
    meta = {"epoch": "12", "note": "lr 0.1, ünïcode"}
    mp.save(net, path, metadata=meta)
    assert mp.read_metadata(path) == meta
    info = mp.inspect_checkpoint(path)
    assert info.metadata["epoch"] == "12" and "mxparams" in info.metadata
    assert "epoch=12" in str(info)
    mp.save(net, tmp_path / "plain.params")
    assert mp.read_metadata(tmp_path / "plain.params") == {}
    copy = filled(mlp(), start=10)
    assert not mp.load(copy, path)  # the metadata does not disturb a load
    assert same(values(copy), values(net))


@pytest.mark.parametrize("metadata, error, match", [
    ({"epoch": 12}, TypeError, r"metadata is text to text; 'epoch': int 12"),
    ({1: "x"}, TypeError, "metadata is text to text"),
    ("epoch=12", TypeError, "metadata must be a mapping of text to text, got str"),
    ({"mxparams.keys": "x"}, ValueError, "are mxparams' own"),
    ({"mxparams": "x"}, ValueError, "are mxparams' own"),
])
def test_save_metadata_is_checked_before_anything_is_written(
        tmp_path, metadata, error, match):
    net = filled(mlp())
    path = tmp_path / "net.safetensors"
    with pytest.raises(error, match=match):
        mp.save(net, path, metadata=metadata)
    assert not path.exists()


def test_save_metadata_in_mxnets_format_names_safetensors(tmp_path):
    net = filled(mlp())
    for kwargs in ({}, {"format": "mxnet"}):
        path = tmp_path / "net.params"
        with pytest.raises(ValueError, match=r"metadata= needs a safetensors "
                           r"file .*load_parameters"):
            mp.save(net, path, metadata={"epoch": "1"}, **kwargs)
        assert not path.exists()
    mp.save(net, tmp_path / "net.params", metadata={"epoch": "1"},
            format="safetensors")
    assert mp.read_metadata(tmp_path / "net.params") == {"epoch": "1"}


# -- diff and convert ------------------------------------------------------------

def test_diff_and_convert_are_public(tmp_path):
    net = filled(mlp())
    a, b = tmp_path / "a.params", tmp_path / "b.safetensors"
    mp.save(net, a)
    done = mp.convert(a, b)
    assert isinstance(done, mp.Conversion) and done.arrays == 8
    assert not mp.diff(a, b) and mp.diff(a, b).equal
    net[0].bias.set_data(net[0].bias.data() + 1)
    mp.save(net, a)
    result = mp.diff(a, b)
    assert result and [k for k, _ in result.values] == ["0.bias"]
    with pytest.raises(TypeError, match="diff: a: a checkpoint path"):
        mp.diff(1, b)


def test_load_of_a_float64_file_into_float32_is_a_dtype_mismatch(tmp_path):
    net = filled(mlp())
    net.cast("float64")
    path = tmp_path / "net.params"
    mp.save(net, path)
    copy = filled(mlp(), start=10)
    before = values(copy)
    with pytest.raises(TypeError, match="dtype float64 in the file, float32 "
                                        "in the network") as err:
        mp.load(copy, path)
    assert isinstance(err.value, mp.CheckpointDTypeMismatch)
    assert isinstance(err.value, mp.CheckpointError)
    assert same(values(copy), before)


def test_every_exception_is_an_mxparams_error():
    for name in mp.__all__:
        obj = getattr(mp, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            assert issubclass(obj, mp.MxparamsError), name


def test_version_is_the_installed_distributions():
    from importlib.metadata import version
    assert mp.__version__ == version("mxparams")
    assert mx.__version__  # the environment has MXNet, as every test needs
