"""A pytest plugin loaded into the nbval run of one configuration.

It changes nothing of what nbval does; it records, for every cell nbval
tests, nbval's verdict and the outputs it compared, and writes them as
JSON to the file named by ``MXPARAMS_NOTEBOOK_RESULTS`` when the session
ends; and appends a line per finished cell to ``MXPARAMS_NOTEBOOK_PROGRESS``
(the progress display of the parent process counts them).  Running nbval itself is what makes "the check passes under a
configuration" mean "``pytest --nbval`` passes there".
"""
from __future__ import annotations

import json
import os
from typing import Any

import pytest

RESULTS_VARIABLE = "MXPARAMS_NOTEBOOK_RESULTS"
PROGRESS_VARIABLE = "MXPARAMS_NOTEBOOK_PROGRESS"

_cells: list[dict[str, Any]] = []
_errors: list[dict[str, str]] = []


def _plain(outputs: Any) -> list:
    """Outputs as plain JSON data (nbformat's nodes are dicts)."""
    return json.loads(json.dumps(list(outputs or []), default=str))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    outcome = yield
    report = outcome.get_result()
    if not hasattr(item, "cell_num") or not hasattr(item, "cell"):
        return  # not an nbval cell
    if report.when == "setup" and not report.skipped:
        return
    if report.when == "teardown":
        return
    message = ""
    if call.excinfo is not None:
        exc = call.excinfo.value
        message = str(exc) if exc.__class__.__name__ == "NbCellError" else (
            f"{type(exc).__name__}: {exc}")
    options = dict(getattr(item, "options", {}))
    _cells.append({
        "notebook": os.fspath(item.path),
        "cell": item.cell_num,
        "outcome": report.outcome,  # passed, failed, skipped
        "message": message,
        "skip": bool(options.get("skip")),
        "check": bool(options.get("check")),
        "check_exception": bool(options.get("check_exception")),
        "unrun": item.cell.get("execution_count") is None,
        "source": item.cell.get("source", ""),
        "reference": _plain(item.cell.get("outputs")),
        "outputs": _plain(getattr(item, "test_outputs", None)),
    })
    ticks = os.environ.get(PROGRESS_VARIABLE)
    if ticks:
        with open(ticks, "a", encoding="utf-8") as f:
            f.write(f"{item.cell_num}\n")


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        _errors.append({"node": report.nodeid, "message": str(report.longrepr)})


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get(RESULTS_VARIABLE)
    if not target:
        return
    with open(target, "w", encoding="utf-8") as f:
        json.dump({"cells": _cells, "errors": _errors,
                   "exitstatus": int(exitstatus)}, f)
