"""The environment under test, and what importing mxparams does."""
import ast
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import mxnet as mx
import pytest

from mxparams import _compat

from helpers import MXNET_ENGINE_LINE, MXNET_STORAGE_MANAGER_LINE, MXNET_VERSIONS, without_mxnet_log

TESTS = Path(__file__).resolve().parent


def run_python(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, check=True)


def test_running_on_a_supported_mxnet():
    # The test command names the version it means; plain pytest runs on
    # whichever supported MXNet the environment has.
    expected = os.environ.get("MXPARAMS_EXPECT_MXNET")
    assert version("mxnet") == expected if expected else version("mxnet") in MXNET_VERSIONS


def test_the_test_command_runs_every_version_mxparams_knows():
    # noxfile.py cannot import mxparams: its version matrix is read as text.
    tree = ast.parse((Path(__file__).resolve().parents[1] / "noxfile.py").read_text())
    matrix = next(ast.literal_eval(node.value) for node in tree.body
                  if isinstance(node, ast.Assign)
                  and [getattr(t, "id", None) for t in node.targets] == ["MXNET"])
    assert matrix == MXNET_VERSIONS


def test_feature_gates_agree_with_the_version():
    # The library decides by behaviour; here, and only here, the version
    # string cross-checks those decisions.
    is_1x = mx.__version__.startswith("1.")
    assert _compat.GLOBAL_NAMES is is_1x
    assert _compat.ND_MODE_SUPPORTED is is_1x
    assert _compat.CONV_SHAPE_NEEDS_IN_CHANNELS is not is_1x
    assert _compat.SHARE_PARAMETERS is not is_1x
    assert _compat.MODES == (("np", "nd") if is_1x else ("np",))


@pytest.mark.cpu_matrix  # compares stderr
@pytest.mark.parametrize("mode", ["np"], indirect=True)  # a subprocess
def test_import_has_no_side_effects():
    out = run_python(
        "import mxnet as mx\n"
        "before = mx.util.is_np_array()\n"
        "import mxparams\n"
        "from mxnet.gluon import nn\n"
        "print(before == mx.util.is_np_array(), nn.Dense(2).weight.name)\n")
    same_mode, name = out.stdout.split()
    assert same_mode == "True"
    # 1.x names count blocks per process: mxparams built none at import.
    assert name == ("dense0_weight" if _compat.GLOBAL_NAMES else "weight")
    # Nothing allocates, so MXNet may print only its engine line (2.x, at
    # import, with MXNET_ENGINE_TYPE set); mxparams prints nothing.
    assert without_mxnet_log(out.stderr, MXNET_ENGINE_LINE) == ""


@pytest.mark.cpu_matrix  # compares stderr
@pytest.mark.parametrize("mode", ["np"], indirect=True)  # a subprocess
def test_quiet_storage_log():
    allocate = "import mxnet as mx; mx.np.zeros((2,)).wait_to_read()\n"
    loud = without_mxnet_log(run_python(allocate).stderr, MXNET_ENGINE_LINE)
    quiet = run_python(f"import sys; sys.path.insert(0, {str(TESTS)!r})\n"
                       "import helpers; helpers.quiet_storage_log()\n" + allocate +
                       "import sys; print('stderr works', file=sys.stderr)\n")
    # 2.x logs its storage manager at the first allocation (1.x does not);
    # MXNet may also print its engine line (MXNET_ENGINE_TYPE set).
    rest = without_mxnet_log(loud, MXNET_STORAGE_MANAGER_LINE)
    assert (rest != loud) is not _compat.GLOBAL_NAMES and rest == ""
    assert without_mxnet_log(quiet.stderr, MXNET_ENGINE_LINE) == "stderr works\n"


@pytest.mark.parametrize("mode", ["np"], indirect=True)  # a subprocess
@pytest.mark.parametrize("engine", ["ThreadedEnginePerDevice", "NaiveEngine"])
def test_no_numpy_warning_on_a_thread_that_flushes_subnormals(engine):
    # MXNet 2's NaiveEngine leaves the Python thread flushing subnormals to
    # zero after the first operator; numpy's first finfo of a dtype then
    # warns "smallest subnormal ... is zero", and in a notebook that is a
    # stderr output.  mxparams' range check (set_data) and its plots
    # (matplotlib's axes) must not set it off: UserWarnings are errors here.
    code = (
        "import matplotlib\n"
        "matplotlib.use('Agg')\n"
        "import numpy, mxparams as mp\n"
        "from mxnet import np, npx\n"
        "from mxnet.gluon import nn\n"
        "npx.set_np()\n"
        "net = nn.Dense(4, in_units=3)\n"
        "net.initialize()\n"
        "net(np.ones((1, 3))).wait_to_read()\n"
        "mp.set_data(net.bias, numpy.full(4, 0.25))\n"  # float64 -> float32
        "watch = mp.Watch(net, grads=False)\n"
        "watch.record(0)\n"
        "mp.plot_hist(net).savefig(__import__('io').BytesIO())\n"
        "mp.plot_watch(watch).savefig(__import__('io').BytesIO())\n"
        # Bits, not a comparison: a flushing thread compares 1e-45 > 0 False.
        "print(*(int(numpy.finfo(t).smallest_subnormal.view(f'uint{b}'))\n"
        "        for t, b in ((numpy.float32, 32), (numpy.float64, 64))))\n")
    done = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", code],
                          capture_output=True, text=True,
                          env=dict(os.environ, MXNET_ENGINE_TYPE=engine))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["1", "1"]
