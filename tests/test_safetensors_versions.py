"""A model-zoo network crosses between MXNet 1.9.1 and 2.0 through safetensors.

resnet18_v1 with fixed values (``ckpt_common.resnet18``) is saved as
safetensors by the other version's Python (its environment, made by
``python3 tasks.py test`` and named in MXPARAMS_PYTHONS by noxfile.py),
loaded here, saved here again and loaded there again (every test here is
marked cross_version: plain pytest in one environment deselects them).
Parameters must be bit-identical at every step.
Outputs on the same input are compared exactly within one version (the
same kernels before and after the round trip) and with a tolerance across
versions, whose convolution kernels sum in different orders.

Files are loaded into freshly built networks (``forward=False``), as a
checkpoint usually is.  Loading into a convolution network that has
already run a forward pass fails on both versions for every file format:
oneDNN then keeps some weights in its own layout, and the copy from NumPy
in ``_compat.copy_into`` is refused with an MXNetError (reported, not
fixed here: that module is not this change's).
"""
import os
import subprocess
from importlib.metadata import version
from pathlib import Path

import numpy
import pytest
from safetensors.numpy import load_file

import mxparams as mp
from mxparams import _zoo

from ckpt_common import resnet18, resnet_input, resnet_output

TESTS = Path(__file__).resolve().parent
VERSIONS = ("1.9.1", "2.0.0b1")
THIS = version("mxnet")
OTHER = next(v for v in VERSIONS if v != THIS)

pytestmark = pytest.mark.cross_version

CHILD = r"""
import sys
sys.path.insert(0, sys.argv[1])
import numpy
from safetensors.numpy import load_file
import mxparams as mp
from mxparams import _compat, _zoo
from ckpt_common import resnet18, resnet_input, resnet_output

step, folder = sys.argv[2], sys.argv[3]
x = resnet_input()
if step == "save":
    _compat.set_mode("np")
    net = resnet18()
    mp.save(net, folder + "/theirs.safetensors")
    numpy.save(folder + "/their_output.npy", resnet_output(net, x))
    print("saved", flush=True)
else:  # the file saved by the other version, back here
    theirs = load_file(folder + "/theirs.safetensors")
    for mode in _compat.MODES:
        _compat.set_mode(mode)
        net = _zoo.build("resnet18_v1", mode, forward=False)
        mp.load(net, folder + "/back.safetensors")
        got = {k: p.data().asnumpy() for k, p in mp.collect(net).items()}
        assert sorted(got) == sorted(theirs), mode
        assert all(got[k].tobytes() == theirs[k].tobytes() for k in got), mode
        before = resnet_output(resnet18(mode), x)
        after = resnet_output(net, x)
        assert after.tobytes() == before.tobytes(), (mode, abs(after - before).max())
        print("checked", mode, flush=True)
"""


@pytest.fixture(scope="module")
def other_python(mxnet_pythons: dict[str, str]) -> Path:
    python = Path(mxnet_pythons.get(OTHER, ""))
    if not python.is_file():
        pytest.fail(f"the cross-version test needs MXNet {OTHER}'s environment "
                    f"({python}); `python3 tasks.py test` makes every version's",
                    pytrace=False)
    return python


def run_other(python: Path, step: str, folder: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MXPARAMS_EXPECT_MXNET"}
    return subprocess.run([str(python), "-c", CHILD, str(TESTS), step,
                           str(folder)], capture_output=True, text=True,
                          timeout=600, env=env)


@pytest.fixture(scope="module")
def theirs(tmp_path_factory, other_python):
    folder = tmp_path_factory.mktemp("resnet")
    done = run_other(other_python, "save", folder)
    assert done.returncode == 0 and "saved" in done.stdout, done.stderr[-2000:]
    return folder


def test_their_resnet_loads_here_bit_identical(theirs, mode):
    net = _zoo.build("resnet18_v1", mode, forward=False)  # values from the file only
    report = mp.load(net, theirs / "theirs.safetensors")
    assert not report and len(report.loaded) == len(mp.collect(net))
    file = load_file(str(theirs / "theirs.safetensors"))
    got = {k: p.data().asnumpy() for k, p in mp.collect(net).items()}
    assert sorted(got) == sorted(file)
    assert all(got[k].tobytes() == file[k].tobytes() for k in got)
    x = resnet_input()
    here = resnet_output(net, x)
    # This version against itself: the network built here with the same
    # values gives exactly the same output as the one loaded from the file.
    assert here.tobytes() == resnet_output(resnet18(mode), x).tobytes()
    # Across versions: the same function, summed in another order.
    there = numpy.load(theirs / "their_output.npy")
    assert here.shape == there.shape == (2, 1000)
    scale = float(abs(there).max())
    assert scale > 1e-3  # not a network of zeros
    assert numpy.allclose(here, there, rtol=0, atol=1e-5 * scale), (
        float(abs(here - there).max()), scale)


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_and_back_to_the_other_version(theirs, other_python, mode):
    net = _zoo.build("resnet18_v1", "np", forward=False)
    mp.load(net, theirs / "theirs.safetensors")
    mp.save(net, theirs / "back.safetensors")
    done = run_other(other_python, "check", theirs)
    assert done.returncode == 0, done.stderr[-2000:]
    modes = ["np", "nd"] if OTHER == "1.9.1" else ["np"]
    assert [line for line in done.stdout.splitlines()
            if line.startswith("checked")] == [f"checked {m}" for m in modes]
