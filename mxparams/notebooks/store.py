"""``store``: write outputs back only where they hold in every configuration."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from .._table import Column, Table, Tabular
from . import _causes
from .check import Execution, NotebookCheck, execute


class StoreReport(Tabular):
    """What ``store`` did: ``stored`` notebooks (their outputs rewritten),
    and for the others the check of the configurations against each other
    (``refused``), which says which cells disagree and why.  Falsy when
    every notebook was stored."""

    def __init__(self, stored: list[str], refused: NotebookCheck):
        self.stored = stored
        self.refused = refused

    def __bool__(self) -> bool:
        return bool(self.refused)

    def to_dict(self) -> dict[str, Any]:
        """{"stored": [path...], "refused": the check's JSON (docs/notebooks.md)}."""
        return {"stored": self.stored, "refused": self.refused.to_dict()}

    def table(self) -> Table:
        if not self.refused:
            rows = [(path, "stored") for path in self.stored]
            return Table([Column("Notebook"), Column("Outputs")], rows,
                         [("Configurations", ", ".join(self.refused.configurations))])
        return self.refused.table()


def store(paths: Iterable[str | os.PathLike], *, pythons: Sequence[str] = (),
          mxnet: Sequence[str] = (), cpus: Sequence[str] = ("default",),
          timeout: float = 600, sanitize: str | None = None,
          jobs: int | None = None,
          progress: Callable[[str], None] | None = None,
          cells_done: Callable[[int, int], None] | None = None) -> StoreReport:
    """Execute ``paths`` under every configuration (as :func:`check` does)
    and write the outputs into each notebook whose cells agree in all of
    them, atomically, keeping its metadata and cell ids.  A notebook with a
    cell that disagrees (or raises where nbval would fail it) is left as it
    was; the report lists those cells with their cause."""
    done = execute(paths, pythons=pythons, mxnet=mxnet, cpus=cpus, timeout=timeout,
                   sanitize=sanitize, jobs=jobs, progress=progress,
                   cells_done=cells_done)
    first = done.configurations[0].label
    against_first = _against(done, first)
    refused = against_first.report()
    bad = {path for path, _, _ in refused.drifting()}
    stored = []
    for path in done.notebooks:
        if path not in bad:
            _write(path, done.runs[first])
            stored.append(path)
    refused.notebooks = [(p, c) for p, c in refused.notebooks if p in bad]
    return StoreReport(stored, refused)


def _against(done: Execution, first: str) -> Execution:
    """``done`` with the outputs of configuration ``first`` in the place of
    the stored ones, and each cell's verdict against them (nbval's rule:
    outputs compared unless the cell ignores them; an exception fails a
    cell unless it is expected)."""
    reference = {(os.path.abspath(c["notebook"]), c["cell"]): c["outputs"]
                 for c in done.runs[first]["cells"]}
    runs = {}
    for label, run in done.runs.items():
        cells = []
        for rec in run["cells"]:
            ref = reference.get((os.path.abspath(rec["notebook"]), rec["cell"]), [])
            rec = dict(rec, reference=ref)
            if rec["outcome"] == "passed" and rec["check"] and not rec["skip"] and (
                    _causes.comparable(rec["outputs"], done.patterns)
                    != _causes.comparable(ref, done.patterns)):
                rec.update(outcome="failed", message="Cell outputs differ")
            elif rec["outcome"] == "failed" and rec["message"] == "Cell outputs differ" \
                    and _causes.comparable(rec["outputs"], done.patterns) == \
                    _causes.comparable(ref, done.patterns):
                rec.update(outcome="passed", message="")
            cells.append(rec)
        runs[label] = dict(run, cells=cells)
    return done._replace(runs=runs)


def _write(path: str, run: dict[str, Any]) -> None:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    outputs = {c["cell"]: c for c in run["cells"]
               if os.path.abspath(c["notebook"]) == os.path.abspath(path)}
    count = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        rec = outputs.get(count)
        count += 1
        if rec is None or rec["skip"]:
            continue  # NBVAL_SKIP: never run, its outputs stay
        n = count
        new = []
        for out in rec["outputs"]:
            out = dict(out)
            if out.get("output_type") == "execute_result":
                out["execution_count"] = n
            new.append(nbformat.from_dict(out))
        cell.outputs = new
        cell.execution_count = n
    target = Path(path)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            nbformat.write(nb, f)
        os.chmod(temp, target.stat().st_mode & 0o7777)  # mkstemp makes 0600
        os.replace(temp, target)
    except BaseException:
        os.unlink(temp)
        raise
