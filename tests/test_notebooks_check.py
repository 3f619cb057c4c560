"""``mxparams notebooks check`` (issue 24, first part): nbval's verdict under
each configuration, and the cause of each difference.

A notebook written here has one cell per cause, with stored outputs made
to drift the way real notebooks do.  It runs in the environment under
test (and, for the cross-version test, the other versions' too) under
the default profile twice and the simulated CPU ``sse41``.
"""
import json
import os
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from mxparams.notebooks import PROFILES, _causes, check
from mxparams.notebooks.check import in_effect

SETUP = ("import mxnet as mx\nfrom mxnet import np, npx\nfrom mxnet.gluon import nn\n"
         "npx.set_np()")
# (source, stored stdout or None, the cause it is made for)
CELLS = [
    (SETUP, None, None),
    ("print(1 + 1)", "2\n", None),
    # A float32 matrix product, printed whole; stored from "another CPU".
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


def nbval_failures(notebook, env=None):
    """The cells ``pytest --nbval`` itself fails, as 'Cell N'."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", os.devnull, "-p", "no:cacheprovider",
         "--nbval", "--nbval-current-env", "-q", "-rf", str(notebook)],
        capture_output=True, text=True, cwd=notebook.parent,
        env={**os.environ, **(env or {})})
    return sorted(line.split("::")[1].split(" - ")[0].strip()
                  for line in done.stdout.splitlines()
                  if line.startswith("FAILED") and "::" in line)


@pytest.fixture(scope="module")
def drift(tmp_path_factory):
    folder = tmp_path_factory.mktemp("drift")
    notebook = write_notebook(folder / "drift.ipynb")
    return notebook, check([notebook], cpus=["sse41"])


@pytest.mark.parametrize("mode", ["np"], indirect=True)  # the kernel's own mode
def test_each_cause_is_named_under_every_configuration(drift, mode):
    notebook, report = drift
    assert bool(report)
    version = report.configurations[0].partition("/")[0]
    assert report.configurations[:2] == [f"{version}/default", f"{version}/default#2"]
    cells = dict(report.notebooks[0][1])
    assert list(cells) == [f"Cell {i}" for i in range(len(CELLS))]
    for i, (_, _, cause) in enumerate(CELLS):
        for label, result in cells[f"Cell {i}"].items():
            if result.status == "not-in-effect":
                continue
            if cause is None:
                assert result.status == "same", (i, label, result)
            else:
                assert (result.status, result.cause) == ("differs", cause), (i, label)
    digits = cells["Cell 2"][f"{version}/default"].stable_digits
    assert digits is not None and 1 <= digits < 9
    first = cells["Cell 3"][f"{version}/default"].first_difference
    assert first.startswith("stdout: ['dense4_weight', 'dense4_bias'] -> ")


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_the_verdict_is_nbvals_own(drift, mode):
    notebook, report = drift
    ours = sorted(cell for cell, results in report.notebooks[0][1]
                  if results[report.configurations[0]].status != "same")
    assert ours == nbval_failures(notebook)


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_the_table_and_the_json(drift, mode):
    _, report = drift
    text = str(report)
    assert "Cell 3  auto-name" in text and "structural paths" in text
    data = json.loads(json.dumps(report.to_dict()))
    assert set(data) == {"configurations", "notebooks"}
    cell = data["notebooks"][0]["cells"][2]
    assert cell["id"] == "Cell 2"
    result = cell["results"][data["configurations"][0]]
    assert set(result) == {"status", "cause", "stable_digits", "first_difference"}
    assert result["status"] == "differs" and result["cause"] == "float-digits"


@pytest.mark.cross_version
@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_version_api_across_versions(tmp_path, mode):
    others = [p.partition("=")[2] for p in
              os.environ["MXPARAMS_PYTHONS"].split(os.pathsep) if p]
    cells = [(SETUP, None, None),
             ("print(type(nn.Dense(2).collect_params()).__name__)", None, None),
             ("x = nn.Dense(2, prefix='old_')\nprint('made')", "made\n", None),
             ("print(x.prefix)", "old_\n", None)]
    notebook = write_notebook(tmp_path / "versions.ipynb", cells)
    report = check([notebook], pythons=[sys.executable, *others])
    cells_ = dict(report.notebooks[0][1])
    for label in report.configurations:
        ok = cells_["Cell 2"][label].status == "same"
        # Gluon 2 has no prefix=: the cell raises, and the next one fails
        # because of it; both are the versions' difference.
        if not ok:
            assert cells_["Cell 2"][label].status == "error"
            assert cells_["Cell 2"][label].cause == "version-api"
            assert cells_["Cell 3"][label].cause == "version-api"


def test_a_profile_that_changes_nothing_is_not_in_effect():
    default = {"isa": "Intel AVX2", "onednn_ran": True, "openblas_core": "Haswell"}
    assert in_effect(PROFILES["avx2"], dict(default), default).startswith(
        "DNNL_MAX_CPU_ISA=AVX2 changes nothing")
    sse = {"isa": "Intel SSE4.1", "onednn_ran": True, "openblas_core": "Nehalem"}
    assert in_effect(PROFILES["sse41"], sse, default) == ""
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


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_a_notebook_that_holds_exits_0(tmp_path, mode):
    nb = write_notebook(tmp_path / "ok.ipynb", CELLS[:2])
    done = subprocess.run([sys.executable, "-m", "mxparams", "notebooks", "check",
                           str(nb), "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert all(r["status"] == "same" for c in data["notebooks"][0]["cells"]
               for r in c["results"].values())
