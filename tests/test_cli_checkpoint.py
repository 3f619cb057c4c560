"""mxparams inspect / diff / convert on the command line."""
import io
import json

import pytest
from mxnet.gluon import nn
from test_cli import cli as run
from test_cli import stderr_of

import mxparams as mp
from mxparams import cli

from ckpt_common import compat_net, expected, fill, same, values

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
    assert done.stdout == str(mp.inspect_checkpoint("a.params")) + "\n"
    as_json = json.loads(run("inspect", "a.params", "--json").stdout)
    assert as_json == mp.inspect_checkpoint("a.params").to_dict()
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
    assert mp.inspect_checkpoint("portable.params").format == report["output_format"]
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
    with cli._progress(str(path), stream=Terminal()) as progress:
        assert progress is None  # small file
    monkeypatch.setattr(cli, "PROGRESS_MIN_BYTES", 1000)
    with cli._progress(str(path), stream=io.StringIO()) as progress:
        assert progress is None  # not a terminal
    screen = Terminal()
    with cli._progress(str(path), stream=screen) as progress:
        progress(3000)
    assert "big.params" in screen.getvalue() and "2.93k" in screen.getvalue()
    # diff: one bar over both files
    screen = Terminal()
    with cli._progress(str(path), str(path), stream=screen) as progress:
        progress(6000)
    assert "big.params big.params" in screen.getvalue()
    assert "5.86k" in screen.getvalue()


def limited(address_space_kib: int):
    """preexec_fn: the child may map at most this much address space."""
    import resource

    def apply():
        limit = address_space_kib * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


@pytest.mark.parametrize("what", ["dev-zero", "sparse-3GiB", "truncated"])
def test_files_of_any_size_cost_only_their_header(files, what, mode):
    """Only regular files are opened, and the format is decided from the
    first bytes: /dev/zero (endless), a 3 GiB non-checkpoint under a 2.5 GB
    address-space limit, and a cut real checkpoint all give the one-line
    error."""
    if what == "dev-zero":
        target, reason = "/dev/zero", "is a character device, not a regular file"
    elif what == "sparse-3GiB":
        target, reason = str(files / "sparse.bin"), "unknown format"
        with open(target, "wb") as f:
            f.truncate(3 << 30)  # a hole: no disk used
    else:
        data = (files / "a.params").read_bytes()
        target = str(files / "cut.params")
        (files / "cut.params").write_bytes(data[:len(data) // 2])
        reason = "truncated"
    import os
    import subprocess
    import sys
    done = subprocess.run(
        [sys.executable, "-m", "mxparams", "inspect", target],
        capture_output=True, text=True, timeout=120,
        preexec_fn=limited(2_500_000) if what == "sparse-3GiB" else None,
        env=dict(os.environ))
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    stderr = stderr_of(done)
    assert stderr.startswith("mxparams: error: checkpoint ")
    assert stderr.count("\n") == 1 and reason in stderr


def test_json_is_valid_with_nan_and_inf(files, mode):
    net = fill(compat_net())
    net[0].bias.data()[:] = float("nan")
    net[2].bias.data()[0] = float("inf")
    net[2].bias.data()[1] = float("-inf")
    mp.save(net, "special.params")
    other = fill(compat_net())
    other[2].bias.data()[0] = float("inf")
    other[2].bias.data()[1] = float("-inf")
    mp.save(other, "infs.params")

    def strict_json(text):  # RFC 8259: no bare NaN or Infinity
        def refuse(token):
            raise AssertionError(f"not JSON: {token}")
        return json.loads(text, parse_constant=refuse)

    inspected = run("inspect", "special.params", "--json")
    arrays = {a["path"]: a for a in strict_json(inspected.stdout)["arrays"]}
    assert arrays["0.bias"]["mean"] == "nan"
    assert arrays["2.bias"]["max"] == "inf" and arrays["2.bias"]["min"] == "-inf"
    compared = run("diff", "special.params", "infs.params", "--json")
    assert compared.returncode == 1
    assert strict_json(compared.stdout)["values"] == [
        {"path": "0.bias", "max_abs_diff": "nan"}]
    # inf against the same inf is no difference, and no numpy warning.
    same_infs = run("diff", "infs.params", "infs.params", "--json")
    assert same_infs.returncode == 0 and stderr_of(same_infs) == ""
