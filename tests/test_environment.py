"""The environment under test, and what importing mxparams does."""
import os
import subprocess
import sys
from importlib.metadata import version

import mxnet as mx

from mxparams import _compat


def run_python(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, check=True)


def test_running_on_the_expected_mxnet():
    expected = os.environ.get("MXPARAMS_EXPECT_MXNET")
    assert expected, "run the tests with `python3 tasks.py test`"
    assert version("mxnet") == expected


def test_feature_gates_agree_with_the_version():
    # The library decides by behaviour; here, and only here, the version
    # string cross-checks those decisions.
    is_1x = mx.__version__.startswith("1.")
    assert _compat.GLOBAL_NAMES is is_1x
    assert _compat.ND_MODE_SUPPORTED is is_1x
    assert _compat.CONV_SHAPE_NEEDS_IN_CHANNELS is not is_1x
    assert _compat.SHARE_PARAMETERS is not is_1x
    assert _compat.MODES == (("np", "nd") if is_1x else ("np",))


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
    assert out.stderr == ""


def test_quiet_storage_log():
    allocate = "import mxnet as mx; mx.np.zeros((2,)).wait_to_read()\n"
    loud = run_python(allocate).stderr
    quiet = run_python("from mxparams import _compat\n"
                       "_compat.quiet_storage_log()\n" + allocate +
                       "import sys; print('stderr works', file=sys.stderr)\n")
    assert ("StorageManager" in loud) is not _compat.GLOBAL_NAMES
    assert quiet.stderr == "stderr works\n"
