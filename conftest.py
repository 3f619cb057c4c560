"""Checks that apply to every test run: the right MXNet, numpy mode, no skips.

``python3 tasks.py test`` sets MXPARAMS_EXPECT_MXNET for each environment;
a run on any other MXNet fails at once instead of quietly testing the
wrong version.  A skipped test fails the run: every test must run on both
versions.
"""
import os
from importlib.metadata import version

import pytest

from mxparams import _compat


def pytest_sessionstart(session):
    expected = os.environ.get("MXPARAMS_EXPECT_MXNET")
    installed = version("mxnet")
    if expected and installed != expected:
        raise pytest.UsageError(
            f"expected MXNet {expected} but this environment has {installed}")
    _compat.set_mode("np")  # the tutorial's mode, used by every doctest


def pytest_report_header(config):
    return (f"mxparams test run on MXNet {version('mxnet')} "
            f"(array modes: {', '.join(_compat.MODES)})")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    skipped = terminalreporter.stats.get("skipped", [])
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} test(s) were skipped; skips count as failures "
            "here (every test must run on both MXNet versions)", red=True)


def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and reporter.stats.get("skipped") and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
