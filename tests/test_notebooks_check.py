"""``mxparams notebooks check`` (issue 24, first part): nbval's verdict under
each configuration, and the cause of each difference.

A notebook written here has one cell per cause, with stored outputs made
to drift the way real notebooks do.  It runs in the environment under
test (and, for the cross-version test, the other versions' too) under
the default profile twice and the simulated CPU ``sse41``.
"""
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from mxparams.notebooks import PROFILES, _causes, check
from mxparams.notebooks.check import in_effect

SETUP = ("import mxnet as mx\nfrom mxnet import np, npx\nfrom mxnet.gluon import nn\n"
         "npx.set_np()")
# (source, stored stdout or None, the cause it is made for).  Stored as
# from MXNet 1.9.1 on "another CPU", after some cells had been re-run.
CELLS = [
    (SETUP, None, None),
    ("print(1 + 1)", "2\n", None),
    # A float32 matrix product, printed whole.
    ("mx.random.seed(0)\na = np.random.uniform(size=(64, 64))\n"
     "print(float((a @ a).sum()))", "65536.123456789\n", "float-digits"),
    # Stored after the cell had been run 5 times in a 1.x kernel.
    ("d = nn.Dense(2, in_units=3)\nd.initialize()\n"
     "print([p.name for p in d.collect_params().values()])",
     "['dense4_weight', 'dense4_bias']\n", "auto-name"),
    ("import random\nprint(random.random())", "0.5\n", "nondeterministic"),
    ("# NBVAL_IGNORE_OUTPUT\nprint(random.random())", "0.25\n", None),
    ("", None, None),
    ("# NBVAL_SKIP\nraise RuntimeError('never run')", None, None),
]
# Cells whose stored output is 1.9.1's: they hold there and drift on 2.0
# (a plain dict instead of a ParameterDict; prefix= is gone, and the cell
# after it fails because of it).  Last, so the cascade hits no other cell.
VERSION_CELLS = [
    ("print(type(d.collect_params()).__name__)", "ParameterDict\n", "version-api"),
    ("x = nn.Dense(2, prefix='old_')\nprint('made')", "made\n", "version-api"),
    ("print(x.prefix)", "old_\n", "version-api"),
]


def write_notebook(path, cells=CELLS):
    nb = new_notebook()
    for count, (source, stdout, _) in enumerate(cells, 1):
        cell = new_code_cell(source, execution_count=count)
        if stdout is not None:
            cell.outputs = [new_output("stream", name="stdout", text=stdout)]
        nb.cells.append(cell)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, str(path))
    return path


def nbval_failures(notebook, options=(), python=sys.executable, env=None):
    """The cells ``pytest --nbval`` itself fails, as 'Cell N', run by
    ``python`` on a kernel of its own with ``env`` added."""
    done = subprocess.run(
        [python, "-m", "pytest", "-c", os.devnull, "-p", "no:cacheprovider",
         "--nbval", "--nbval-current-env", "-q", "-rf", *options, str(notebook)],
        capture_output=True, text=True, cwd=notebook.parent,
        env={**os.environ, **(env or {})})
    return sorted(line.split("::")[1].split(" - ")[0].strip()
                  for line in done.stdout.splitlines()
                  if line.startswith("FAILED") and "::" in line)


@pytest.fixture(scope="module")
def drift(tmp_path_factory, profile_pythons):
    """The notebook of every cause, checked on every MXNet version under
    every profile (the default one twice)."""
    folder = tmp_path_factory.mktemp("drift")
    notebook = write_notebook(folder / "drift.ipynb", CELLS + VERSION_CELLS)
    return notebook, check([notebook], pythons=[sys.executable, *profile_pythons],
                           cpus=["all"])


def _python_of(version, pythons):
    from importlib.metadata import version as installed
    if installed("mxnet") == version:
        return sys.executable
    for python in pythons:
        done = subprocess.run([python, "-c", "from importlib.metadata import version;"
                               "print(version('mxnet'))"], capture_output=True, text=True)
        if done.stdout.strip() == version:
            return python
    raise AssertionError(f"no interpreter with MXNet {version}")


@pytest.mark.cross_version
@pytest.mark.simulated_cpus
@pytest.mark.parametrize("mode", ["np"], indirect=True)  # the kernel's own mode
def test_each_cause_is_named_under_every_configuration(drift, mode):
    notebook, report = drift
    assert bool(report)
    versions = list(dict.fromkeys(x.partition("/")[0] for x in report.configurations))
    assert len(versions) >= 2 and "1.9.1" in versions
    for version in versions:
        ran = [x for x in report.configurations if x.startswith(version + "/")]
        assert ran == [f"{version}/{p}" for p in
                       ["default", "default#2", "sse41", "avx2", "no-onednn", "1-thread"]]
    cells = dict(report.notebooks[0][1])
    assert list(cells) == [f"Cell {i}" for i in range(len(CELLS + VERSION_CELLS))]
    for i, (_, _, cause) in enumerate(CELLS + VERSION_CELLS):
        for label, result in cells[f"Cell {i}"].items():
            # Every profile is in effect on this host, on each version.
            assert result.status != "not-in-effect", (label, result)
            if cause is None or (cause == "version-api" and label.startswith("1.")):
                assert result.status == "same", (i, label, result)
            else:
                assert result.status in ("differs", "error"), (i, label, result)
                assert result.cause == cause, (i, label, result)
    digits = cells["Cell 2"]["1.9.1/default"].stable_digits
    assert digits is not None and 1 <= digits < 9
    first = cells["Cell 3"]["1.9.1/default"].first_difference
    assert first.startswith("stdout: ['dense4_weight', 'dense4_bias'] -> ")


@pytest.mark.cross_version
@pytest.mark.simulated_cpus
@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_the_verdict_is_nbvals_own_under_every_configuration(drift, profile_pythons,
                                                             mode):
    # nbval run directly by each version's Python on its own kernel, the
    # profile's variables in its environment: the cells it fails are the
    # cells the check reports there.
    notebook, report = drift
    labels = [x for x in report.configurations if "#" not in x]
    pythons = {x: _python_of(x.partition("/")[0], profile_pythons) for x in labels}

    def nbval(label):
        return nbval_failures(notebook, python=pythons[label],
                              env=PROFILES[label.partition("/")[2]].env)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        theirs = dict(zip(labels, pool.map(nbval, labels), strict=True))
    for label in labels:
        ours = sorted(cell for cell, results in report.notebooks[0][1]
                      if results[label].status != "same")
        assert ours == theirs[label], label


@pytest.mark.cross_version
@pytest.mark.simulated_cpus
@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_the_table_and_the_json(drift, mode):
    _, report = drift
    text = str(report)
    rows = {tuple(line.split()[1:6]) for line in text.splitlines()
            if line.startswith("drift.ipynb")}
    assert ("Cell", "3", "auto-name", "differs", "everywhere") in rows
    assert ("Cell", "9", "version-api", "raises", "2.0.0b1/*") in rows
    assert ("Cell", "8", "version-api", "differs", "2.0.0b1/*") in rows
    assert "structural paths" in text
    data = json.loads(json.dumps(report.to_dict()))
    assert set(data) == {"configurations", "notebooks"}
    cell = data["notebooks"][0]["cells"][2]
    assert cell["id"] == "Cell 2"
    result = cell["results"][data["configurations"][0]]
    assert set(result) == {"status", "cause", "stable_digits", "first_difference"}
    assert result["status"] == "differs" and result["cause"] == "float-digits"


def test_a_profile_that_changes_nothing_is_not_in_effect():
    default = {"isa": "Intel AVX2", "onednn_ran": True, "openblas_core": "Haswell"}
    assert in_effect(PROFILES["avx2"], dict(default), default).startswith(
        "DNNL_MAX_CPU_ISA=AVX2 changes nothing")
    sse = {"isa": "Intel SSE4.1", "onednn_ran": True, "openblas_core": "Nehalem"}
    assert in_effect(PROFILES["sse41"], sse, default) == ""
    # OpenBLAS 0.3.7 (MXNet 1.8.0) names its Nehalem table "Atom": the
    # variable moved the core, so it is in effect; a core it did not move is not.
    assert in_effect(PROFILES["sse41"], dict(sse, openblas_core="Atom"), default) == ""
    assert "OpenBLAS runs Haswell, not Nehalem" in in_effect(
        PROFILES["sse41"], dict(sse, openblas_core="Haswell"), default)
    assert "oneDNN still runs" in in_effect(PROFILES["no-onednn"], default, default)
    no_blas = dict(sse, openblas_core=None, openblas_reads_coretype=False)
    assert "no OpenBLAS" in in_effect(PROFILES["sse41"], no_blas, default)
    assert in_effect(PROFILES["1-thread"], default, default) == ""


def test_stable_digits_and_masking():
    a = ["stdout: 0.123456", "stdout: tensor 3"]
    b = ["stdout: 0.123499", "stdout: tensor 3"]
    assert _causes.masked(a) == _causes.masked(b)
    assert _causes.stable_digits([a, b]) == 4
    assert _causes.stable_digits([a, a]) is None
    assert _causes.names_global("['dense4_weight']")
    assert not _causes.names_global("['0.weight']")


def test_machine_paths_and_wrapping_are_not_version_drift():
    stored = ["stdout: F: <module 'mxnet.ndarray' from "
              "'/var/lib/jenkins/envs/b/lib/python3.6/site-packages/mxnet/nd.py'>"]
    here = ["stdout: F: <module 'mxnet.ndarray' from "
            "'/home/u/.venv/lib/python3.11/site-packages/mxnet/nd.py'>"]
    assert _causes.pathless(stored) == _causes.pathless(here)
    assert _causes.pathless(["ratio 3/4, x / y"]) == ["ratio 3/4, x / y"]
    assert _causes.pathless([r"C:\\Users\\me\\x.py: warn"]) == ["<path>: warn"]
    # IPython wrapping a tuple elsewhere: the same text, other line breaks.
    one = ["text/plain: (a,", "text/plain:  b), c)"]
    two = ["text/plain: (a,", "text/plain:  b),", "text/plain:  c)"]
    assert _causes.flat(one) == _causes.flat(two) and one != two
    # NumPy wrapping a row elsewhere because a number got wider.
    assert _causes.only_numbers_differ(["stdout: [1.5 2.5", "stdout:  3.5]"],
                                       ["stdout: [1.5 2.5 3.25]"])
    assert not _causes.only_numbers_differ(one, two)


@pytest.mark.notebook_tooling
@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_progress_on_a_terminal_and_none_elsewhere(tmp_path, mode):
    import pty
    nb = write_notebook(tmp_path / "ok.ipynb", CELLS[:2])
    command = [sys.executable, "-m", "mxparams", "notebooks", "check", str(nb)]
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the follower's last holder exited
            break
        if not chunk:
            break
        shown += chunk
    table = process.communicate()[0].decode()
    os.close(leader)
    assert process.returncode == 0, shown
    text = shown.decode(errors="replace")
    # 2 cells x 2 configurations (the default profile twice).
    assert "mxparams: 1 notebook(s) under 2 configuration(s)" in text
    assert "cells run" in text and "4/4" in text, text
    assert "cells run" not in table and "all 2 cells reproduce" in table
    # Not a terminal: no progress at all.
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0 and "cells run" not in done.stderr
    assert "mxparams:" not in done.stderr


@pytest.mark.notebook_tooling
@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_a_relative_python_works_from_any_folder(tmp_path, mode):
    write_notebook(tmp_path / "ok.ipynb", CELLS[:2])
    relative = os.path.relpath(sys.executable, tmp_path)
    done = subprocess.run([sys.executable, "-m", "mxparams", "notebooks", "check",
                           "ok.ipynb", "--python", relative],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("args, message", [
    (["nothere.ipynb"], "no such notebook or folder"),
    (["{nb}", "--cpu", "avx3"], "unknown CPU profile 'avx3'"),
    (["{nb}", "--python", "/bin/false"], "cannot import MXNet"),
    (["{bad}"], "is not a readable notebook"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    nb = write_notebook(tmp_path / "ok.ipynb", CELLS[:2])
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json")
    args = [a.format(nb=nb, bad=bad) for a in args]
    done = subprocess.run([sys.executable, "-m", "mxparams", "notebooks", "check",
                           *args], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and message in done.stderr


@pytest.mark.notebook_tooling
@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_a_notebook_that_holds_exits_0(tmp_path, mode):
    nb = write_notebook(tmp_path / "ok.ipynb", CELLS[:2])
    done = subprocess.run([sys.executable, "-m", "mxparams", "notebooks", "check",
                           str(nb), "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert all(r["status"] == "same" for c in data["notebooks"][0]["cells"]
               for r in c["results"].values())


def borrowed_environment(home, version):
    """An environment for ``--mxnet version`` in ``home`` that borrows the
    packages of the one under test (the matrix made it already)."""
    from mxparams.notebooks import _envs
    folder = home / f"mxnet-{version}-py{sys.version_info[0]}{sys.version_info[1]}"
    (folder / "bin").mkdir(parents=True)
    source = Path(sys.prefix)
    shutil.copy(source / "pyvenv.cfg", folder / "pyvenv.cfg")
    os.symlink(source / "lib", folder / "lib")
    os.symlink(os.path.realpath(sys.executable), folder / "bin" / "python")
    stamp = {"packages": _envs.wanted(version), "python": sys.version.split()[0]}
    (folder / "mxparams-env.json").write_text(json.dumps(stamp))
    return folder


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_mxnet_version_uses_its_cached_environment(tmp_path, monkeypatch, mode):
    from importlib.metadata import version
    mxnet = version("mxnet")
    folder = borrowed_environment(tmp_path / "envs", mxnet)
    monkeypatch.setenv("MXPARAMS_ENVS", str(tmp_path / "envs"))
    nb = write_notebook(tmp_path / "ok.ipynb", CELLS[:2])
    told = []
    report = check([nb], mxnet=[mxnet], progress=told.append)
    assert report.configurations == [f"{mxnet}/default", f"{mxnet}/default#2"]
    assert not report and not any("making" in t for t in told)
    assert (folder / "mxparams-env.json").exists()


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_mxnet_version_makes_its_environment_once(tmp_path, monkeypatch, mode):
    # A real environment, made by pip (from its cache: the matrix installed
    # the same wheels).  Then the second check reuses it.
    from importlib.metadata import version
    mxnet = version("mxnet")
    monkeypatch.setenv("MXPARAMS_ENVS", str(tmp_path / "envs"))
    nb = write_notebook(tmp_path / "ok.ipynb", CELLS[:2])
    told = []
    assert not check([nb], mxnet=[mxnet], progress=told.append)
    assert any(t.startswith(f"making the environment for MXNet {mxnet}") for t in told)
    told.clear()
    assert not check([nb], mxnet=[mxnet], progress=told.append)
    assert not any("making" in t for t in told)


def test_an_unknown_mxnet_version_is_bad_input(tmp_path):
    nb = write_notebook(tmp_path / "ok.ipynb", CELLS[:2])
    done = subprocess.run([sys.executable, "-m", "mxparams", "notebooks", "check",
                           str(nb), "--mxnet", "1.2.3"], capture_output=True, text=True)
    assert done.returncode == 2
    assert ("mxparams knows the MXNet versions 1.6.0, 1.7.0.post2, 1.8.0.post0, "
            "1.9.1, 2.0.0b1") in done.stderr


MARKERS = [
    (SETUP, None, None),
    # Metadata tags, as nbval reads them (set below).
    ("import random\nprint(random.random())", "0.5\n", None),      # nbval-ignore-output
    ("raise ValueError('the lesson')", None, None),                 # raises-exception
    ("raise RuntimeError('never run')", None, None),                # nbval-skip
    # Comments.
    ("# NBVAL_RAISES_EXCEPTION\n1 / 0", None, None),
    ("print(id(object()))", "140000000000000\n", None),             # sanitized
    ("print('stored on another machine')", "stored here\n", "other"),
]
TAGS = {1: ["nbval-ignore-output"], 2: ["raises-exception"], 3: ["nbval-skip"]}


@pytest.mark.notebook_tooling
@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_markers_tags_and_sanitizing_as_nbval(tmp_path, mode):
    nb_path = write_notebook(tmp_path / "markers.ipynb", MARKERS)
    nb = nbformat.read(str(nb_path), as_version=4)
    for index, tags in TAGS.items():
        nb.cells[index].metadata["tags"] = tags
    nb.cells[2].outputs = [new_output("error", ename="ValueError", evalue="the lesson",
                                      traceback=[])]
    nb.cells[4].outputs = [new_output("error", ename="ZeroDivisionError",
                                      evalue="division by zero", traceback=[])]
    nbformat.write(nb, str(nb_path))
    sanitize = tmp_path / "sanitize.cfg"
    sanitize.write_text("[ids]\nregex: \\d{12,}\nreplace: ID\n")
    report = check([nb_path], sanitize=str(sanitize))
    drifting = [cell for _, cell, _ in report.drifting()]
    assert drifting == ["Cell 6"]
    assert nbval_failures(nb_path, ["--nbval-sanitize-with", str(sanitize)]) == drifting
    # Without the sanitize file, nbval and the check both fail the id cell.
    plain = check([nb_path])
    assert [cell for _, cell, _ in plain.drifting()] == nbval_failures(nb_path) \
        == ["Cell 5", "Cell 6"]


@pytest.mark.notebook_tooling
@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_a_cell_that_hangs_is_reported_and_the_run_goes_on(tmp_path, mode):
    cells = [(SETUP, None, None), ("import time\ntime.sleep(60)", None, None),
             ("print('after')", "after\n", None)]
    nb = write_notebook(tmp_path / "hang.ipynb", cells)
    report = check([nb], timeout=3)
    cells_ = dict(report.notebooks[0][1])
    first = report.configurations[0]
    assert cells_["Cell 1"][first].status == "error"
    assert "Timeout" in cells_["Cell 1"][first].first_difference
    assert cells_["Cell 2"][first].status in ("same", "error")  # nbval xfails it


@pytest.mark.notebook_tooling
@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_store_then_check_passes_where_cells_agree(tmp_path, mode):
    from mxparams.notebooks import store
    agreeing = [c for c in CELLS if c[2] != "float-digits"]
    agreeing[3] = ("import random", None, None)  # was the unseeded print
    nb_path = write_notebook(tmp_path / "agree.ipynb", agreeing)
    before = nbformat.read(str(nb_path), as_version=4)
    before.metadata["authors"] = [{"name": "a reader"}]
    nbformat.write(before, str(nb_path))
    os.chmod(nb_path, 0o644)
    assert check([nb_path], cpus=["sse41"])  # the auto-name cell's stored output
    report = store([nb_path], cpus=["sse41"])
    assert not report and report.stored == [str(nb_path)]
    after = nbformat.read(str(nb_path), as_version=4)
    assert after.metadata == before.metadata
    assert [c.get("id") for c in after.cells] == [c.get("id") for c in before.cells]
    assert after.cells[5].outputs == before.cells[5].outputs  # NBVAL_SKIP: kept
    assert os.stat(nb_path).st_mode & 0o777 == 0o644
    assert not check([nb_path], cpus=["sse41"])
    assert nbval_failures(nb_path) == []


@pytest.mark.notebook_tooling
@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_store_changes_nothing_when_a_cell_disagrees(tmp_path, mode):
    from mxparams.notebooks import store
    nb_path = write_notebook(tmp_path / "random.ipynb", [CELLS[0], CELLS[4]])
    data = nb_path.read_bytes()
    report = store([nb_path])
    assert report and report.stored == []
    assert nb_path.read_bytes() == data
    [(_, cell, results)] = report.refused.drifting()
    assert cell == "Cell 1"
    assert {r.cause for r in results.values() if r.status == "differs"} == {
        "nondeterministic"}
    assert "nondeterministic" in str(report)
