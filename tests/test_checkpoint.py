"""mp.save, mp.load and mp.inspect on the running MXNet, in every array mode."""
import os
import pickle
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import mxnet as mx
import numpy
import pytest
from mxnet import autograd
from mxnet.gluon import nn

import mxparams as mp
from mxparams import _compat
from mxparams.checkpoint import _common, _file

from ckpt_common import compat_net, expected, fill, same, twins_net, values
from helpers import forward, tied_net, uniform

FIXTURES = Path(__file__).parent / "fixtures" / "checkpoints"


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "net.params"
    mp.save(fill(compat_net()), path)
    return path


# -- save ----------------------------------------------------------------

def test_save_writes_the_portable_format_gluon_loads(saved):
    found = mp.inspect_checkpoint(saved)
    assert found.format == _common.MXNET
    assert found.keys() == list(expected())
    net = compat_net()
    net.load_parameters(str(saved))  # Gluon's own loader, this version and mode
    assert same(values(net), expected())


def test_save_of_uninitialized_or_deferred_params_is_refused(tmp_path):
    target = tmp_path / "x.params"
    with pytest.raises(RuntimeError, match=r"4 not initialized \('0.weight', "
                                           r"'0.bias', '1.weight', '1.bias'\); "
                                           r"call net.initialize\(\)"):
        mp.save(_two_dense(), target)
    net = compat_net(deferred=True)
    net.initialize()
    with pytest.raises(RuntimeError, match=r"with shapes not known yet .* "
                                           "run one forward pass"):
        mp.save(net, target)
    assert not target.exists() and os.listdir(tmp_path) == []


def _two_dense():
    net = nn.HybridSequential()
    net.add(nn.Dense(2), nn.Dense(2))
    return net


def test_save_replaces_atomically_and_cleans_stale_temps(tmp_path, saved):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = tmp_path / f".net.params.mxparams-tmp.{dead.stdout.strip()}.0badc0de"
    ours = tmp_path / f".net.params.mxparams-tmp.{os.getpid()}.0badc0de"
    other = tmp_path / ".other.params.mxparams-tmp.1.0badc0de"
    for temp in (stale, ours, other):
        temp.write_bytes(b"partial")
    mp.save(fill(compat_net(), seed=1), saved)
    assert same(_loaded(saved), expected(seed=1))
    assert not stale.exists()  # its process is gone
    assert ours.exists() and other.exists()  # alive / another target
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f".net.params.mxparams-tmp.{os.getpid()}.0badc0de",
         ".other.params.mxparams-tmp.1.0badc0de", "net.params"])


def test_save_errors_name_the_file_and_leave_nothing(tmp_path):
    net = fill(compat_net())
    with pytest.raises(mp.CheckpointError, match="does not exist"):
        mp.save(net, tmp_path / "no" / "such" / "dir.params")
    with pytest.raises(mp.CheckpointError, match="is a directory"):
        mp.save(net, tmp_path)
    assert os.listdir(tmp_path) == []


def _loaded(path, net=None, **kw):
    net = net or compat_net()
    mp.load(net, path, **kw)
    return values(net)


# -- load ----------------------------------------------------------------

def test_round_trip_is_bit_identical(saved):
    assert same(_loaded(saved), expected())


@pytest.mark.parametrize("state", ["fresh", "initialized", "deferred"])
def test_load_into_any_initialization_state(saved, state):
    """As Gluon's load_parameters: shapes of a deferred net come from the file."""
    net = compat_net(deferred=state == "deferred")
    if state != "fresh":
        net.initialize()
    mp.load(net, saved)
    assert same(values(net), expected())
    assert net[0].weight.shape == (4, 3) and not net[0].weight._deferred_init
    out = net(uniform(5, 3))  # usable without any further step
    assert out.shape == (5, 2)


def test_load_gluon_save_parameters_of_this_version_and_mode(tmp_path):
    path = str(tmp_path / "gluon.params")
    fill(compat_net()).save_parameters(path)
    assert same(_loaded(path), expected())


def test_loaded_arrays_are_the_kind_of_the_mode(saved):
    net = compat_net()
    mp.load(net, saved)
    kind = mx.np.ndarray if _compat.current_mode() == "np" else mx.nd.NDArray
    assert all(type(p.data()) is kind for p in mp.collect(net).values())


def test_load_inside_autograd_record(saved):
    net = fill(compat_net(), seed=3)
    net(uniform(2, 3))
    with autograd.record():
        mp.load(net, saved)
    assert same(values(net), expected())


def test_load_sets_every_device_copy_and_save_writes_one(tmp_path, saved):
    net = compat_net()
    net.initialize(ctx=[mx.cpu(0), mx.cpu(1)])
    mp.load(net, saved)
    for path, want in expected().items():
        copies = mp.get(net, path).list_data()
        assert len(copies) == 2
        assert all(c.asnumpy().tobytes() == want.tobytes() for c in copies)
    again = tmp_path / "two-devices.params"
    mp.save(net, again)
    assert mp.inspect_checkpoint(again).elements == mp.inspect_checkpoint(saved).elements
    assert same(_loaded(again), expected())


def test_tied_parameters_load_once_from_any_of_their_paths(tmp_path):
    net = tied_net()
    forward(net, 2, 5)
    full, dedup = tmp_path / "full.params", tmp_path / "dedup.params"
    mp.save(net, full)
    net.save_parameters(str(dedup), deduplicate=True)  # one path per Parameter
    assert "1.weight" not in mp.inspect_checkpoint(dedup).keys()
    for path in (full, dedup):
        copy = tied_net()
        report = mp.load(copy, path)
        assert copy[1].weight is copy[2].weight
        assert same(values(copy), values(net))
        assert len(report.loaded) == 6 and report.skipped == []


def test_strict_refuses_with_every_problem_and_changes_nothing(saved, tmp_path):
    net = nn.HybridSequential()
    net.add(nn.Dense(4, in_units=5), nn.BatchNorm(in_channels=4),
            nn.Dense(2, in_units=4), nn.Dense(1, in_units=2))
    net.initialize()
    net[2].cast("float64")  # after initialize: 1.x np mode cannot init float64
    before = values(net)
    with pytest.raises(mp.CheckpointError) as err:
        mp.load(net, saved)
    message = str(err.value)
    assert message.startswith(f"checkpoint {str(saved)!r}: cannot load into "
                              "HybridSequential: ")
    assert "shape (4, 3) in the file, (4, 5) in the network: '0.weight'" in message
    assert ("dtype float32 in the file, float64 in the network (cast one of "
            "them, e.g. net.cast('float32')): '2.weight', '2.bias'") in message
    assert "missing from the file: '3.weight', '3.bias'" in message
    assert message.endswith("Nothing was loaded; strict=False loads the 5 "
                            "parameters that match")
    assert "\n" not in message
    assert same(values(net), before)
    assert err.value.file == str(saved)


def test_unexpected_keys_are_refused(saved):
    net = nn.HybridSequential()
    net.add(nn.Dense(4, in_units=3))
    net.initialize()
    before = values(net)
    with pytest.raises(mp.CheckpointError, match="in the file, not in the "
                                                 "network: '1.gamma', '1.beta', "
                                                 r"'1.running_mean', '1.running_var', \.\.\."):
        mp.load(net, saved)
    assert same(values(net), before)


def test_strict_false_loads_the_matching_subset_and_reports(saved):
    net = nn.HybridSequential()
    net.add(nn.Dense(4, in_units=5), nn.BatchNorm(in_channels=4),
            nn.Dense(2, in_units=4), nn.Dense(1, in_units=2))
    net.initialize()
    before = values(net)
    report = mp.load(net, saved, strict=False)
    after = values(net)
    assert report.loaded == ["0.bias", "1.gamma", "1.beta", "1.running_mean",
                             "1.running_var", "2.weight", "2.bias"]
    for path in report.loaded:
        assert after[path].tobytes() == expected()[path].tobytes()
    for path in ("0.weight", "3.weight", "3.bias"):
        assert after[path].tobytes() == before[path].tobytes()
    assert str(report) == textwrap.dedent(f"""\
        Skipped   Reason
        --------  -----------------------------------------------
        0.weight  shape (4, 3) in the file, (4, 5) in the network
        3.weight  missing from the file
        3.bias    missing from the file
        =========================================================
        File    {saved}
        Loaded  7 of 10 parameters""")
    assert "<td" in report._repr_html_()


def test_export_file_loads_back(tmp_path):
    """1.x keys an export by global names (exact here: the same net), 2.x by path."""
    net = fill(compat_net())
    net.hybridize()
    net(uniform(1, 3))
    prefix = str(tmp_path / "exported")
    net.export(prefix)
    fill(net, seed=2)
    report = mp.load(net, prefix + "-0000.params")
    assert same(values(net), expected())
    keys = mp.inspect_checkpoint(prefix + "-0000.params").keys()
    assert all(k.startswith(("arg:", "aux:")) for k in keys)
    assert bool(report.renamed) == _compat.GLOBAL_NAMES


def _write(path, arrays):
    _compat.save_portable(str(path), {k: mx.nd.array(v, dtype=v.dtype)
                                      for k, v in arrays.items()})


def test_global_names_map_when_attribute_and_shape_are_unique(tmp_path):
    """Names from another process (counters differ) still map if certain."""
    names = ["hybridsequential7_dense12_weight", "hybridsequential7_dense12_bias",
             "hybridsequential7_batchnorm3_gamma", "hybridsequential7_batchnorm3_beta",
             "hybridsequential7_batchnorm3_running_mean",
             "hybridsequential7_batchnorm3_running_var",
             "hybridsequential7_dense13_weight", "hybridsequential7_dense13_bias"]
    path = tmp_path / "names.params"
    # Reversed file order: the mapping must not depend on order.
    _write(path, dict(reversed(list(zip(names, expected().values(), strict=True)))))
    for deferred in (False, True):
        net = compat_net(deferred)
        net.initialize()
        report = mp.load(net, path)
        assert same(values(net), expected())
        assert report.renamed["hybridsequential7_dense13_weight"] == "2.weight"


def test_ambiguous_global_names_are_refused_with_the_way_out(tmp_path):
    path = tmp_path / "twins.params"
    arrays = {"dense905_weight": numpy.ones((3, 3), "float32"),
              "dense905_bias": numpy.ones(3, "float32"),
              "dense906_weight": numpy.full((3, 3), 2, "float32"),
              "dense906_bias": numpy.full(3, 2, "float32")}
    _write(path, arrays)
    net = twins_net()
    net.initialize()
    before = values(net)
    with pytest.raises(mp.CheckpointError) as err:
        mp.load(net, path)
    message = str(err.value)
    assert "attribute and shape fit several parameters: 'dense905_weight'" in message
    assert "MXNet 1.x global names" in message and "re-save it with mp.save" in message
    assert same(values(net), before)
    report = mp.load(net, path, strict=False)
    assert report.loaded == [] and len(report.skipped) == 8


# -- unreadable files ----------------------------------------------------

def _bytes_of(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("mode", ["np"], indirect=True)
@pytest.mark.parametrize("name, data, reason", [
    ("empty.params", b"", "the file is empty"),
    ("short.params", b"\x12\x01\x00", "truncated: the file ends after 3 bytes"),
    ("model.json", b'{"nodes": []}', "JSON text (an MXNet -symbol.json?)"),
    ("model.pkl", pickle.dumps({"w": 1}), "a Python pickle; mxparams never "
                                          "unpickles"),
    ("array.npy", b"\x93NUMPY\x01\x00", "a single NumPy .npy array"),
    ("text.txt", b"hello world", "it starts with bytes 68 65 6c 6c 6f"),
])
def test_foreign_and_empty_files(tmp_path, name, data, reason, mode):
    path = _bytes_of(tmp_path, name, data)
    with pytest.raises(mp.CheckpointError, match=f"^checkpoint '.*{name}': .*"
                                                 f"{re.escape(reason)}"):
        mp.load(fill(compat_net()), path)


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_missing_file_directory_and_unnamed_list(tmp_path, mode):
    net = fill(compat_net())
    before = {k: p.data().asnumpy() for k, p in mp.collect(net).items()}
    for call in (lambda f: mp.load(net, f), mp.inspect_checkpoint,
                 mp.read_metadata, lambda f: mp.diff(f, f)):
        # Both mxparams' CheckpointError and the FileNotFoundError of open().
        with pytest.raises(mp.CheckpointNotFound,
                           match="No such file or directory") as found:
            call(tmp_path / "absent.params")
        assert isinstance(found.value, FileNotFoundError)
        assert isinstance(found.value, mp.CheckpointError)
        assert found.value.filename == str(tmp_path / "absent.params")
    assert all((p.data().asnumpy() == before[k]).all()
               for k, p in mp.collect(net).items())
    with pytest.raises(mp.CheckpointError, match="is a directory"):
        mp.inspect_checkpoint(tmp_path)
    path = tmp_path / "list.params"
    with mx.util.np_array(False), mx.util.np_shape(False):
        mx.nd.save(str(path), [mx.nd.ones((2,))])
    with pytest.raises(mp.CheckpointError, match=r"unnamed list of 1 arrays"):
        mp.inspect_checkpoint(path)


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_npz_with_pickled_objects_is_refused_without_unpickling(tmp_path, mode):
    path = tmp_path / "objects.params"
    with open(path, "wb") as f:
        numpy.savez(f, w=numpy.array([print], dtype=object))
    with pytest.raises(mp.CheckpointError, match="holds Python objects "
                                                 r"\(pickled\); mxparams never "
                                                 "unpickles"):
        mp.inspect_checkpoint(path)


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_npz_variants_numpy_writes_are_read(tmp_path, mode):
    """Compressed, Fortran-ordered and big-endian members."""
    path = tmp_path / "variants.npz"
    want = {"a": numpy.arange(6, dtype=">f4").reshape(2, 3),
            "b": numpy.asfortranarray(numpy.arange(6.0).reshape(2, 3))}
    with open(path, "wb") as f:
        numpy.savez_compressed(f, **want)
    found = _file.read(path).arrays
    assert found["a"].dtype == numpy.float32 and found["a"].tolist() == want["a"].tolist()
    assert found["b"].tolist() == want["b"].tolist()


# -- inspect -------------------------------------------------------------

def test_inspect_table_is_the_same_everywhere(saved, golden):
    found = mp.inspect_checkpoint(saved)
    text = str(found).replace(str(saved), "net.params")
    golden("checkpoint_inspect.txt", text)
    assert found.table().to_html().startswith('<table class="mxparams">')
    assert found.to_dict()["arrays"][0] == {
        "path": "0.weight", "shape": [4, 3], "dtype": "float32", "elements": 12,
        "bytes": 48, "min": -0.5, "max": 0.875, "mean": 0.1875}


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_inspect_statistics_of_special_values(tmp_path, mode):
    path = tmp_path / "special.params"
    _write(path, {"nan": numpy.array([1.0, numpy.nan], "float32"),
                  "inf": numpy.array([-numpy.inf, 0.5], "float16"),
                  "int": numpy.array([[-3, 7]], "int64"),
                  "flag": numpy.array([True, False, True])})
    rows = {r[0]: r[5:] for r in mp.inspect_checkpoint(path).table().rows}
    assert rows == {"nan": ("nan", "nan", "nan"), "inf": ("-inf", "0.5", "-inf"),
                    "int": ("-3", "7", "2"), "flag": ("0", "1", "0.666667")}
    assert mp.inspect_checkpoint(path).to_dict()["arrays"][0]["min"] == "nan"


# -- a save killed midway ------------------------------------------------

KILLED_SAVE = """
import os, sys, time
from mxnet import init
from mxnet.gluon import nn
import mxparams as mp
from mxparams import _compat
_compat.set_mode("np")
net = nn.HybridSequential()
net.add(nn.Dense(4096, in_units=8192, use_bias=False))  # 128 MiB
net.initialize(init.Constant(7.0))
if sys.argv[2] == "before-rename":
    def blocked(src, dst):
        print("renaming", flush=True)
        time.sleep(600)
    os.replace = blocked
print("saving", flush=True)
mp.save(net, sys.argv[1])
print("saved", flush=True)
"""


@pytest.mark.parametrize("mode", ["np"], indirect=True)
@pytest.mark.parametrize("when", ["while-writing", "before-rename"])
def test_a_save_killed_midway_leaves_the_old_file(tmp_path, saved, when, mode):
    old = saved.read_bytes()
    child = subprocess.Popen([sys.executable, "-c", KILLED_SAVE, str(saved), when],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True)
    prefix = ".net.params.mxparams-tmp."
    try:
        if when == "before-rename":
            assert child.stdout.readline() == "saving\n"
            assert child.stdout.readline() == "renaming\n"
        else:
            deadline = time.monotonic() + 120
            while not any(n.startswith(prefix) for n in os.listdir(tmp_path)):
                assert child.poll() is None, "the saving process ended early"
                assert time.monotonic() < deadline, "no temporary file appeared"
                time.sleep(0.001)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    temps = [n for n in os.listdir(tmp_path) if n.startswith(prefix)]
    assert temps == [f"{prefix}{child.pid}.{temps[0].rsplit('.', 1)[1]}"]
    assert saved.read_bytes() == old  # the old file, intact and loadable
    assert same(_loaded(saved), expected())
    mp.save(fill(compat_net(), seed=1), saved)  # the next save cleans up
    assert sorted(os.listdir(tmp_path)) == ["net.params"]
    assert same(_loaded(saved), expected(seed=1))


def test_paths_may_be_bytes_as_for_open(tmp_path):
    net = fill(compat_net())
    path = bytes(tmp_path / "bytes.params")
    mp.save(net, path)
    assert mp.inspect_checkpoint(path).keys() == list(mp.collect(net))
    copy = compat_net()
    assert mp.load(copy, path).loaded == list(mp.collect(net))
    with pytest.raises(TypeError, match="a checkpoint path is a str, bytes "
                                        "or os.PathLike, got int"):
        mp.save(net, 3)


# The safetensors package writes its file itself (with mode 0600): the
# same atomic machinery must still give the target the chosen mode.
@pytest.mark.parametrize("suffix", [".params", ".safetensors"])
def test_a_read_only_target_is_refused_and_a_mode_is_kept(tmp_path, suffix):
    net = fill(compat_net())
    kept = tmp_path / f"kept{suffix}"
    kept.write_bytes(b"old")
    kept.chmod(0o640)
    mp.save(net, kept)
    assert kept.stat().st_mode & 0o777 == 0o640
    assert same(_loaded(kept), expected())
    locked = tmp_path / f"locked{suffix}"
    locked.write_bytes(b"precious")
    locked.chmod(0o444)
    with pytest.raises(mp.CheckpointError, match="the file is read-only"):
        mp.save(net, locked)
    assert locked.read_bytes() == b"precious"
    assert locked.stat().st_mode & 0o777 == 0o444
    assert not [p for p in tmp_path.iterdir() if "mxparams-tmp" in p.name]
