"""Checkpoint files that are not what they seem, or change while they are used.

Reading: only regular files are opened (a FIFO would wait forever), and
a file cut or rewritten by another process between reading its index and
reading its data gives a CheckpointError and no partial load (a memory
map of it would kill the process with SIGBUS).  The cut is made by the
test hook ``_source.after_index``, so it happens at the same point every
run.  Writing: a save that could not write the whole file (a full disk, a
quota, a file-size limit) fails and leaves the previous file as it was;
a symbolic link is written through, as Gluon does.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy
import pytest
from mxnet.gluon import nn

import mxparams as mp
from mxparams import _compat, cli
from mxparams.checkpoint import _common, _file, _source

from ckpt_common import compat_net, expected, fill, same, values


@pytest.fixture
def alarm():
    """Turn a call that would block forever into a failure after 20 s."""
    def expire(signum, frame):
        raise TimeoutError("blocked for 20 s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


# -- what is opened -------------------------------------------------------

@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_only_regular_files_are_opened(tmp_path, kind, alarm, capsys):
    if kind == "fifo":
        path = str(tmp_path / "pipe.params")
        os.mkfifo(path)
        reason = r"is a named pipe \(FIFO\), not a regular file"
    elif kind == "device":
        path, reason = os.devnull, "is a character device, not a regular file"
    else:
        path, reason = str(tmp_path), "is a directory, not a parameter file"
    net = fill(compat_net())
    before = values(net)
    for call in (lambda: mp.load(net, path), lambda: mp.inspect_checkpoint(path),
                 lambda: _file.read(path)):
        with pytest.raises(mp.CheckpointError, match=reason):
            call()
    assert same(values(net), before)
    assert cli.main(["inspect", path]) == 2
    assert cli.main(["diff", path, path]) == 2
    assert cli.main(["convert", path, str(tmp_path / "out.params")]) == 2
    err = capsys.readouterr().err
    assert err.count("mxparams: error:") == 3 and len(err.splitlines()) == 3
    assert not (tmp_path / "out.params").exists()


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_the_command_line_does_not_wait_on_a_fifo(tmp_path, mode):
    path = str(tmp_path / "pipe.params")
    os.mkfifo(path)
    done = subprocess.run([sys.executable, "-m", "mxparams", "inspect", path],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "is a named pipe (FIFO), not a regular file" in done.stderr


# -- files that change while they are read ------------------------------------

def writers():
    """(name, function that writes compat_net's values to a path)."""
    def mxparams_file(path):
        mp.save(fill(compat_net()), path)

    def safetensors_file(path):
        mp.save(fill(compat_net()), path + ".safetensors")
        os.replace(path + ".safetensors", path)

    def gluon_file(path):  # 1.x: the "np shape" list in np mode; 2.x: npz
        fill(compat_net()).save_parameters(path)

    def npz_file(path):
        with open(path, "wb") as f:
            numpy.savez(f, **expected())
    return {"mxparams": mxparams_file, "safetensors": safetensors_file,
            "gluon": gluon_file, "npz": npz_file}


@pytest.mark.parametrize("change", ["cut", "grown", "rewritten"])
@pytest.mark.parametrize("fmt", sorted(writers()))
def test_a_file_changed_during_a_read_is_an_error_and_loads_nothing(
        tmp_path, fmt, change, monkeypatch, capsys):
    path = str(tmp_path / "net.params")
    writers()[fmt](path)
    size = os.path.getsize(path)

    def meddle(name):
        if name != path:  # the read-back of a save's temporary file
            return
        if change == "cut":
            os.truncate(path, size // 2)
        elif change == "grown":
            with open(path, "ab") as f:
                f.write(b"\0" * 64)
        else:  # same size, other bytes, a later modification time
            with open(path, "r+b") as f:
                f.seek(size - 40)
                f.write(b"\x7f" * 8)
            stamp = os.stat(path).st_mtime_ns + 10**9
            os.utime(path, ns=(stamp, stamp))
    monkeypatch.setattr(_source, "after_index", meddle)
    reason = ("changed while it was being read" if change != "rewritten"
              else "was modified while it was being read")
    net = fill(compat_net(), seed=3)
    before = values(net)
    with pytest.raises(mp.CheckpointError, match=reason):
        mp.load(net, path)
    assert same(values(net), before)
    for call in (lambda: mp.inspect_checkpoint(path),
                 lambda: mp.load(net, path, strict=False)):
        writers()[fmt](path)
        with pytest.raises(mp.CheckpointError, match=reason):
            call()
        assert same(values(net), before)
    writers()[fmt](path)
    assert cli.main(["inspect", path]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and reason in err
    # Untouched, the same file loads.
    monkeypatch.setattr(_source, "after_index", None)
    writers()[fmt](path)
    mp.load(net, path)
    assert same(values(net), expected())


@pytest.mark.parametrize("cut", [False, True])
def test_reads_in_pieces_on_several_threads(tmp_path, monkeypatch, cut):
    """Large files are read in pieces by a few threads (here every file,
    in 64-byte pieces): the same values, and a cut is still seen."""
    monkeypatch.setattr(_source, "_PARALLEL_MIN", 0)
    monkeypatch.setattr(_source, "_PIECE", 64)
    path = str(tmp_path / "net.params")
    mp.save(fill(compat_net()), path)
    if cut:
        monkeypatch.setattr(_source, "after_index",
                            lambda name: os.truncate(name, 300))
    net = compat_net()
    net.initialize()
    before = values(net)
    if cut:
        with pytest.raises(mp.CheckpointError, match="changed while it was "
                                                     "being read"):
            mp.load(net, path)
        assert same(values(net), before)
    else:
        mp.load(net, path)
        assert same(values(net), expected())


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_a_cut_file_does_not_kill_the_process(tmp_path, mode):
    """The crash this replaces: on 1.9.1 the process died of SIGBUS (exit
    135) and safetensors aborted it (exit 134).  The cut happens in the
    child, between reading the index and reading the data."""
    path = str(tmp_path / "net.params")
    mp.save(fill(compat_net()), path)
    mp.save(fill(compat_net()), path + ".safetensors")
    child = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        import mxparams as mp
        from mxparams.checkpoint import _source
        from ckpt_common import compat_net
        for name in ({path!r}, {path + '.safetensors'!r}):
            _source.after_index = lambda n: os.truncate(n, os.path.getsize(n) // 3)
            net = compat_net()
            net.initialize()
            try:
                mp.load(net, name)
            except mp.CheckpointError as err:
                print("refused:", err.reason.split(" (")[0])
    """)
    done = subprocess.run([sys.executable, "-c", child], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("refused: changed while it was being read") == 2


def test_safetensors_package_never_maps_the_users_file(tmp_path, monkeypatch):
    """The package checks a private copy of the header (the data a hole);
    the data are read from the file with pread like the other formats, so
    a file cut after it was opened is an error, not a crash."""
    import safetensors
    path = str(tmp_path / "net.safetensors")
    mp.save(fill(compat_net()), path)
    opened = []
    original = safetensors.safe_open

    def spy(name, framework):
        opened.append((name, os.path.getsize(name)))
        return original(name, framework)
    monkeypatch.setattr(safetensors, "safe_open", spy)
    raw = _file.read(path)
    assert len(opened) == 1 and opened[0][0] != path
    assert opened[0][1] == os.path.getsize(path)  # as long as the file
    found = {k: _common.materialize(a) for k, a in raw.arrays.items()}
    assert same(dict(sorted(found.items())), dict(sorted(expected().items())))
    os.truncate(path, 200)
    with pytest.raises(mp.CheckpointError, match="changed while it was being "
                                                 "read"):
        _common.materialize(raw.arrays["0.weight"])


# -- writing ---------------------------------------------------------------

LIMITED_SAVE = r"""
import os, resource, sys
sys.path.insert(0, sys.argv[3])
import mxparams as mp
from ckpt_common import fill
from mxnet.gluon import nn
net = nn.HybridSequential()
net.add(nn.Dense(64, in_units=64), nn.Dense(64, in_units=64))
net.initialize()
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    mp.save(net, sys.argv[1])
except mp.CheckpointError as err:
    print("refused:", err.reason)
else:
    print("saved")
"""


@pytest.mark.parametrize("suffix", ["params", "safetensors"])
@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_a_save_that_does_not_fit_fails_and_keeps_the_old_file(tmp_path, suffix,
                                                               mode):
    """A file-size limit just below the new file's size (as a full disk or
    a quota): MXNet's writer lost the error and the cut file replaced the
    good one."""
    path = str(tmp_path / f"net.{suffix}")
    mp.save(fill(compat_net()), path)
    old = Path(path).read_bytes()
    probe = nn.HybridSequential()
    probe.add(nn.Dense(64, in_units=64), nn.Dense(64, in_units=64))
    probe.initialize()
    mp.save(probe, str(tmp_path / f"probe.{suffix}"))
    size = os.path.getsize(tmp_path / f"probe.{suffix}")
    for limit in (size - 100, size - 1):
        done = subprocess.run([sys.executable, "-c", LIMITED_SAVE, path,
                               str(limit), os.path.dirname(__file__)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("refused: cannot write:"), done.stdout
        assert Path(path).read_bytes() == old
        assert sorted(os.listdir(tmp_path)) == [f"net.{suffix}", f"probe.{suffix}"]
    done = subprocess.run([sys.executable, "-c", LIMITED_SAVE, path, str(size),
                           os.path.dirname(__file__)],
                          capture_output=True, text=True, timeout=120)
    assert done.stdout == "saved\n", done.stderr
    assert "0.weight" in mp.inspect_checkpoint(path).keys()


def test_a_written_file_that_does_not_read_back_is_refused(tmp_path, monkeypatch):
    path = str(tmp_path / "net.params")
    mp.save(fill(compat_net()), path)
    old = Path(path).read_bytes()
    original = _compat.save_portable

    def wrong_dtype(fname, arrays, progress=None):
        original(fname, arrays, progress)
        with open(fname, "r+b") as f:  # the first array's dtype flag
            f.seek(24 + 12 + 8 * 2 + 8)
            f.write((6).to_bytes(4, "little"))  # int64 where float32 was
    monkeypatch.setattr(_compat, "save_portable", wrong_dtype)
    with pytest.raises(mp.CheckpointError, match="cannot write: the written "
                                                 "file does not read back"):
        mp.save(fill(compat_net(), seed=1), path)

    def wrong_keys(fname, arrays, progress=None):
        original(fname, {k.replace("0.", "9."): v for k, v in arrays.items()},
                 progress)
    monkeypatch.setattr(_compat, "save_portable", wrong_keys)
    with pytest.raises(mp.CheckpointError, match="does not hold the arrays "
                                                 "that were saved"):
        mp.save(fill(compat_net(), seed=1), path)
    assert Path(path).read_bytes() == old
    assert os.listdir(tmp_path) == ["net.params"]


@pytest.mark.parametrize("suffix", ["params", "safetensors"])
def test_a_symbolic_link_is_written_through(tmp_path, suffix):
    """As Gluon's save_parameters does: the link stays, its target is
    replaced (atomically, from a temporary file in the target's folder)."""
    real_dir, link_dir = tmp_path / "store", tmp_path / "links"
    real_dir.mkdir()
    link_dir.mkdir()
    target = real_dir / f"net-v1.{suffix}"
    mp.save(fill(compat_net()), target)
    os.chmod(target, 0o640)
    link = link_dir / f"latest.{suffix}"
    link.symlink_to(target)
    mp.save(fill(compat_net(), seed=2), link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert os.stat(target).st_mode & 0o777 == 0o640
    net = compat_net()
    mp.load(net, target)
    assert same(values(net), expected(seed=2))
    assert os.listdir(real_dir) == [target.name]
    assert os.listdir(link_dir) == [link.name]
    if suffix == "params":  # Gluon's own save does the same
        gluon_link = link_dir / "gluon.params"
        gluon_link.symlink_to(real_dir / "gluon.params")
        fill(compat_net()).save_parameters(str(gluon_link))
        assert gluon_link.is_symlink() and (real_dir / "gluon.params").is_file()
    dangling = link_dir / f"new.{suffix}"
    dangling.symlink_to(real_dir / f"new.{suffix}")
    mp.save(fill(compat_net()), dangling)
    assert dangling.is_symlink() and (real_dir / f"new.{suffix}").is_file()


def test_a_read_only_link_target_is_refused(tmp_path):
    target = tmp_path / "kept.params"
    mp.save(fill(compat_net()), target)
    os.chmod(target, 0o444)
    link = tmp_path / "link.params"
    link.symlink_to(target)
    with pytest.raises(mp.CheckpointError, match="read-only"):
        mp.save(fill(compat_net(), seed=1), link)
    net = compat_net()
    mp.load(net, target)
    assert same(values(net), expected())


@pytest.mark.parametrize("suffix", ["params", "safetensors"])
def test_names_that_are_not_utf8_are_written_and_read(tmp_path, suffix):
    """os.fsdecode keeps such bytes as surrogates, which MXNet's writer,
    taking UTF-8 text, refused ("surrogates not allowed")."""
    folder = os.fsencode(tmp_path) + b"/d\xe9j\xe0"
    os.mkdir(folder)
    path = folder + b"/caf\xe9." + suffix.encode()
    mp.save(fill(compat_net()), path)
    net = compat_net()
    mp.load(net, path)
    assert same(values(net), expected())
    assert os.listdir(folder) == [os.path.basename(path)]
