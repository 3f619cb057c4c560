"""Checks that apply to every test run: the right MXNet, numpy mode, no skips.

``python3 tasks.py test`` (noxfile.py) sets MXPARAMS_EXPECT_MXNET for each
environment; a run on any other MXNet fails at once instead of quietly
testing the wrong version.  A skipped test fails the run: every test must
run on both versions.

Plain ``pytest`` works in any one environment with mxparams[test] and one
MXNet: the tests marked ``cross_version``, which run another version's
Python, are then deselected with a notice that says how to run them.
noxfile.py gives them every version's Python in MXPARAMS_PYTHONS, and there
a missing one fails.

On the MXNet versions that run without simulated CPUs (noxfile.py
CPU_MATRIX_MXNET, given in MXPARAMS_CPU_MATRIX), the tests marked
``simulated_cpus`` (notebooks checked under every profile on several
versions at once) or ``notebook_tooling`` (the notebook check's own
process handling, which no MXNet version changes) are deselected, with a
notice; they run with the versions of the matrix.

The ``cpu_matrix`` marker selects what ``tasks.py test`` runs again under
every simulated CPU: every doctest and every test that uses the
``golden`` fixture get it here (the notebooks' simulated CPUs are the
session ``chapter``, one ``mxparams notebooks check``), so a new one lands in
the matrix by itself; other tests that compare printed output or follow
values through MXNet's kernels carry it explicitly.
"""
import os
from importlib.metadata import version

import pytest
from _pytest.doctest import DoctestItem

from mxparams import _compat

MATRIX_MARK = "cpu_matrix"
CROSS_MARK = "cross_version"
#: Markers of the tests that run with the versions of the CPU matrix only.
MATRIX_ONLY_MARKS = ("simulated_cpus", "notebook_tooling")


def other_pythons() -> dict[str, str] | None:
    """version -> Python of every other MXNet version (MXPARAMS_PYTHONS,
    'version=path' entries joined by os.pathsep); None where it is not set."""
    spec = os.environ.get("MXPARAMS_PYTHONS")
    if not spec:
        return None
    mine = version("mxnet")
    return {v: p for v, _, p in (e.partition("=") for e in spec.split(os.pathsep))
            if v != mine}


def cpu_matrix_versions() -> set[str] | None:
    """The MXNet versions run under the simulated CPUs (MXPARAMS_CPU_MATRIX,
    comma-separated, set by noxfile.py); None where it is not set."""
    spec = os.environ.get("MXPARAMS_CPU_MATRIX")
    return {v for v in spec.split(",") if v} if spec else None


@pytest.fixture(scope="session")
def profile_pythons() -> list[str]:
    """The Pythons of the other versions that run under simulated CPUs: what
    a test that checks notebooks across versions and CPUs starts."""
    matrix = cpu_matrix_versions()
    return [p for v, p in (other_pythons() or {}).items()
            if matrix is None or v in matrix]


@pytest.fixture(scope="session")
def mxnet_pythons() -> dict[str, str]:
    """version -> Python of every other MXNet version (empty if not given)."""
    return other_pythons() or {}


def prints_output(item) -> bool:
    """Doctests and golden tests compare printed text.  (Notebook cells do
    too; their simulated CPUs are one `mxparams notebooks check` of their
    own, noxfile.py's session ``chapter``.)"""
    return (isinstance(item, DoctestItem)
            or "golden" in getattr(item, "fixturenames", ()))


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config, items):
    for item in items:
        if prints_output(item):
            item.add_marker(MATRIX_MARK)
    if other_pythons() is None:
        cross = [item for item in items if item.get_closest_marker(CROSS_MARK)]
        if cross:
            config.hook.pytest_deselected(items=cross)
            items[:] = [item for item in items if item not in cross]
            config._mxparams_cross_deselected = len(cross)
    matrix = cpu_matrix_versions()
    if matrix is not None and version("mxnet") not in matrix:
        # This version runs without simulated CPUs (noxfile.py
        # CPU_MATRIX_MXNET): the tests of notebooks under simulated CPUs on
        # several versions at once, and of the notebook check's mechanics,
        # run with the versions that have them.
        profiled = [item for item in items
                    if any(item.get_closest_marker(m) for m in MATRIX_ONLY_MARKS)]
        if profiled:
            config.hook.pytest_deselected(items=profiled)
            items[:] = [item for item in items if item not in profiled]
            config._mxparams_profiles_deselected = (len(profiled), sorted(matrix))


def pytest_sessionstart(session):
    expected = os.environ.get("MXPARAMS_EXPECT_MXNET")
    installed = version("mxnet")
    if expected and installed != expected:
        raise pytest.UsageError(
            f"expected MXNet {expected} but this environment has {installed}")
    _compat.set_mode("np")  # the tutorial's mode, used by every doctest


def pytest_report_header(config):
    cpu = os.environ.get("MXPARAMS_CPU", "default")
    return (f"mxparams test run on MXNet {version('mxnet')} "
            f"(array modes: {os.environ.get('MXPARAMS_MODES') or ', '.join(_compat.MODES)}; "
            f"CPU: {cpu})")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    cross = getattr(config, "_mxparams_cross_deselected", 0)
    if cross:
        terminalreporter.write_line(
            f"{cross} cross-version test(s) deselected: they run another MXNet "
            "version's Python; `python3 tasks.py test` (or `nox`) runs them "
            "with every version", yellow=True)
    profiled = getattr(config, "_mxparams_profiles_deselected", None)
    if profiled:
        terminalreporter.write_line(
            f"{profiled[0]} test(s) marked {' or '.join(MATRIX_ONLY_MARKS)} "
            f"deselected: MXNet {version('mxnet')} runs without the simulated CPUs; "
            f"they run on {', '.join(profiled[1])}", yellow=True)
    skipped = terminalreporter.stats.get("skipped", [])
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} test(s) were skipped; skips count as failures "
            "here (every test must run on both MXNet versions)", red=True)


def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and reporter.stats.get("skipped") and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
