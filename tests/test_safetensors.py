"""safetensors: mp.save writes it, mp.load / inspect / diff read it.

Every test runs on both MXNet versions (and 1.9.1's legacy nd mode) unless
it pins numpy mode because it does not touch a network.  Values are set
exactly (binary fractions, NaN, infinities, extremes) and compared bit for
bit; files of the safetensors package itself are written and read with its
numpy API (``safetensors.numpy``), the one other frameworks share.
"""
import json
import os
import random
import struct
import subprocess
import sys
from pathlib import Path

import mxnet as mx
import numpy
import pytest
from mxnet.gluon import nn
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

import mxparams as mp
from mxparams import _compat
from mxparams.checkpoint import _saveload

from ckpt_common import compat_net, expected, fill, same, values
from helpers import forward, tied_net
from test_checkpoint_fuzz import mutate

FIXTURES = Path(__file__).parent / "fixtures" / "checkpoints"
ROOT = Path(__file__).resolve().parent.parent

#: Every dtype a Gluon parameter holds on both MXNet versions (bfloat16 is
#: not available from their Python API: dtype='bfloat16' raises on both).
DTYPES = ["float16", "float32", "float64", "uint8", "int8", "int32", "int64",
          "bool"]


def special_values(dtype: str) -> numpy.ndarray:
    """Six values of ``dtype`` that a lossy copy would change: extremes,
    NaN and infinities, negative zero, the smallest subnormal."""
    d = numpy.dtype(dtype)
    if d.kind == "f":
        info = numpy.finfo(d)
        tiny = numpy.array([1], dtype=f"u{d.itemsize}").view(d)[0]
        return numpy.array([info.max, -info.max, numpy.nan, -numpy.inf,
                            -0.0, tiny], dtype=d).reshape(2, 3)
    if d.kind == "b":
        return numpy.array([True, False, True, True, False, True]).reshape(2, 3)
    info = numpy.iinfo(d)
    return numpy.array([info.min, info.max, 0, 1, info.max - 1, info.min + 1],
                       dtype=d).reshape(2, 3)


class Constants(nn.Block):
    """One (2, 3) constant per dtype: c_float16, c_float32, ..."""

    def __init__(self):
        super().__init__()
        for dtype in DTYPES:
            mp.constant(self, f"c_{dtype}", numpy.zeros((2, 3), dtype), dtype=dtype)


def filled_constants() -> Constants:
    block = Constants()
    block.initialize()
    for dtype in DTYPES:
        getattr(block, f"c_{dtype}").data()[:] = special_values(dtype)
    return block


def constant_values(block) -> dict:
    return {path: p.data().asnumpy() for path, p in mp.collect(block).items()}


# -- round trips ---------------------------------------------------------

def test_round_trip_is_bit_identical_for_every_dtype(tmp_path):
    block = filled_constants()
    path = tmp_path / "dtypes.safetensors"
    mp.save(block, path)
    copy = Constants()
    copy.initialize()
    report = mp.load(copy, path)
    assert not report and len(report.loaded) == len(DTYPES)
    got = constant_values(copy)
    for dtype in DTYPES:
        want = special_values(dtype)
        assert got[f"c_{dtype}"].dtype == want.dtype  # float16/64 stay themselves
        assert got[f"c_{dtype}"].tobytes() == want.tobytes(), dtype


def test_round_trip_of_a_network_into_any_initialization_state(tmp_path):
    path = tmp_path / "net.safetensors"
    mp.save(fill(compat_net()), path)
    for state in ("fresh", "initialized", "deferred"):
        net = compat_net(deferred=state == "deferred")
        if state != "fresh":
            net.initialize()
        mp.load(net, path)
        assert same(values(net), expected()), state


def test_the_package_reads_what_mp_save_writes(tmp_path):
    """Keys are the structural paths, values identical, metadata says who."""
    net = fill(compat_net())
    path = tmp_path / "net.safetensors"
    mp.save(net, path)
    found = load_file(str(path))
    assert sorted(found) == sorted(expected())
    assert all(found[k].dtype == v.dtype and found[k].shape == v.shape
               and found[k].tobytes() == v.tobytes() for k, v in expected().items())
    with safe_open(str(path), framework="numpy") as f:
        metadata = f.metadata()
    assert metadata == {"mxparams": mp.__version__,
                        "mxparams.mxnet": mx.__version__,
                        "mxparams.array_mode": _compat.current_mode(),
                        "mxparams.keys": "structural paths"}


def test_files_of_the_package_load(tmp_path):
    """save_file of the safetensors package, keys chosen by the user; no metadata."""
    path = tmp_path / "theirs.safetensors"
    save_file(expected(seed=3), str(path))
    net = compat_net()
    report = mp.load(net, path)
    assert same(values(net), expected(seed=3))
    assert report.format.startswith("safetensors")
    # Metadata of other writers is kept for inspect and changes nothing else.
    save_file(expected(seed=4), str(path), metadata={"format": "pt"})
    mp.load(net, path)
    assert same(values(net), expected(seed=4))
    assert mp.inspect_checkpoint(path).metadata == {"format": "pt"}


def test_save_format_by_suffix_or_forced(tmp_path):
    net = fill(compat_net())
    for name, fmt, kind in [("a.safetensors", None, "safetensors"),
                            ("b.SafeTensors", None, "safetensors"),
                            ("c.params", None, "MXNet NDArray list"),
                            ("d.params", "safetensors", "safetensors"),
                            ("e.safetensors", "mxnet", "MXNet NDArray list")]:
        mp.save(net, tmp_path / name, format=fmt)
        assert mp.inspect_checkpoint(tmp_path / name).format.startswith(kind), name
    copy = compat_net()  # Gluon's own loader reads the forced MXNet format
    copy.load_parameters(str(tmp_path / "e.safetensors"))
    assert same(values(copy), expected())
    with pytest.raises(ValueError, match="format='torch' is not a format "
                                         "mxparams writes; choose 'mxnet'"):
        mp.save(net, tmp_path / "f.safetensors", format="torch")
    with pytest.raises(TypeError, match="format must be a str"):
        mp.save(net, tmp_path / "f.safetensors", format=1)
    assert not (tmp_path / "f.safetensors").exists()


# -- tied parameters -----------------------------------------------------

def test_tied_parameters_are_stored_once_and_restored(tmp_path):
    net = tied_net()
    forward(net, 2, 5)
    path = tmp_path / "tied.safetensors"
    mp.save(net, path)
    assert sorted(load_file(str(path))) == ["0.bias", "0.weight", "1.bias",
                                            "1.weight", "3.bias", "3.weight"]
    with safe_open(str(path), framework="numpy") as f:
        assert json.loads(f.metadata()["mxparams.tied"]) == {
            "1.weight": ["2.weight"], "1.bias": ["2.bias"]}
    copy = tied_net()
    report = mp.load(copy, path)
    assert copy[1].weight is copy[2].weight
    assert same(values(copy), values(net)) and len(report.loaded) == 6
    # Into a network where they are separate: every path gets the value.
    untied = nn.Sequential()
    untied.add(*(nn.Dense(8, activation="relu") for _ in range(3)), nn.Dense(10))
    assert len(mp.load(untied, path).loaded) == 8
    assert same(values(untied), values(net))
    found = mp.inspect_checkpoint(path)
    assert found.tied == {"1.weight": ["2.weight"], "1.bias": ["2.bias"]}
    assert ("Tied", "2 paths stored under another: '2.weight' -> '1.weight', "
                    "'2.bias' -> '1.bias'") in found.table().footer


def test_a_file_that_stores_every_tied_path_loads(tmp_path):
    net = tied_net()
    forward(net, 2, 5)
    each = {k: v.copy() for k, v in values(net).items()}  # 8 keys
    path = tmp_path / "each.safetensors"
    save_file(each, str(path))
    copy = tied_net()
    assert len(mp.load(copy, path).loaded) == 6
    assert same(values(copy), values(net))
    each["2.weight"] = each["2.weight"] + 1  # saved from an untied network
    save_file(each, str(path))
    before = values(copy)
    with pytest.raises(mp.CheckpointError, match="tied to '1.weight' in the "
                                                 "network, but the file holds "
                                                 "another value here: '2.weight'"):
        mp.load(copy, path)
    assert same(values(copy), before)


@pytest.mark.parametrize("mode", ["np"], indirect=True)
@pytest.mark.parametrize("tied, reason", [
    ("{", "not JSON"),
    ('["1.weight"]', "not a mapping of a path to a list of paths"),
    ('{"9.weight": ["2.weight"]}', "'9.weight' is not a tensor of the file"),
    ('{"1.weight": ["1.bias"]}', "'1.bias' is stored in the file or tied twice"),
])
def test_damaged_tie_metadata_is_refused(tmp_path, tied, reason, mode):
    path = tmp_path / "bad.safetensors"
    save_file({"1.weight": numpy.ones((8, 8), "float32"),
               "1.bias": numpy.zeros(8, "float32")}, str(path),
              metadata={"mxparams.tied": tied})
    with pytest.raises(mp.CheckpointError, match="corrupt metadata "
                                                 f"'mxparams.tied': .*{reason}"):
        mp.inspect_checkpoint(path)


# -- what the file may hold ----------------------------------------------

@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_bfloat16_and_foreign_dtypes_are_refused_clearly(tmp_path, mode):
    # numpy has no bfloat16: the header is written as a bfloat16 writer would.
    header = json.dumps({"w": {"dtype": "BF16", "shape": [2],
                               "data_offsets": [0, 4]}}).encode()
    path = tmp_path / "bf16.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\x80\x3f" * 2)
    with pytest.raises(mp.CheckpointError, match="'w' is bfloat16, which "
                                                 "MXNet's Python API cannot hold "
                                                 r".*convert it to float32"):
        mp.inspect_checkpoint(path)
    save_file({"z": numpy.ones(2, numpy.complex64)}, str(path))
    with pytest.raises(mp.CheckpointError, match="'z' has the safetensors "
                                                 "dtype C64, which no MXNet "
                                                 "parameter holds"):
        mp.inspect_checkpoint(path)


def test_a_wrong_file_changes_nothing_and_reads_no_tensor(tmp_path, monkeypatch):
    """Everything is decided from the header; tensors are read only to copy."""
    reads = []
    original = _saveload.read_all

    def counted(arrays):
        reads.extend(a.key for a in arrays)
        return original(arrays)
    monkeypatch.setattr(_saveload, "read_all", counted)
    arrays = expected()
    arrays["2.weight"] = numpy.zeros((2, 5), "float32")  # wrong shape
    path = tmp_path / "wrong.safetensors"
    save_file(arrays, str(path))
    net = fill(compat_net(), seed=7)
    before = values(net)
    with pytest.raises(mp.CheckpointShapeMismatch, match=r"shape \(2, 5\) in "
                                                         r"the file, \(2, 4\)"):
        mp.load(net, path)
    assert same(values(net), before) and reads == []
    mp.save(fill(compat_net()), path)
    mp.load(net, path)
    assert sorted(reads) == sorted(expected())  # each tensor read once


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_detection_keeps_the_other_formats_and_refuses_garbage(tmp_path, mode):
    for name in os.listdir(FIXTURES):
        fmt = mp.inspect_checkpoint(FIXTURES / name).format
        assert fmt.startswith("safetensors") == name.endswith(".safetensors"), name
    rng = random.Random("mxparams-garbage")
    target = tmp_path / "garbage.bin"
    braces = 0
    for _ in range(2000):
        data = bytes(rng.randrange(256) for _ in range(64))
        if rng.random() < 0.2:  # a '{' where a safetensors header begins
            data = data[:8] + b"{" + data[9:]
        braces += data[8:9] == b"{"
        target.write_bytes(data)
        with pytest.raises(mp.CheckpointError, match="unknown format"):
            mp.inspect_checkpoint(target)
    assert braces > 300
    # MXNet's list magic is also a plausible header length (274 bytes): a
    # '{' after it decides, as MXNet always writes 0 there.
    header = json.dumps({"w": {"dtype": "F32", "shape": [1],
                               "data_offsets": [0, 4]}}).encode()
    header += b" " * (274 - len(header))
    target.write_bytes(struct.pack("<Q", 274) + header + b"\x00\x00\x80\x3f")
    assert mp.inspect_checkpoint(target).entries[0].max == 1.0
    target.write_bytes(struct.pack("<Q", 274) + header[:100])
    with pytest.raises(mp.CheckpointError, match="truncated: the safetensors "
                                                 "header is 274 bytes long, the "
                                                 "file ends 100 bytes after"):
        mp.inspect_checkpoint(target)


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_scalars_and_empty_tensors_are_listed(tmp_path, mode):
    """A PyTorch BatchNorm's num_batches_tracked is a scalar."""
    path = tmp_path / "scalars.safetensors"
    save_file({"n": numpy.array(7, numpy.int64),
               "e": numpy.zeros((0, 3), numpy.float32)}, str(path))
    rows = {r[0]: r[1:5] for r in mp.inspect_checkpoint(path).table().rows}
    assert rows == {"e": ("(0, 3)", "float32", "0", "0"),
                    "n": ("()", "int64", "1", "8")}
    from mxparams.checkpoint import convert
    with pytest.raises(mp.CheckpointError, match="MXNet's portable format has "
                                                 "no scalars or empty arrays"):
        convert(path, tmp_path / "x.params")
    assert not (tmp_path / "x.params").exists()


def test_damaged_tied_files_raise_only_checkpoint_error(tmp_path):
    """Mutations of a file with tie metadata (see test_checkpoint_fuzz.py)."""
    net = tied_net()
    forward(net, 2, 5)
    base = tmp_path / "base.safetensors"
    mp.save(net, base)
    original = base.read_bytes()
    rng = random.Random("mxparams-tied-safetensors")
    target = tmp_path / "damaged.safetensors"
    before = values(net)
    outcomes = {"loaded": 0, "refused": 0}
    for _ in range(400):
        data = bytearray(original)
        if rng.random() < 0.5:  # inside the JSON header, where the ties are
            (length,) = struct.unpack("<Q", original[:8])
            data[rng.randrange(8, 8 + length)] = rng.randrange(256)
            target.write_bytes(bytes(data))
        else:
            target.write_bytes(mutate(original, rng))
        try:
            mp.load(net, target)
        except mp.CheckpointError:
            assert same(values(net), before), "a failed load changed the net"
            outcomes["refused"] += 1
        else:
            outcomes["loaded"] += 1
            mp.load(net, base)
    assert outcomes["refused"] > 200 and outcomes["loaded"] > 0, outcomes


# -- rename= -------------------------------------------------------------

def _write_as(fmt: str, path: Path, arrays: dict) -> None:
    """Write ``arrays`` as MXNet's NDArray list, a 2.x-style npz, or safetensors."""
    if fmt == "safetensors":
        save_file(arrays, str(path))
    elif fmt == "npz":
        with open(path, "wb") as f:
            numpy.savez(f, **arrays)
    else:
        _compat.save_portable(str(path), {k: mx.nd.array(v, dtype=v.dtype)
                                          for k, v in arrays.items()})


@pytest.mark.parametrize("fmt", ["mxnet", "npz", "safetensors"])
def test_rename_works_for_every_format(tmp_path, fmt):
    """A file keyed 'zero.*' for the first layer loads with a mapping or a
    function, whatever its format; export prefixes are dropped first."""
    table = {"0.weight": "zero.weight", "0.bias": "zero.bias"}
    back = {v: k for k, v in table.items()}
    arrays = {table.get(k, k): v for k, v in expected(seed=2).items()}
    path = tmp_path / "renamed.file"
    _write_as(fmt, path, arrays)
    for rename in (back, lambda key: back.get(key, key)):
        net = compat_net()
        report = mp.load(net, path, rename=rename)
        assert same(values(net), expected(seed=2))
        assert report.by_rename == {"zero.weight": "0.weight", "zero.bias": "0.bias"}
        assert report.renamed == report.by_rename and report.dropped == []
        assert "Renamed  2 keys by rename=, e.g. 'zero." in str(report)
    net = compat_net()  # keys a rename leaves as they are are not "renamed"
    assert mp.load(net, path, rename=lambda k: k, strict=False).by_rename == {}
    if fmt == "mxnet":  # an export: the keys rename= sees have no prefix
        exported = tmp_path / "export-0000.params"
        _write_as(fmt, exported, {"arg:" + k: v for k, v in arrays.items()})
        report = mp.load(net, exported, rename=back)
        assert same(values(net), expected(seed=2))
        assert report.by_rename == {"arg:zero.weight": "0.weight",
                                    "arg:zero.bias": "0.bias"}


def test_rename_drops_keys_and_reports(tmp_path):
    path = tmp_path / "extra.safetensors"
    arrays = dict(expected())
    arrays["1.num_batches_tracked"] = numpy.array(12, numpy.int64)
    save_file(arrays, str(path))
    net = compat_net()
    with pytest.raises(mp.CheckpointError, match="in the file, not in the "
                                                 "network: '1.num_batches_tracked'"):
        mp.load(net, path)
    report = mp.load(net, path, rename=lambda k: None if k.endswith(
        "num_batches_tracked") else k)
    assert same(values(net), expected()) and not report
    assert report.dropped == ["1.num_batches_tracked"]
    assert str(report).splitlines()[-1] == "Dropped  1 by rename=: '1.num_batches_tracked'"


def test_bad_renames_are_refused_before_anything_changes(tmp_path):
    path = tmp_path / "net.safetensors"
    mp.save(fill(compat_net()), path)
    net = fill(compat_net(), seed=5)
    before = values(net)
    cases = [
        ({"0.wieght": "x"}, ValueError, "rename names 1 key that .* does not "
                                        r"hold: '0.wieght' \(did you mean "
                                        "'0.weight'"),
        (lambda k: "same", ValueError, "rename gives the path 'same' to two keys"),
        ({"0.bias": "0.weight"}, ValueError, "rename gives the path '0.weight' "
                                             "to two keys"),
        (lambda k: "", ValueError, "rename gave an empty path for the key"),
        (lambda k: 3, TypeError, "rename gave int 3 for the key"),
        ("0.weight", TypeError, "rename must be a mapping .* got str"),
    ]
    for rename, error, message in cases:
        with pytest.raises(error, match=message):
            mp.load(net, path, rename=rename)
        assert same(values(net), before)


def test_renamed_keys_that_fit_nothing_are_named_with_their_file_key(tmp_path):
    path = tmp_path / "net.safetensors"
    mp.save(fill(compat_net()), path)
    net = compat_net()
    with pytest.raises(mp.CheckpointError) as err:
        mp.load(net, path, rename=lambda k: "features." + k)
    message = str(err.value)
    assert "in the file, not in the network: 'features.0.bias', " in message
    assert "No key of the file is a path of this network" in message
    report = mp.load(net, path, rename=lambda k: "features." + k, strict=False)
    assert ("features.0.bias (file key '0.bias')",
            "in the file, not in the network") in report.skipped


# -- from another framework ----------------------------------------------

def torch_style_state_dict(rng: numpy.random.RandomState) -> dict:
    """What safetensors.torch.save_file writes for this PyTorch model:

        nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                      nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    """
    def draw(*shape):
        return (rng.randint(-64, 64, size=shape) / 64).astype(numpy.float32)
    return {"0.weight": draw(4, 3, 3, 3), "0.bias": draw(4),
            "1.weight": draw(4) + 2, "1.bias": draw(4),
            "1.running_mean": draw(4), "1.running_var": draw(4) + 2,
            "1.num_batches_tracked": numpy.array(100, numpy.int64),
            "4.weight": draw(5, 4 * 6 * 6), "4.bias": draw(5)}


def gluon_twin():
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, in_channels=3), nn.BatchNorm(in_channels=4),
            nn.Activation("relu"), nn.Flatten(), nn.Dense(5, in_units=4 * 6 * 6))
    return net


def from_torch(paths):
    """rename= for a PyTorch state_dict of a network built the same way."""
    def rename(key):
        module, _, attr = key.rpartition(".")
        if attr == "num_batches_tracked":
            return None
        if f"{module}.gamma" in paths:  # a BatchNorm: weight/bias are gamma/beta
            attr = {"weight": "gamma", "bias": "beta"}.get(attr, attr)
        return f"{module}.{attr}"
    return rename


def test_a_pytorch_state_dict_loads_with_rename(tmp_path):
    state = torch_style_state_dict(numpy.random.RandomState(0))
    path = tmp_path / "torch.safetensors"
    save_file(state, str(path))
    net = gluon_twin()
    net.initialize()
    report = mp.load(net, path, rename=from_torch(mp.collect(net)))
    assert report.dropped == ["1.num_batches_tracked"]
    assert report.by_rename == {"1.weight": "1.gamma", "1.bias": "1.beta"}
    got = values(net)
    # Conv2d and Linear keep (out, in, ...): the same arrays, no transpose.
    for key, path_ in [("0.weight", "0.weight"), ("4.weight", "4.weight"),
                       ("1.weight", "1.gamma"), ("1.bias", "1.beta"),
                       ("1.running_var", "1.running_var")]:
        assert got[path_].tobytes() == state[key].tobytes(), key
    # BatchNorm in inference uses the running statistics as PyTorch's eval():
    # one output element computed here with numpy, exactly representable.
    x = numpy.zeros((1, 3, 8, 8), numpy.float32)
    out = net(mx.np.array(x) if _compat.current_mode() == "np" else mx.nd.array(x))
    conv = numpy.broadcast_to(state["0.bias"][:, None, None], (4, 6, 6))
    bn = ((conv - state["1.running_mean"][:, None, None])
          / numpy.sqrt(state["1.running_var"][:, None, None] + 1e-5)
          * state["1.weight"][:, None, None] + state["1.bias"][:, None, None])
    want = numpy.maximum(bn, 0).reshape(-1) @ state["4.weight"].T + state["4.bias"]
    assert numpy.allclose(out.asnumpy()[0], want, rtol=1e-5, atol=1e-5)


# -- memory --------------------------------------------------------------

RSS_CHILD = r"""
import json, sys
import mxnet as mx
from mxnet import init
from mxnet.gluon import nn
import mxparams as mp
from mxparams import _compat

_compat.set_mode("np")
sys.path.insert(0, sys.argv[2])
import helpers
helpers.quiet_storage_log()
net = nn.HybridSequential()
for units in (4096, 4096, 2048):  # 64, 64 and 32 MiB of float32
    net.add(nn.Dense(units, in_units=4096, use_bias=False))
net.initialize(init.Constant(0.25))
mx.nd.waitall()

def kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])

with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # VmHWM starts again from the current resident size
before = kib("VmRSS:")
mp.load(net, sys.argv[1])
mx.nd.waitall()
growth = (kib("VmHWM:") - before) * 1024
ok = float(net[2].weight.data()[0, 0]) == 0.5
print(json.dumps({"growth": growth, "loaded": ok}))
"""


@pytest.mark.parametrize("suffix", ["safetensors", "params"])
@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_loading_costs_at_most_the_file(tmp_path, mode, suffix):
    """Peak RSS growth of mp.load <= file size + slack.

    The data are read once, into memory of the process's own (MXNet's
    storage pool, which may hand back memory it already had: the growth
    can be less), and copied into the parameters; the package only ever
    maps a copy of the header.  A 160 MiB file of three tensors (64, 64
    and 32 MiB), as safetensors and in MXNet's format.  The 8 MiB of
    slack cover Python's own allocations during a load (headers, the
    report) and the allocator's rounding.
    """
    net = nn.HybridSequential()
    for units in (4096, 4096, 2048):
        net.add(nn.Dense(units, in_units=4096, use_bias=False))
    net.initialize(mx.init.Constant(0.5))
    path = tmp_path / f"big.{suffix}"
    mp.save(net, path)
    del net
    size = path.stat().st_size
    done = subprocess.run([sys.executable, "-c", RSS_CHILD, str(path),
                           str(Path(__file__).resolve().parent)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["loaded"]
    slack = 8 << 20
    assert found["growth"] <= size + slack, (
        f"peak RSS grew {found['growth'] / 2**20:.0f} MiB loading a "
        f"{size / 2**20:.0f} MiB file")


# -- the command line ----------------------------------------------------

@pytest.fixture
def command(capsys):
    """command(*args) -> (exit code, stdout) of ``mxparams`` in this process.

    tests/test_cli_checkpoint.py runs the real program; here only what the
    commands do with safetensors matters, without an MXNet import per call.
    """
    from mxparams import cli

    def run(*args):
        capsys.readouterr()
        code = cli.main(list(args))
        return code, capsys.readouterr().out
    return run


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_convert_both_ways_and_diff_across_formats(tmp_path, monkeypatch,
                                                   command, mode):
    monkeypatch.chdir(tmp_path)
    net = fill(compat_net())
    mp.save(net, "a.params")
    net.save_parameters("gluon.params")  # npz on 2.x, "np shape" list on 1.x
    code, out = command("convert", "gluon.params", "a.safetensors", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["arrays"] == 8 and report["output_format"].startswith("safetensors")
    assert command("diff", "a.params", "a.safetensors")[0] == 0
    code, out = command("convert", "a.safetensors", "back.params")
    assert out.startswith("wrote back.params: 8 arrays, MXNet NDArray list")
    copy = compat_net()
    copy.load_parameters("back.params")  # Gluon's own loader, any version
    assert same(values(copy), expected())
    assert command("convert", "a.safetensors", "forced.bin", "--format",
                   "safetensors")[0] == 0
    assert mp.inspect_checkpoint("forced.bin").format.startswith("safetensors")
    inspected = json.loads(command("inspect", "a.safetensors", "--json")[1])
    assert inspected["metadata"]["mxparams.keys"].startswith("as in the source file")
    assert inspected["metadata"]["mxparams.converted_from"] == \
        mp.inspect_checkpoint("gluon.params").format


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_convert_keeps_keys_without_paths_and_says_so(tmp_path, monkeypatch,
                                                      command, mode):
    monkeypatch.chdir(tmp_path)
    export = FIXTURES / "1.9.1-export-0000.params"  # arg:dense0_weight, ...
    assert command("convert", str(export), "export.safetensors")[0] == 0
    found = mp.inspect_checkpoint("export.safetensors")
    assert "dense0_weight" in found.keys()
    assert found.metadata["mxparams.keys"].startswith("MXNet 1.x global names")
    net = compat_net()
    report = mp.load(net, "export.safetensors")  # names mapped as for the export
    assert same(values(net), expected()) and report.renamed
    # Tied paths stay tied through safetensors -> safetensors, and are
    # stored under each path in MXNet's format.
    tied = tied_net()
    forward(tied, 2, 5)
    mp.save(tied, "tied.safetensors")
    assert command("convert", "tied.safetensors", "tied2.safetensors")[0] == 0
    assert mp.inspect_checkpoint("tied2.safetensors").tied == {
        "1.weight": ["2.weight"], "1.bias": ["2.bias"]}
    assert command("convert", "tied.safetensors", "tied.params")[0] == 0
    assert len(mp.inspect_checkpoint("tied.params").keys()) == 8
    assert command("diff", "tied.params", "tied2.safetensors")[0] == 0
    code, out = command("inspect", "tied2.safetensors")
    assert code == 0 and "Tied       2 paths stored under another" in out
