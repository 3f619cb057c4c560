"""``pytest --nbval --mx-cpu NAME`` (mxparams_pytest, mxparams.notebooks.
pytest_plugin) and ``mxparams notebooks check --html``.

Each test runs pytest in a subprocess, as a project that uses nbval would,
on tests/notebook_drift/float-digits.ipynb: a float32 sum stored "from
another CPU" (it fails strict nbval under every profile, on every host).

The simulated CPUs do not act everywhere (on MXNet 1.6.0 neither sse41 nor
avx2 changes a kernel: no oneDNN, an OpenBLAS that ignores
OPENBLAS_CORETYPE), so each test takes the plugin's own verdict from the
probe: a failing cell is provoked under sse41 where it is in effect and
under 1-thread (in effect everywhere) elsewhere.
"""
import html.parser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

DRIFT = Path(__file__).parent / "notebook_drift" / "float-digits.ipynb"


def pytest_run(folder, *args):
    """pytest in ``folder`` with only the given options (none of this
    project's), the way a user's project runs it."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-c", os.devnull, "--rootdir", str(folder),
         "-p", "no:cacheprovider", "-rA", "-q", "--nbval-current-env", *args],
        capture_output=True, text=True, cwd=folder)


@pytest.fixture(scope="module")
def not_in_effect():
    """profile -> '' when in effect for this Python here, else why not:
    what the plugin's probe finds."""
    from mxparams.notebooks import _run
    from mxparams.notebooks.check import in_effect
    from mxparams.notebooks.profiles import parse_profile
    probes = {}

    def why(name):
        profile = parse_profile(name)
        for key, env in (("default", {}), (name, profile.env)):
            if key not in probes:
                probes[key] = _run.probe(sys.executable, env)
        return in_effect(profile, probes[name], probes["default"])
    return why


@pytest.fixture(scope="module")
def profile(not_in_effect):
    """The simulated CPU the drift tests run under, and its description."""
    from mxparams.notebooks.profiles import PROFILES
    name = "sse41" if not not_in_effect("sse41") else "1-thread"
    env = " ".join(f"{k}={v}" for k, v in PROFILES[name].env.items())
    return name, env


@pytest.fixture()
def notebook(tmp_path):
    shutil.copy(DRIFT, tmp_path)
    return tmp_path / DRIFT.name


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_mx_cpu_fails_the_float_cell_with_its_cause(notebook, profile, mode):
    name, env = profile
    done = pytest_run(notebook.parent, "--nbval", "--mx-cpu", name, notebook.name)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert f"FAILED float-digits.ipynb::Cell 2[{name}]" in out
    assert f"PASSED float-digits.ipynb::Cell 1[{name}]" in out
    assert f"_ Cell 2[{name}] _" in out  # the failure's title
    # nbval's own diff, then the cause and the suggestion.
    assert "65536.123456789" in out
    assert (f"mxparams: under the simulated CPU {name} ({env}) this cell differs: "
            "cause float-digits (") in out
    assert "round to the stable digits" in out
    assert "1 failed, 2 passed" in out


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_mx_cpu_passes_with_nbval_lax(notebook, profile, mode):
    name, _ = profile
    done = pytest_run(notebook.parent, "--nbval-lax", "--mx-cpu", name, notebook.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"PASSED float-digits.ipynb::Cell 2[{name}]" in done.stdout
    assert "3 passed" in done.stdout


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_each_profile_runs_the_notebook_once_in_its_own_kernel(tmp_path, mode):
    # The kernel has the profile's variables, and pytest's own process
    # keeps its environment.  (Profiles of switches that act everywhere:
    # the plugin would skip one not in effect, and say so.)
    nb = nbformat.v4.new_notebook()
    cell = new_code_cell("import os\nprint(os.environ.get('MXPARAMS_TEST_SWITCH'), "
                         "os.environ.get('OMP_NUM_THREADS'))", execution_count=1)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                           text="on None\n")]
    nb.cells.append(cell)
    nbformat.write(nb, str(tmp_path / "env.ipynb"))
    (tmp_path / "test_after.py").write_text(
        "import os\n\ndef test_the_environment_is_as_it_was():\n"
        "    assert 'MXPARAMS_TEST_SWITCH' not in os.environ\n")
    done = pytest_run(tmp_path, "--nbval", "--mx-cpu", "on=MXPARAMS_TEST_SWITCH=on",
                      "--mx-cpu", "1-thread", "env.ipynb", "test_after.py")
    out = done.stdout
    assert "PASSED env.ipynb::Cell 0[on]" in out
    assert "FAILED env.ipynb::Cell 0[1-thread]" in out  # prints 'None 1'
    assert "PASSED test_after.py::test_the_environment_is_as_it_was" in out


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_the_sanitize_file_and_markers_still_apply(tmp_path, mode):
    nb = nbformat.v4.new_notebook()
    ids = new_code_cell("print(id(object()))", execution_count=1)
    ids.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                          text="140000000000000\n")]
    skipped = new_code_cell("# NBVAL_SKIP\nraise RuntimeError", execution_count=2)
    nb.cells += [ids, skipped]
    nbformat.write(nb, str(tmp_path / "ids.ipynb"))
    (tmp_path / "sanitize.cfg").write_text("[ids]\nregex: \\d{12,}\nreplace: ID\n")
    done = pytest_run(tmp_path, "--nbval", "--mx-cpu", "1-thread",
                      "--nbval-sanitize-with", "sanitize.cfg", "ids.ipynb")
    assert done.returncode == 0, done.stdout
    assert "PASSED ids.ipynb::Cell 0[1-thread]" in done.stdout
    assert "SKIPPED" in done.stdout


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_a_profile_not_in_effect_is_skipped_with_the_reason(notebook, not_in_effect,
                                                           mode):
    # DNNL_MAX_CPU_ISA=ALL is oneDNN's own "no limit": on any host it
    # changes nothing ("changes nothing" where oneDNN runs, "oneDNN runs no
    # primitive here" on an MXNet without it), so the cells are not run
    # under it, and say why.
    spec = "nolimit=DNNL_MAX_CPU_ISA=ALL"
    why = not_in_effect(spec)
    assert "DNNL_MAX_CPU_ISA=ALL changes nothing" in why or \
        why == "oneDNN runs no primitive here"
    done = pytest_run(notebook.parent, "--nbval", "--mx-cpu", spec, notebook.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 skipped" in done.stdout
    assert "profile nolimit not in effect on this host/MXNet" in done.stdout
    assert why in done.stdout


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_without_mx_cpu_the_plugin_does_nothing(tmp_path, mode):
    # Not even an import of mxparams (and so of MXNet) at pytest's start.
    (tmp_path / "test_plain.py").write_text(
        "import sys\n\ndef test_nothing_imported():\n"
        "    assert 'mxparams' not in sys.modules and 'mxnet' not in sys.modules\n")
    done = pytest_run(tmp_path, "test_plain.py")
    assert done.returncode == 0, done.stdout + done.stderr
    shutil.copy(DRIFT, tmp_path)
    plain = pytest_run(tmp_path, "--nbval", DRIFT.name)
    assert "FAILED float-digits.ipynb::Cell 2 - " in plain.stdout
    assert "[default]" not in plain.stdout and "mxparams:" not in plain.stdout


@pytest.mark.parametrize("args, message", [
    (["--nbval", "--mx-cpu", "avx3"],
     "--mx-cpu: unknown CPU profile 'avx3' (did you mean 'avx2'?)"),
    (["--mx-cpu", "sse41"], "--mx-cpu runs nbval's notebooks under simulated CPUs: "
                            "add --nbval"),
])
@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_bad_mx_cpu_is_a_usage_error(notebook, args, message, mode):
    done = pytest_run(notebook.parent, *args, notebook.name)
    assert done.returncode == 4  # pytest's usage error
    assert message in done.stderr


class _Structure(html.parser.HTMLParser):
    """Tags, classes and every URL-bearing attribute of a page."""

    def __init__(self):
        super().__init__()
        self.tags, self.classes, self.urls, self.open = [], set(), [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name == "class":
                self.classes.update((value or "").split())
            if name in ("src", "href", "srcset", "action"):
                self.urls.append(value)
        if tag not in ("meta", "link", "br", "img", "input"):
            self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, (tag, self.open[-3:])
        self.open.pop()


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_the_html_report(notebook, profile, mode, tmp_path):
    report = tmp_path / "report.html"
    done = subprocess.run([sys.executable, "-m", "mxparams", "notebooks", "check",
                           str(notebook), "--cpu", profile[0], "--html", str(report)],
                          capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    page = report.read_text(encoding="utf-8")
    parser = _Structure()
    parser.feed(page)
    parser.close()
    assert parser.open == []                      # every element closed
    assert "script" not in parser.tags and parser.urls == []   # self-contained
    assert "http" not in page.replace("http-equiv", "")
    assert {"mxparams", "cell", "output", "stored", "differs", "new",
            "suggestion"} <= parser.classes
    assert page.count('<section class="cell"') == 1           # Cell 2 only
    assert '<h3>Cell 2 <span class="cause">float-digits</span></h3>' in page
    assert "<pre>stdout: 65536.123456789</pre>" in page
    assert "significant digits agree everywhere" in page
    version = done.stdout.split("Configurations")[1].split()[0].partition("/")[0]
    assert f"{version}/{profile[0]}" in page
    # The summary is the check's own table.
    assert page.count('<table class="mxparams">') == 1
    assert "Cell 2" in page.split("</table>")[0]


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_html_into_a_missing_folder_is_bad_input(notebook, tmp_path, mode):
    done = subprocess.run([sys.executable, "-m", "mxparams", "notebooks", "check",
                           str(notebook), "--html", str(tmp_path / "no" / "r.html")],
                          capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == ""
    assert "no such folder to write it in" in done.stderr
