"""The command line: python -m mxparams and the mxparams script."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

GOLDENS = Path(__file__).parent / "goldens"


def cli(*args, script=False):
    cmd = ([str(Path(sys.executable).parent / "mxparams")] if script
           else [sys.executable, "-m", "mxparams"])
    return subprocess.run(cmd + list(args), capture_output=True, text=True,
                          env=dict(os.environ, COLUMNS="30"))


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_help(mode):
    done = cli("--help", script=True)
    assert done.returncode == 0
    assert "summary" in done.stdout and "tree" in done.stdout
    assert "mxparams summary resnet18_v1 --depth 2" in done.stdout


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_summary_matches_the_library_golden(mode):
    done = cli("summary", "resnet18_v1", "--depth", "2")
    assert done.returncode == 0 and done.stderr == ""  # no MXNet log line
    header, body = done.stdout.split("\n\n", 1)
    assert header == ("resnet18_v1 (model zoo, pretrained=False), after one "
                      "forward pass on an input of shape 1x3x224x224")
    assert body == (GOLDENS / "zoo_resnet18_depth2.txt").read_text()


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
    assert done.stderr.count("\n") == 1 and message in done.stderr
    assert done.stderr.startswith("mxparams: error: ")
