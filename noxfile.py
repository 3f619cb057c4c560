"""The test matrix of mxparams: each MXNet version in its own environment.

    nox                          # the whole suite on MXNet 1.9.1 and 2.0.0b1
    nox -s "tests(2.0.0b1)"      # one version
    nox -s tests -- -k summary   # arguments after -- go to pytest

``python3 tasks.py test`` runs exactly these sessions (it installs nox
first on a machine that has only python3).  Each session installs its
MXNet and everything else at the versions pinned in ci/constraints.txt,
with mxparams in editable mode, one environment after the other under
.nox/, then runs pytest twice over:

* the whole suite, in the environment nox was started in;
* the tests marked ``cpu_matrix`` (notebooks, goldens, doctests, printed
  command-line output: everything that compares printed numbers) again
  under each simulated CPU of SIMULATED_CPUS, so that an output that holds
  only on this machine's CPU fails here and not on someone else's
  (docs/portable-outputs.md).

Every run must pass, a run that selects no test fails (pytest's exit 5),
and the cross-version tests find the other versions' environments through
MXPARAMS_PYTHONS; ``MXPARAMS_CPUS`` (comma-separated names, ``default``
for the environment as started) restricts the runs while you work.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import nox

nox.needs_version = ">=2025.5.1"
nox.options.sessions = ["tests"]
# A version whose environment cannot be made fails; it is never skipped.
nox.options.error_on_missing_interpreters = True
nox.options.error_on_external_run = True

ROOT = Path(__file__).resolve().parent
#: The one Python the pinned dependencies (ipython 9, matplotlib 3.10) and
#: this machine support.
PYTHON = "3.11"
#: The MXNet versions: 1.9.1 and the 2.0 beta (pinned exactly: a range
#: would admit other pre-releases).
MXNET = ("1.9.1", "2.0.0b1")

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
#: pytest marker of the tests run under every simulated CPU (conftest.py).
MATRIX_MARK = "cpu_matrix"


def env_python(version: str) -> Path:
    """The Python of MXNet ``version``'s environment (nox names it)."""
    return ROOT / ".nox" / f"tests-{version.replace('.', '-')}" / "bin" / "python"


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


@nox.session(python=PYTHON)
@nox.parametrize("mxnet", MXNET, ids=MXNET)
def tests(session: nox.Session, mxnet: str) -> None:
    """The whole suite on one MXNet version, then the printed-output tests
    under every simulated CPU."""
    session.install("-c", "ci/constraints.txt", f"mxnet=={mxnet}",
                    "-e", ".[test]")
    # The cross-version tests run every other version whose environment
    # exists: `tasks.py test` makes them all before the first session; a
    # bare `nox` makes them one after the other, so its first session
    # deselects those tests (with a notice) and the last one runs them,
    # both directions.
    made = [v for v in MXNET if env_python(v).is_file()]
    env = {"MXPARAMS_EXPECT_MXNET": mxnet, "PYTHONDONTWRITEBYTECODE": "1",
           "MXPARAMS_PYTHONS": os.pathsep.join(f"{v}={env_python(v)}"
                                               for v in made if v != mxnet)}
    chosen = os.environ.get("MXPARAMS_CPUS", "")
    cpus = ["default", *SIMULATED_CPUS]
    if chosen:
        cpus = [c for c in cpus if c in chosen.split(",")]
    failed, took = [], {}
    for cpu in cpus:
        matrix = cpu != "default"
        session.log(f"MXNet {mxnet}, " + ("the environment as started" if not matrix
                    else f"simulated CPU {cpu}: the {MATRIX_MARK} tests"))
        started = time.monotonic()
        try:
            session.run("pytest", *(matrix_args(session.posargs) if matrix
                                    else session.posargs),
                        env={**env, "MXPARAMS_CPU": cpu,
                             **SIMULATED_CPUS.get(cpu, {})})
        except nox.command.CommandFailed:  # go on: report every run
            failed.append(cpu)
        took[cpu] = time.monotonic() - started
    session.log("; ".join(f"{cpu} {secs:.0f} s" for cpu, secs in took.items()))
    if failed:
        session.error(f"MXNet {mxnet}: pytest failed in {', '.join(failed)} "
                      "(a run that selects no test fails too)")
