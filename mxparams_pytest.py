"""The ``pytest11`` entry point of mxparams: ``--mx-cpu`` for nbval users.

This module is all pytest loads at start-up, in every environment that
has mxparams: it adds the option and nothing else, so a run without
``--mx-cpu`` imports neither mxparams nor MXNet.  With
``--mx-cpu``, it registers :mod:`mxparams.notebooks.pytest_plugin`, which
does the work (docs/notebooks.md).
"""
from __future__ import annotations

import warnings

import pytest

#: The profiles of mxparams.notebooks.PROFILES, named here so that the
#: option's help needs no import (tests/test_notebooks_plugin.py checks).
PROFILE_NAMES = ("default", "sse41", "avx2", "no-onednn", "1-thread")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mxparams", "mxparams: notebooks under simulated CPUs")
    group.addoption(
        "--mx-cpu", action="append", default=[], metavar="NAME", dest="mx_cpu",
        help="with --nbval: run each notebook under this simulated CPU "
             f"(repeatable): {', '.join(PROFILE_NAMES)}, all, or "
             "NAME=VAR=VALUE,...; the profile ends each cell's test id "
             "(nb.ipynb::Cell 3[sse41])")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("mx_cpu", default=None):
        # mxparams imports MXNet, whose import warns under the NumPy it
        # needs (np.bool, LooseVersion): noise in the user's run, and not
        # about their notebooks.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from mxparams.notebooks import pytest_plugin
        config.pluginmanager.register(pytest_plugin, "mxparams-notebooks")
