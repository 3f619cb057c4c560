"""The command line: python -m mxparams and the mxparams script."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import MXNET_ENGINE_LINE, without_mxnet_log

GOLDENS = Path(__file__).parent / "goldens"

# MXNet settings that make it log to fd 2 while it works: the engine line,
# 2.x's storage-manager line, and "Storage type fallback detected" for
# every operator without oneDNN.
LOUD_MXNET = {"MXNET_ENGINE_TYPE": "NaiveEngine", "MXNET_MKLDNN_ENABLED": "0",
              "MXNET_ONEDNN_ENABLED": "0"}


def cli(*args, script=False, env=None):
    cmd = ([str(Path(sys.executable).parent / "mxparams")] if script
           else [sys.executable, "-m", "mxparams"])
    return subprocess.run(cmd + list(args), capture_output=True, text=True,
                          env=dict(os.environ, COLUMNS="30", **(env or {})))


def stderr_of(done) -> str:
    """What the command wrote to stderr, less what MXNet may print there.

    The command points fd 2 at /dev/null from its start to the end of the
    process (MXNet 1.x may log its engine line in its exit handler), so
    MXNet's log lines do not reach it; the one exception is MXNet 2's
    engine line (with MXNET_ENGINE_TYPE set), printed when ``import
    mxparams`` imports mxnet, before the command starts.
    """
    return without_mxnet_log(done.stderr, MXNET_ENGINE_LINE)


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_help(mode):
    done = cli("--help", script=True)
    assert done.returncode == 0
    assert "summary" in done.stdout and "tree" in done.stdout
    assert "mxparams summary resnet18_v1 --depth 2" in done.stdout


@pytest.mark.parametrize("mode", ["np"], indirect=True)
@pytest.mark.parametrize("env", [
    # The table under every simulated CPU; the loud settings are its own.
    pytest.param(None, id="as-set", marks=pytest.mark.cpu_matrix),
    pytest.param(LOUD_MXNET, id="loud-mxnet")])
def test_summary_matches_the_library_golden(mode, env):
    # MXNet's settings change neither the table nor stderr.
    done = cli("summary", "resnet18_v1", "--depth", "2", env=env)
    assert done.returncode == 0 and stderr_of(done) == "", done.stderr[-2000:]
    header, body = done.stdout.split("\n\n", 1)
    assert header == ("resnet18_v1 (model zoo, pretrained=False), after one "
                      "forward pass on an input of shape 1x3x224x224")
    assert body == (GOLDENS / "zoo_resnet18_depth2.txt").read_text()


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_errors_reach_stderr_while_mxnet_logs_do_not(mode):
    # The regular expression is checked after the network ran (and MXNet
    # logged); the error still reaches the real stderr, alone.
    done = cli("summary", "alexnet", "--select", "(", env=LOUD_MXNET)
    assert done.returncode == 2 and done.stdout == ""
    assert stderr_of(done).startswith("mxparams: error: ")
    assert stderr_of(done).count("\n") == 1, done.stderr[-2000:]


@pytest.mark.parametrize("mode", ["np"], indirect=True)
@pytest.mark.parametrize("script", [False, True], ids=["python-m", "script"])
def test_mxnet_logs_stay_out_until_the_process_ends(mode, script, tmp_path):
    # inspect of a file that is no checkpoint does no array operation, so
    # MXNet 1.x starts its engine, and logs that, only in its exit handler,
    # after the command has returned.
    bad = tmp_path / "bad.params"
    bad.write_bytes(bytes(64))
    done = cli("inspect", str(bad), script=script, env=LOUD_MXNET)
    assert done.returncode == 2 and done.stdout == ""
    assert stderr_of(done).startswith(
        f"mxparams: error: checkpoint '{bad}': unknown format")
    assert stderr_of(done).count("\n") == 1, done.stderr[-2000:]


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_tree_html_and_no_forward(mode):
    done = cli("tree", "resnet18_v1", "--depth", "1", "--html", "--no-forward")
    assert done.returncode == 0
    assert "before the first forward pass" in done.stdout
    assert '<table class="mxparams">' in done.stdout
    assert "output: Dense" in done.stdout


@pytest.mark.parametrize("mode", ["np"], indirect=True)
@pytest.mark.parametrize("args, message", [
    (["bogus"], "invalid choice: 'bogus'"),
    (["summary"], "the following arguments are required: model"),
    (["summary", "resnet18"], "unknown model-zoo network 'resnet18'; did you "
                              "mean 'resnet18_v2', 'resnet18_v1'"),
    (["summary", "alexnet", "--select", "("], "is not a valid regular "
                                              "expression"),
    (["tree", "alexnet", "--depth", "x"], "invalid int value: 'x'"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, mode):
    done = cli(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    stderr = stderr_of(done)
    assert stderr.count("\n") == 1 and message in stderr
    assert stderr.startswith("mxparams: error: ")
