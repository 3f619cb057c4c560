"""mxparams inspect / diff / convert on the command line."""
import io
import json

import pytest

from mxnet.gluon import nn

import mxparams as mp
from mxparams import cli

from ckpt_common import compat_net, expected, fill, same, values
from test_cli import cli as run
from test_cli import stderr_of

pytestmark = pytest.mark.parametrize("mode", ["np"], indirect=True)


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mp.save(fill(compat_net()), "a.params")
    mp.save(fill(compat_net()), "same.params")
    net = fill(compat_net())
    net[2].bias.data()[:] += 0.5
    mp.save(net, "b.params")
    return tmp_path


@pytest.mark.cpu_matrix  # the numbers the command prints
def test_inspect_prints_the_library_table_and_json(files, mode):
    done = run("inspect", "a.params")
    assert done.returncode == 0 and stderr_of(done) == ""
    assert done.stdout == str(mp.inspect("a.params")) + "\n"
    as_json = json.loads(run("inspect", "a.params", "--json").stdout)
    assert as_json == mp.inspect("a.params").to_dict()
    assert as_json["arrays"][7]["mean"] == 7.0625
    html = run("inspect", "a.params", "--html", script=True).stdout
    assert html.startswith('<table class="mxparams">')


@pytest.mark.cpu_matrix  # the numbers the command prints
def test_diff_exit_codes_and_changes(files, mode):
    equal = run("diff", "a.params", "same.params")
    assert equal.returncode == 0
    assert equal.stdout == ("A       a.params\nB       same.params\n"
                            "Result  equal\n")
    net = compat_net()
    net.add(nn.Dense(4, in_units=3))
    fill(net)
    net[0].weight.data()[:] = 0
    mp.save(net, "c.params")
    differ = run("diff", "b.params", "c.params")
    assert differ.returncode == 1
    assert differ.stdout.splitlines() == [
        "Change  Path      A                   B",
        "------  --------  ------------------  --------------",
        "added   3.weight                      (4, 3) float32",
        "added   3.bias                        (4,) float32",
        "values  0.weight  max abs difference  0.875",
        "values  2.bias    max abs difference  0.5",
        "====================================================",
        "A       b.params",
        "B       c.params",
        "Result  0 removed, 2 added, 0 shape/dtype changed, 2 values "
        "changed, 6 equal"]
    as_json = json.loads(run("diff", "b.params", "c.params", "--json").stdout)
    assert as_json["equal"] is False and as_json["added"] == ["3.weight", "3.bias"]
    assert as_json["values"] == [{"path": "0.weight", "max_abs_diff": 0.875},
                                 {"path": "2.bias", "max_abs_diff": 0.5}]


def test_convert_makes_any_file_portable(files, mode):
    net = fill(compat_net())
    net.save_parameters("gluon.params")  # npz on 2.x, "np shape" on 1.x
    done = run("convert", "gluon.params", "portable.params", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["arrays"] == 8 and report["output"] == "portable.params"
    assert mp.inspect("portable.params").format == report["output_format"]
    copy = compat_net()
    copy.load_parameters("portable.params")  # Gluon's own loader
    assert same(values(copy), expected())
    text = run("convert", "gluon.params", "again.params").stdout
    assert text.startswith("wrote again.params: 8 arrays, MXNet NDArray list")


@pytest.mark.parametrize("args, message", [
    (["inspect", "absent.params"], "checkpoint 'absent.params': cannot read "
                                   "the file: No such file or directory"),
    (["diff", "a.params", "junk.params"], "checkpoint 'junk.params': unknown "
                                          "format"),
    (["convert", "a.params", "no/dir/x.params"], "does not exist"),
    (["diff", "a.params"], "the following arguments are required: b"),
    (["inspect"], "the following arguments are required: file"),
])
def test_bad_input_is_one_line_and_exit_2(files, args, message, mode):
    (files / "junk.params").write_text("not a checkpoint")
    done = run(*args)
    assert done.returncode == 2 and done.stdout == ""
    stderr = stderr_of(done)
    assert stderr.startswith("mxparams: error: ")
    assert stderr.count("\n") == 1 and message in stderr


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_only_on_a_terminal_for_big_files(tmp_path, monkeypatch, mode):
    path = tmp_path / "big.params"
    path.write_bytes(b"x" * 3000)
    with cli._progress(str(path), Terminal()) as progress:
        assert progress is None  # small file
    monkeypatch.setattr(cli, "PROGRESS_MIN_BYTES", 1000)
    with cli._progress(str(path), io.StringIO()) as progress:
        assert progress is None  # not a terminal
    screen = Terminal()
    with cli._progress(str(path), screen) as progress:
        progress(3000)
    assert "big.params" in screen.getvalue() and "2.93k" in screen.getvalue()
