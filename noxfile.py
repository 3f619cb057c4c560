"""Every task of mxparams as a nox session; ``python3 tasks.py`` calls them.

    nox                              # = nox -s tests: the whole suite on every MXNet version
    nox -s "tests(2.0.0b1)"          # one version (every version's environment is made first)
    nox -s tests -- -k summary       # arguments after -- go to pytest
    nox -s demo                      # the main job (README)
    nox -s lint typecheck docs       # the gates: ruff, mypy, the documentation site
    nox -s bench | notebooks -- --store | lab | browser-check

The version matrix: one environment per MXNet version, made by the session
``env(<version>)`` under .nox/env-<version>/, with MXNet and everything
else at the versions pinned in ci/constraints.txt and mxparams in editable
mode.  An environment is reused as long as the project's metadata in
pyproject.toml ([build-system], [project]) and ci/constraints.txt stay as
they were when it was made (a stamp in the environment), and made anew
from scratch when they change.  Every session
that runs MXNet ``requires`` every ``env`` session: nox makes (or reuses)
all of them before the first test runs, whatever order the sessions are
named in, so the cross-version tests always find every other version's
Python (MXPARAMS_PYTHONS).  A version whose environment cannot be made
fails the run; nothing is skipped.

Before the first test, the session ``checkpoint-sets`` has every version
write one set of checkpoint files (tests/checkpoint_sets.py), which every
version's run loads.  ``tests(<version>)`` runs pytest in that version's
environment:

* the whole suite, in the environment as started;
* on the versions of CPU_MATRIX_MXNET (1.9.1, 2.0.0b1), the tests marked
  ``cpu_matrix`` (notebooks, goldens, doctests, printed command-line
  output: everything that compares printed numbers) again under each
  simulated CPU of SIMULATED_CPUS, so that an output that holds only on
  this machine's CPU fails here and not on someone else's
  (docs/portable-outputs.md).  The older versions run the whole suite
  once, in numpy mode, without the tests marked ``simulated_cpus`` or
  ``notebook_tooling`` (conftest.py).

Every run must pass, and a run that selects no test fails (pytest's exit
5).  ``MXPARAMS_CPUS`` (comma-separated names, ``default`` for the
environment as started) restricts the runs while you work;
``MXPARAMS_MXNET`` (comma-separated versions) restricts ``demo`` and
``bench``.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "ci"))
import jupyter  # noqa: E402  (ci/jupyter.py: kernels and the lab command, stdlib only)

nox.needs_version = ">=2025.5.1"
nox.options.sessions = ["tests", "chapter"]
# A version whose environment cannot be made fails; it is never skipped.
nox.options.error_on_missing_interpreters = True
nox.options.error_on_external_run = True

#: The one Python the pinned dependencies (ipython 9, matplotlib 3.10) and
#: this machine support.
PYTHON = "3.11"
#: The MXNet versions: the 1.x releases people still run (1.6 to 1.8 are
#: what cloud framework containers pinned for years), 1.9.1 and the 2.0
#: beta, each pinned exactly (a range would admit other pre-releases).
MXNET = ("1.6.0", "1.7.0.post2", "1.8.0.post0", "1.9.1", "2.0.0b1")
#: The versions whose printed-output tests run again under every simulated
#: CPU, and whose tests run in both array modes on 1.x.  The older ones run
#: the whole suite once, in the environment as started and in numpy mode
#: (the tutorial's), without the tests of the notebook check's own
#: mechanics, to keep CI within its budget (README): the outputs are held
#: to the same goldens on all five, and on 1.6.0 no simulated
#: CPU would be in effect (no oneDNN in its wheel, an OpenBLAS that
#: ignores OPENBLAS_CORETYPE: docs/compatibility.md §14).
CPU_MATRIX_MXNET = ("1.9.1", "2.0.0b1")
#: Every version's environment: what the sessions that run MXNet require.
ENVS = [f"env({v})" for v in MXNET]

#: Other CPUs, imitated on this one through the libraries' own switches.
#: Each was chosen because, before the outputs were made portable, it
#: changed printed numbers that this machine's default kernels did not.
SIMULATED_CPUS = {
    # A CPU without AVX (Intel Nehalem, 2008): oneDNN's SSE4.1 kernels and
    # OpenBLAS's Nehalem kernels.
    "sse41": {"DNNL_MAX_CPU_ISA": "SSE41", "OPENBLAS_CORETYPE": "Nehalem"},
    # An MXNet without oneDNN (MXNet's own kernels and OpenBLAS), on one
    # thread; both versions then log "Storage type fallback detected".
    "no-onednn": {"MXNET_MKLDNN_ENABLED": "0", "MXNET_ONEDNN_ENABLED": "0",
                  "OMP_NUM_THREADS": "1"},
}
CPUS = ("default", *SIMULATED_CPUS)
#: pytest marker of the tests run under every simulated CPU (conftest.py).
MATRIX_MARK = "cpu_matrix"

NOTEBOOKS = jupyter.NOTEBOOKS
EXECUTED = ROOT / "build" / "notebooks"
#: What ruff checks (nox -s lint -- PATHS to check others).
LINT_PATHS = ("mxparams", "mxparams_pytest.py", "tests", "benchmarks", "ci",
              "conftest.py", "noxfile.py", "tasks.py")

env_python = jupyter.env_python


# --- environments ----------------------------------------------------------

def _digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()


def project_metadata() -> str:
    """What an environment's install depends on in pyproject.toml: the
    [build-system] and [project] tables (not the tools' settings)."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return json.dumps({k: data.get(k) for k in ("build-system", "project")},
                      sort_keys=True)


def prepared(session: nox.Session, stamp: str, install) -> None:
    """Run ``install(session)`` unless this environment was made with the
    same ``stamp`` (a digest of what it is made from).  A reused environment
    whose stamp differs is made again from scratch first, so nothing of the
    old pins is left behind; the stamp is written only once ``install``
    succeeded."""
    venv = session.virtualenv
    path = Path(venv.location) / ".mxparams-stamp"
    if path.is_file() and path.read_text() == stamp:
        session.log(f"reusing {Path(venv.location).relative_to(ROOT)} "
                    "(its inputs are unchanged)")
        return
    if path.exists() or getattr(venv, "_reused", False):
        session.log("its inputs changed: making the environment again")
        venv.reuse_existing = False
        venv.create()
    install(session)
    path.write_text(stamp)


@nox.session(python=PYTHON, reuse_venv=True, default=False)
@nox.parametrize("mxnet", MXNET, ids=MXNET)
def env(session: nox.Session, mxnet: str) -> None:
    """Make (or reuse) MXNet ``mxnet``'s environment and its Jupyter kernel."""
    def install(session: nox.Session) -> None:
        session.install("-c", "ci/constraints.txt", f"mxnet=={mxnet}",
                        "-e", ".[test]")
        # matplotlib builds its font cache on first import and says so on
        # stderr, which would become a notebook's output; build it now.
        session.run("python", "-c", "import matplotlib.font_manager")

    prepared(session, _digest(PYTHON, mxnet, project_metadata(),
                              (ROOT / "ci" / "constraints.txt").read_bytes()), install)
    jupyter.write_kernelspec(mxnet)


def env_vars(version: str, cpu: str = "default") -> dict[str, str]:
    """The environment variables of a run in ``version``'s environment, on a
    simulated CPU if asked (as if the environment were activated)."""
    bin_dir = env_python(version).parent
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "VIRTUAL_ENV": str(bin_dir.parent), "MXPARAMS_EXPECT_MXNET": version,
            "MXPARAMS_CPU": cpu, "PYTHONDONTWRITEBYTECODE": "1",
            **SIMULATED_CPUS.get(cpu, {})}


def run_in(session: nox.Session, version: str, *args: str, cpu: str = "default",
           **kw):
    """Run ``version``'s Python with ``args`` (through nox: logged, and a
    failure fails the session)."""
    return session.run(str(env_python(version)), *args, external=True,
                       env={**env_vars(version, cpu), **kw.pop("env", {})}, **kw)


def capture(version: str, *args: str, cpu: str = "default") -> subprocess.CompletedProcess:
    """Run ``version``'s Python with ``args``; stdout and stderr kept apart."""
    return subprocess.run([str(env_python(version)), *args], cwd=ROOT,
                          env={**os.environ, **env_vars(version, cpu)},
                          capture_output=True, text=True)


def chosen_versions() -> tuple[str, ...]:
    """MXNET, or the versions MXPARAMS_MXNET names (tasks.py --mxnet)."""
    names = [v for v in os.environ.get("MXPARAMS_MXNET", "").split(",") if v]
    unknown = set(names) - set(MXNET)
    if unknown:
        raise SystemExit(f"MXPARAMS_MXNET: unknown version(s) {sorted(unknown)}")
    return tuple(v for v in MXNET if v in names) or MXNET


# --- the test suite ----------------------------------------------------------

def matrix_args(posargs: list[str]) -> list[str]:
    """pytest arguments of a simulated-CPU run: only the cpu_matrix tests.

    A ``-m`` expression of the caller narrows the selection further;
    ``--update-goldens`` is dropped, so goldens are written by the default
    run and then compared under every simulated CPU.
    """
    args = [a for a in posargs if a != "--update-goldens"]
    for i, arg in enumerate(args):
        if arg == "-m" and i + 1 < len(args):
            args[i + 1] = f"{MATRIX_MARK} and ({args[i + 1]})"
            return args
    return args + ["-m", MATRIX_MARK]


#: Where every version writes its checkpoint file set for the run.
CHECKPOINT_SETS = ROOT / "build" / "checkpoint-sets"


@nox.session(name="checkpoint-sets", venv_backend="none", requires=ENVS, default=False)
def checkpoint_sets(session: nox.Session) -> None:
    """Every version writes one checkpoint file set (tests/checkpoint_sets.py)
    into build/checkpoint-sets/, once per run; each version's ``tests``
    session then loads all of them."""
    if CHECKPOINT_SETS.exists():
        shutil.rmtree(CHECKPOINT_SETS)
    CHECKPOINT_SETS.mkdir(parents=True)
    for version in MXNET:
        run_in(session, version, str(ROOT / "tests" / "checkpoint_sets.py"),
               str(CHECKPOINT_SETS))


@nox.session(venv_backend="none", requires=[*ENVS, "checkpoint-sets"])
@nox.parametrize("mxnet", MXNET, ids=MXNET)
def tests(session: nox.Session, mxnet: str) -> None:
    """The whole suite on one MXNet version, then the printed-output tests
    under every simulated CPU."""
    # Every version's environment exists (requires=ENVS): the cross-version
    # tests run against each other one, and fail if one is missing.
    pythons = os.pathsep.join(f"{v}={env_python(v)}" for v in MXNET if v != mxnet)
    chosen = [c for c in os.environ.get("MXPARAMS_CPUS", "").split(",") if c]
    unknown = set(chosen) - set(CPUS)
    if unknown:
        session.error(f"MXPARAMS_CPUS: unknown CPU(s) {sorted(unknown)}; "
                      f"choose from {', '.join(CPUS)}")
    matrix_version = mxnet in CPU_MATRIX_MXNET
    cpus = [c for c in (CPUS if matrix_version else ("default",))
            if not chosen or c in chosen]
    if not cpus:
        session.skip(f"MXNet {mxnet} runs in the environment as started only "
                     f"(simulated CPUs: {', '.join(CPU_MATRIX_MXNET)})")
    failed, took = [], {}
    for cpu in cpus:
        matrix = cpu != "default"
        session.log(f"MXNet {mxnet}, " + ("the environment as started" if not matrix
                    else f"simulated CPU {cpu}: the {MATRIX_MARK} tests"))
        started = time.monotonic()
        try:
            run_in(session, mxnet, "-m", "pytest",
                   *(matrix_args(session.posargs) if matrix else session.posargs),
                   cpu=cpu, env={"MXPARAMS_PYTHONS": pythons,
                                 "MXPARAMS_CHECKPOINT_SETS": str(CHECKPOINT_SETS),
                                 "MXPARAMS_CPU_MATRIX": ",".join(CPU_MATRIX_MXNET),
                                 "MXPARAMS_MODES": "" if matrix_version else "np"})
        except nox.command.CommandFailed:  # go on: report every run
            failed.append(cpu)
        took[cpu] = time.monotonic() - started
    session.log("; ".join(f"{cpu} {secs:.0f} s" for cpu, secs in took.items()))
    if failed:
        session.error(f"MXNet {mxnet}: pytest failed in {', '.join(failed)} "
                      "(a run that selects no test fails too)")


# --- the main job, the notebooks, benchmarks --------------------------------

def execute_notebooks(session: nox.Session, version: str, out: Path,
                      paths: list[Path] | None = None) -> bool:
    paths = paths or sorted(NOTEBOOKS.glob("*.ipynb"))
    session.log(f"executing {len(paths)} notebooks on MXNet {version}")
    done = capture(version, str(ROOT / "ci" / "execute_notebooks.py"),
                   str(jupyter.KERNELS), jupyter.kernel_name(version), str(out),
                   *map(str, paths))
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
    return done.returncode == 0


def notebooks_command(session: nox.Session, action: str, folder: Path,
                      versions: Sequence[str], cpus: Sequence[str]) -> bool:
    """``mxparams notebooks check|store`` (the project's own product) on
    ``folder`` with every version's environment and the simulated CPUs
    ``cpus`` (names of SIMULATED_CPUS, which are profiles of the same
    names in mxparams.notebooks.profiles); its table is printed."""
    args = ["-m", "mxparams", "notebooks", action, str(folder)]
    for version in versions:
        args += ["--python", str(env_python(version))]
    for cpu in cpus:
        args += ["--cpu", cpu]
    done = capture(versions[0], *args)
    print(done.stdout, end="", flush=True)
    if done.returncode == 2:
        sys.stderr.write(done.stderr)
    session.log(f"  mxparams notebooks {action} on MXNet {', '.join(versions)}, "
                f"CPUs {', '.join(['default', *cpus])}: exit {done.returncode}")
    return done.returncode == 0


@nox.session(venv_backend="none", requires=ENVS, default=False)
def demo(session: nox.Session) -> None:
    """The main job: summary and tree of a model-zoo network on every MXNet
    version (the output must be identical), then the notebooks executed on
    each version into build/notebooks/ and checked with nbval.
    ``-- --model NAME`` picks another network."""
    args = list(session.posargs)
    model = "resnet18_v1"
    if "--model" in args:
        i = args.index("--model")
        model = args[i + 1]
        del args[i:i + 2]
    versions = chosen_versions()
    outputs = {}
    for version in versions:
        done = capture(version, "-m", "mxparams", "demo", model, *args)
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            session.error(f"demo FAILED on MXNet {version}")
        outputs[version] = done.stdout
    first = versions[0]
    print(outputs[first], end="", flush=True)
    same = len(set(outputs.values())) == 1
    session.log(f"printed by MXNet {first}; the output on {' and '.join(outputs)} is "
                + ("identical" if same else "DIFFERENT"))
    ok = True
    for version in versions:
        out = EXECUTED / f"mxnet-{version}"
        ok &= execute_notebooks(session, version, out)
        session.log(f"  executed copies in {out.relative_to(ROOT)}/")
    ok &= notebooks_command(session, "check", NOTEBOOKS, versions, [])
    session.log("to read them in JupyterLab: python3 tasks.py lab")
    if not (same and ok):
        session.error("the versions' outputs differ" if not same
                      else "executing or checking the notebooks failed")


@nox.session(venv_backend="none", requires=ENVS, default=False)
def notebooks(session: nox.Session) -> None:
    """Authors (``-- --store``): execute the notebooks and store the outputs
    if nbval finds exactly them on every version and every simulated CPU."""
    if session.posargs != ["--store"]:
        session.error("usage: nox -s notebooks -- --store "
                      "(python3 tasks.py notebooks --store)")
    # `mxparams notebooks store`: the outputs are written only where every
    # cell agrees on every version and CPU; otherwise nothing changes and
    # the table says which cells disagree and why.
    if not notebooks_command(session, "store", NOTEBOOKS, MXNET, list(SIMULATED_CPUS)):
        session.error("nothing stored for the notebooks listed: an output that "
                      "differs between versions or CPUs would fail somewhere else; "
                      "print what holds on every CPU (docs/portable-outputs.md)")
    session.log(f"stored the outputs in {NOTEBOOKS.relative_to(ROOT)}/: the same on "
                f"every version ({', '.join(MXNET)}) and CPU ({', '.join(CPUS)})")


@nox.session(venv_backend="none", requires=ENVS)
def chapter(session: nox.Session) -> None:
    """The chapter's stored outputs on the versions of CPU_MATRIX_MXNET under
    every simulated CPU, in one ``mxparams notebooks check`` (the project's
    own product; the ``tests`` sessions run the notebooks by nbval on every
    version, in the environment as started)."""
    if not notebooks_command(session, "check", NOTEBOOKS, CPU_MATRIX_MXNET,
                             list(SIMULATED_CPUS)):
        session.error("a stored output of the chapter does not hold everywhere "
                      "(the table above says which cell, where and why)")


@nox.session(venv_backend="none", requires=ENVS, default=False)
def bench(session: nox.Session) -> None:
    """Every benchmarks/bench_*.py on every MXNet version (not a test:
    figures, no assertion); arguments after -- go to each script."""
    failed = []
    for version in chosen_versions():
        session.log(f"benchmarks on MXNet {version}")
        for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
            try:
                run_in(session, version, str(script), *session.posargs)
            except nox.command.CommandFailed:
                failed.append(f"{script.name} on {version}")
    if failed:
        session.error(f"failed: {', '.join(failed)}")


# --- JupyterLab --------------------------------------------------------------

@nox.session(name="jupyter", python=PYTHON, reuse_venv=True, default=False)
def jupyter_env(session: nox.Session) -> None:
    """Make (or reuse) .nox/jupyter: JupyterLab and Selenium, pinned in
    ci/lab.txt."""
    prepared(session, _digest(PYTHON, (ROOT / "ci" / "lab.txt").read_bytes()),
             lambda s: s.install("-r", "ci/lab.txt"))


@nox.session(venv_backend="none", requires=[*ENVS, "jupyter"], default=False)
def lab(session: nox.Session) -> None:
    """The chapter in JupyterLab on notebooks/, MXNet 2.0's kernel by default
    (1.9.1's in the kernel menu); arguments after -- go to jupyter-lab."""
    argv, env_ = jupyter.lab_command(NOTEBOOKS, MXNET, list(session.posargs))
    session.log("starting JupyterLab on notebooks/ (kernel: MXNet "
                f"{jupyter.DEFAULT_KERNEL_VERSION}); it prints the URL to open "
                "below; Ctrl-C stops it")
    try:
        subprocess.run(argv, cwd=ROOT, env=env_, check=False)
    except KeyboardInterrupt:
        pass


@nox.session(name="browser-check", venv_backend="none",
             requires=[*ENVS, "jupyter"], default=False)
def browser_check(session: nox.Session) -> None:
    """CI: notebook 01 run in a real (headless) browser (ci/browser_check.py)."""
    session.run(str(jupyter.LAB_ENV / "bin" / "python"),
                str(ROOT / "ci" / "browser_check.py"), *session.posargs,
                external=True)


# --- gates -------------------------------------------------------------------

@nox.session(python=PYTHON, reuse_venv=True, default=False)
def lint(session: nox.Session) -> None:
    """ruff check (pyproject.toml [tool.ruff]); arguments after -- replace
    the paths (nox -s lint -- mxparams)."""
    session.install("-r", "ci/gates.txt")
    session.run("ruff", "check", *(session.posargs or LINT_PATHS))


@nox.session(python=PYTHON, reuse_venv=True, default=False)
def typecheck(session: nox.Session) -> None:
    """mypy on the package (pyproject.toml [tool.mypy])."""
    session.install("-r", "ci/gates.txt")
    session.run("mypy", *session.posargs)


@nox.session(python=PYTHON, reuse_venv=True, default=False)
def docs(session: nox.Session) -> None:
    """The documentation site (mkdocs.yml: docs/ and the API reference from
    the docstrings) into build/site, every warning an error."""
    session.install("-r", "ci/docs.txt")
    # Material's banner about its successor is not a warning of the build.
    session.run("mkdocs", "build", "--strict", "--site-dir", "build/site",
                *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})
