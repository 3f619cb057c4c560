"""Text from a file reaches a human escaped: keys, metadata, file names.

A checkpoint is input anyone may have written.  Its keys and metadata can
hold terminal escape sequences (clear the screen, retitle the window),
carriage returns and bidi overrides (hide or reorder what follows), and
its name can be bytes that are not UTF-8.  Every text output shows them
as escapes; ``--json`` keeps the text itself (JSON escapes it).
"""
import json
import os
import struct
import sys

import mxnet as mx
import numpy
import pytest
from mxnet.gluon import nn
from safetensors.numpy import save_file
from test_cli import cli, stderr_of

import mxparams as mp
from mxparams._table import printable, quoted

from ckpt_common import compat_net, fill

# What each hostile text does on a terminal, and how it must show instead.
HOSTILE = {
    "\x1b]0;title\x07": r"\x1b]0;title\x07",   # retitles the window
    "\x1b[2J": r"\x1b[2J",                     # clears the screen
    "a\rb": r"a\rb",                           # overwrites the line
    "c\nd": r"c\nd",                           # breaks the table's line
    "e\u202ef": r"e\u202ef",                   # reverses what follows
    "g\th": r"g\th",
    "\x9b2J": r"\x9b2J",                       # C1 CSI: clears on some terminals
    "i\x7f": r"i\x7f",
    "j\u2028k": r"j\u2028k",                   # a line separator
}
META_KEY, META_VALUE = "note\x1b[2J", "v\x1b]0;t\x07\n\u2066x"


def assert_shown_safely(text: str, *escaped: str) -> None:
    """No character a terminal acts on, except the line ends; the escapes
    are there instead."""
    raw = sorted({c for line in text.split("\n") for c in line
                  if not c.isprintable()})
    assert not raw, f"raw characters {raw!r} in the output:\n{text!r}"
    for form in escaped:
        assert form in text, f"{form} not in the output:\n{text}"


@pytest.fixture
def hostile(tmp_path, monkeypatch):
    """h.safetensors and h.params keyed by HOSTILE (safetensors with
    hostile metadata too), and n.params keyed by 'n'."""
    monkeypatch.chdir(tmp_path)
    save_file({key: numpy.full(2, i, "float32") for i, key in enumerate(HOSTILE)},
              "h.safetensors", metadata={META_KEY: META_VALUE})
    mx.nd.save("h.params", {key: mx.nd.full((2,), i)
                            for i, key in enumerate(HOSTILE)})
    mx.nd.save("n.params", {"n": mx.nd.ones((2,))})
    return tmp_path


def test_printable_escapes_what_a_terminal_acts_on_only(mode):
    for text, shown in HOSTILE.items():
        assert printable(text) == shown
    assert printable(os.fsdecode(b"caf\xe9.params")) == r"caf\xe9.params"
    assert printable("\udc7f\ud800") == r"\udc7f\ud800"  # not from a byte
    for text in ["0.weight", "Tham số", "權重", "├── 0: Dense", "a b", "x\\y"]:
        assert printable(text) is text
    assert quoted(os.fsdecode(b"caf\xe9")) == r"'caf\xe9'"
    # The text's own backslash stays the text's: escaped by repr, not a byte.
    assert quoted("\\udce9") == repr("\\udce9")
    assert quoted("a\\" + os.fsdecode(b"\xe9")) == r"'a\\\xe9'"


@pytest.mark.parametrize("mode", ["np"], indirect=True)
@pytest.mark.parametrize("name", ["h.safetensors", "h.params"])
def test_inspect_shows_keys_and_metadata_escaped(hostile, name, mode):
    done = cli("inspect", name)
    assert done.returncode == 0 and stderr_of(done) == "", done.stderr
    assert_shown_safely(done.stdout, *HOSTILE.values())
    # Every row is one line: a '\n' in a key does not split it.
    assert len(done.stdout.splitlines()) == 2 + len(HOSTILE) + 1 + 5 + (
        name == "h.safetensors")
    if name == "h.safetensors":
        assert r"note\x1b[2J=v\x1b]0;t\x07\n\u2066x" in done.stdout
    html = cli("inspect", name, "--html").stdout
    assert_shown_safely(html, *(printable(k).replace("&", "&amp;")
                                for k in HOSTILE))
    # JSON keeps the text itself (escaped by JSON, not changed).
    data = json.loads(cli("inspect", name, "--json").stdout)
    assert {a["path"] for a in data["arrays"]} == set(HOSTILE)


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_diff_and_convert_show_keys_and_names_escaped(hostile, mode):
    differ = cli("diff", "h.params", "n.params")
    assert differ.returncode == 1 and stderr_of(differ) == ""
    assert_shown_safely(differ.stdout, *HOSTILE.values())
    out = "out\x1b[2J.params"
    done = cli("convert", "h.safetensors", out)
    assert done.returncode == 0 and stderr_of(done) == "", done.stderr
    assert_shown_safely(done.stdout, r"wrote out\x1b[2J.params: 9 arrays")
    back = cli("inspect", out)
    assert_shown_safely(back.stdout, *HOSTILE.values(), r"out\x1b[2J.params")


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_errors_quoting_a_file_show_its_text_escaped(hostile, mode):
    # A dtype the safetensors reader rejects is quoted in its error.
    header = json.dumps({"k": {"dtype": "\x1b]0;x\x07", "shape": [1],
                               "data_offsets": [0, 4]}}).encode()
    with open("bad.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + bytes(4))
    done = cli("inspect", "bad.safetensors")
    assert done.returncode == 2 and done.stdout == ""
    stderr = stderr_of(done)
    assert stderr.startswith("mxparams: error: checkpoint 'bad.safetensors'")
    assert_shown_safely(stderr, r"\x1b]0;x\x07")
    with pytest.raises(mp.CheckpointError) as info:
        mp.inspect_checkpoint("bad.safetensors")
    assert_shown_safely(str(info.value), r"\x1b]0;x\x07")


def test_load_report_and_refusal_show_keys_escaped(hostile, capsys, mode):
    for name in ["h.safetensors", "h.params"]:
        net = compat_net()
        net.initialize()
        print(mp.load(net, name, strict=False))
        report = capsys.readouterr().out
        assert_shown_safely(report, *HOSTILE.values())
        assert "in the file, not in the network" in report
        assert_shown_safely(mp.load(net, name, strict=False)._repr_html_())
        with pytest.raises(mp.CheckpointError) as info:
            mp.load(net, name)
        assert_shown_safely(str(info.value))
        assert "'\\x1b[2J'" in str(info.value)


def test_paths_of_a_network_are_escaped_in_tables_and_errors(mode):
    net = nn.HybridSequential()
    child = nn.Dense(2, in_units=2)
    net.register_child(child, "x\x1b[2J\ny")  # `child` keeps it alive on 2.x
    net.initialize()
    for table in [mp.summary(net), mp.stats(net), mp.collect(net)]:
        assert_shown_safely(repr(table), r"x\x1b[2J\ny.weight")
        assert_shown_safely(table._repr_html_(), r"x\x1b[2J\ny.weight")
    with pytest.raises(mp.ParamNotFound) as info:
        mp.collect(net)["x\x1b[2J\ny.wieght"]
    assert_shown_safely(str(info.value), r"x\x1b[2J\ny.weight")


# A strict UTF-8 stdout: a lone surrogate (an undecodable byte of a file
# name) would raise UnicodeEncodeError there.
STRICT_UTF8 = {"PYTHONIOENCODING": "utf-8:strict", "LC_ALL": "C.UTF-8"}


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_file_names_of_any_bytes(tmp_path, monkeypatch, mode):
    monkeypatch.chdir(tmp_path)
    name = os.fsdecode(b"caf\xe9.params")  # what argv holds for those bytes
    mp.save(fill(compat_net()), "cafe.params")
    os.rename("cafe.params", name)
    shown = r"caf\xe9.params"
    for args, code in [(["inspect", name], 0), (["diff", name, name], 0),
                       (["inspect", name, "--html"], 0),
                       (["convert", name, os.fsdecode(b"\xff.safetensors")], 0)]:
        done = cli(*args, env=STRICT_UTF8)
        assert done.returncode == code, done.stderr
        assert stderr_of(done) == ""
        assert_shown_safely(done.stdout, shown)
    assert r"wrote \xff.safetensors: 8 arrays" in done.stdout
    with open(b"junk\xe9.params", "wb") as f:
        f.write(b"not a checkpoint")
    done = cli("inspect", os.fsdecode(b"junk\xe9.params"), env=STRICT_UTF8)
    assert done.returncode == 2 and done.stdout == ""
    assert stderr_of(done).startswith(
        r"mxparams: error: checkpoint 'junk\xe9.params': unknown format")
    assert_shown_safely(stderr_of(done))
    # In the library: tables and errors show the byte the same way.
    assert shown in str(mp.inspect_checkpoint(name))
    with pytest.raises(mp.CheckpointError) as info:
        mp.inspect_checkpoint(b"junk\xe9.params")
    assert str(info.value).startswith(r"checkpoint 'junk\xe9.params': ")
    assert sys.getfilesystemencoding() == "utf-8"  # what the names assume
