"""``check``: run notebooks under configurations and say what drifts, and why."""
from __future__ import annotations

import os
import shutil
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

from .._table import Column, Table, Tabular
from . import _causes, _envs, _run
from ._run import Configuration, Interpreter, ProbeError
from .profiles import PROFILES, Profile, parse_profile


class CellResult(NamedTuple):
    """One cell under one configuration."""
    status: str                   # same, differs, error, not-in-effect
    cause: str | None = None      # one of _causes.CAUSES where it drifts
    stable_digits: int | None = None
    first_difference: str | None = None


class NotebookCheck(Tabular):
    """What ``check`` found: per notebook, per cell (nbval's ``Cell N``),
    the result under each configuration (``<MXNet version>/<profile>``,
    ``#2`` for the repeated run of the default profile).  Falsy when every
    stored output is reproduced everywhere it ran."""

    def __init__(self, configurations: list[str],
                 notebooks: list[tuple[str, list[tuple[str, dict[str, CellResult]]]]],
                 not_in_effect: dict[str, str],
                 outputs: dict[tuple[str, str], dict[str, list[str]]] | None = None):
        self.configurations = configurations
        self.notebooks = notebooks
        self.not_in_effect = not_in_effect
        #: (notebook, cell) -> {"stored": lines, label: lines}: the text
        #: nbval compared, for the cells that drift (the HTML report).
        self.outputs = outputs or {}

    def to_html(self) -> str:
        """A self-contained HTML page: the table, then each drifting cell's
        stored output beside each configuration's (see :func:`check`)."""
        from ._html import page
        return page(self)

    def drifting(self) -> list[tuple[str, str, dict[str, CellResult]]]:
        """(notebook, cell, results) of every cell that differs or raises."""
        return [(path, cell, results) for path, cells in self.notebooks
                for cell, results in cells
                if any(r.status in ("differs", "error") for r in results.values())]

    def __bool__(self) -> bool:
        return bool(self.drifting())

    def table(self) -> Table:
        rows = []
        causes: set[str] = set()
        for path, cell, results in self.drifting():
            bad = {label: r for label, r in results.items()
                   if r.status in ("differs", "error")}
            by_cause: dict[str, list[str]] = {}
            for label, r in bad.items():
                by_cause.setdefault(r.cause or "other", []).append(label)
            for cause, labels in by_cause.items():
                causes.add(cause)
                first = bad[labels[0]]
                detail = first.first_difference or ""
                if cause == "float-digits" and first.stable_digits is not None:
                    detail = f"{first.stable_digits} digits agree; {detail}"
                status = "raises" if all(bad[x].status == "error" for x in labels) \
                    else "differs"
                rows.append((Path(path).name, cell, cause, status,
                             _where(labels, self.configurations), detail))
        cells = sum(len(c) for _, c in self.notebooks)
        footer = [("Configurations", ", ".join(self.configurations)),
                  ("Result", f"{len(self.drifting())} of {cells} cells drift"
                   if rows else f"all {cells} cells reproduce their stored outputs")]
        for label, why in self.not_in_effect.items():
            footer.append(("Not in effect", f"{label}: {why}"))
        for cause in _causes.CAUSES:
            if cause in causes:
                footer.append((cause, _causes.SUGGESTIONS[cause]))
        return Table([Column("Notebook"), Column("Cell"), Column("Cause"),
                      Column("Status"), Column("Where"), Column("First difference")],
                     rows, footer, header=bool(rows))

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON schema (docs/notebooks.md)."""
        return {"configurations": self.configurations,
                "notebooks": [{"path": path, "cells": [
                    {"id": cell, "results": {label: r._asdict()
                                             for label, r in results.items()}}
                    for cell, results in cells]} for path, cells in self.notebooks]}


def _where(labels: list[str], every: list[str]) -> str:
    """The configurations, shortest: 'everywhere', or per MXNet version
    'VERSION/*' when it covers every profile of that version."""
    if set(labels) == set(every):
        return "everywhere"
    shown = []
    for version in dict.fromkeys(label.partition("/")[0] for label in every):
        mine = [x for x in every if x.partition("/")[0] == version]
        chosen = [x for x in mine if x in labels]
        if chosen and len(chosen) == len(mine):
            shown.append(f"{version}/*")
        else:
            shown += chosen
    return ", ".join(shown)


def notebooks_in(paths: Iterable[str | os.PathLike]) -> list[str]:
    """The ``.ipynb`` files named or found (recursively, sorted) in folders."""
    found: list[str] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(str(p) for p in path.rglob("*.ipynb")
                            if ".ipynb_checkpoints" not in p.parts)
        elif path.is_file():
            if path.suffix != ".ipynb":
                raise ValueError(f"{str(path)!r} is not a notebook (.ipynb)")
            found.append(str(path))
        else:
            raise FileNotFoundError(f"{str(path)!r}: no such notebook or folder")
    if not found:
        raise ValueError("no notebooks (.ipynb) in " + ", ".join(map(str, paths)))
    return found


def _readable(path: str) -> None:
    """``path`` is a notebook nbformat reads (checked before anything runs)."""
    import nbformat
    try:
        nbformat.read(path, as_version=4)
    except Exception as err:
        raise ValueError(f"{path!r} is not a readable notebook "
                         f"({type(err).__name__}: {err})") from None


def profiles_of(names: Sequence[str]) -> list[Profile]:
    """``--cpu`` values as profiles (``all`` is every documented one)."""
    # The default profile always runs (twice), first: the others are
    # told apart from it.
    chosen: dict[str, Profile] = {"default": PROFILES["default"]}
    for name in names:
        for profile in (PROFILES.values() if name == "all" else [parse_profile(name)]):
            chosen.setdefault(profile.name, profile)
    return list(chosen.values())


def in_effect(profile: Profile, found: dict[str, Any], default: dict[str, Any]) -> str:
    """'' when every switch of ``profile`` is in effect, else why not."""
    env = profile.env
    why = []
    if "DNNL_MAX_CPU_ISA" in env:
        if not found.get("onednn_ran"):
            why.append("oneDNN runs no primitive here")
        elif found.get("isa") == default.get("isa"):
            why.append(f"DNNL_MAX_CPU_ISA={env['DNNL_MAX_CPU_ISA']} changes nothing "
                       f"(oneDNN uses {found.get('isa')} either way)")
    if "OPENBLAS_CORETYPE" in env:
        core = found.get("openblas_core")
        if core is None and not found.get("openblas_reads_coretype"):
            why.append("no OpenBLAS that reads OPENBLAS_CORETYPE")
        elif (core is not None and core.lower() != env["OPENBLAS_CORETYPE"].lower()
              and core == default.get("openblas_core")):
            # Another name than asked is still the asked kernels when the
            # variable changed the core: OpenBLAS 0.3.7 (MXNet 1.8.0's)
            # reports its Nehalem kernels as "Atom", an alias of the same
            # table.  Only a core the variable did not move is not in effect.
            why.append(f"OpenBLAS runs {core}, not {env['OPENBLAS_CORETYPE']}")
    if "0" in (env.get("MXNET_MKLDNN_ENABLED"), env.get("MXNET_ONEDNN_ENABLED")):
        if not default.get("onednn_ran"):
            why.append("this MXNet runs without oneDNN anyway")
        elif found.get("onednn_ran"):
            why.append("oneDNN still runs")
    return "; ".join(why)


class Execution(NamedTuple):
    """Every notebook run under every configuration, as nbval saw it."""
    notebooks: list[str]
    configurations: list[Configuration]
    not_in_effect: dict[str, str]
    runs: dict[str, dict[str, Any]]     # label -> the _plugin's record
    patterns: list[tuple[str, str]]     # nbval's sanitize patterns

    def report(self) -> NotebookCheck:
        labels = [c.label for c in self.configurations] + list(self.not_in_effect)
        notebooks, outputs = [], {}
        for path in self.notebooks:
            cells = _cells(path, self.runs, self.not_in_effect, self.configurations,
                           self.patterns)
            notebooks.append((path, [(cell, results) for cell, results, _ in cells]))
            outputs.update({(path, cell): texts for cell, results, texts in cells
                            if any(r.status in ("differs", "error")
                                   for r in results.values())})
        return NotebookCheck(labels, notebooks, self.not_in_effect, outputs)


def execute(paths: Iterable[str | os.PathLike], *, pythons: Sequence[str] = (),
            mxnet: Sequence[str] = (), cpus: Sequence[str] = ("default",),
            timeout: float = 600, sanitize: str | None = None,
            jobs: int | None = None,
            progress: Callable[[str], None] | None = None,
            cells_done: Callable[[int, int], None] | None = None) -> Execution:
    """Run ``paths`` under every configuration (see :func:`check`)."""
    say = progress or (lambda text: None)
    notebooks = notebooks_in(paths)
    for path in notebooks:
        _readable(path)
    profiles = profiles_of(cpus)
    made = [_envs.environment(version, say) for version in mxnet]
    interpreters: list[Interpreter] = []
    probes: dict[tuple[str, str], dict[str, Any]] = {}
    for python in [*map(_interpreter_path, pythons), *made] or [sys.executable]:
        found = _run.probe(python, {})
        interpreter = Interpreter(python, found["mxnet"])
        if interpreter.mxnet in [i.mxnet for i in interpreters]:
            raise ProbeError(f"{python}: MXNet {interpreter.mxnet} is given twice")
        interpreters.append(interpreter)
        probes[(python, "default")] = found
    configurations: list[Configuration] = []
    skipped: dict[str, str] = {}
    for interpreter in interpreters:
        for profile in profiles:
            if profile.name == "default":
                configurations += [Configuration(interpreter, profile, 0),
                                   Configuration(interpreter, profile, 1)]
                continue
            found = _run.probe(interpreter.python, profile.env)
            why = in_effect(profile, found, probes[(interpreter.python, "default")])
            config = Configuration(interpreter, profile)
            if why:
                skipped[config.label] = why
            else:
                configurations.append(config)
    say(f"{len(notebooks)} notebook(s) under {len(configurations)} configuration(s)")
    on_cell = _counter(cells_done, len(configurations) * sum(map(_code_cells, notebooks)))
    # Each configuration is a process of its own (nbval, and its kernel);
    # the threads only wait for them.
    with ThreadPoolExecutor(max_workers=max(1, jobs or os.cpu_count() or 1)) as pool:
        futures = {c.label: pool.submit(_run.run, c, notebooks, timeout=timeout,
                                        sanitize=sanitize, on_cell=on_cell)
                   for c in configurations}
        runs = {}
        for label, future in futures.items():
            runs[label] = future.result()
            say(f"ran {label}")
    return Execution(notebooks, configurations, skipped, runs,
                     _sanitize_patterns(sanitize))


def _code_cells(path: str) -> int:
    import nbformat
    return sum(c.cell_type == "code" for c in nbformat.read(path, as_version=4).cells)


def _counter(report: Callable[[int, int], None] | None,
             total: int) -> Callable[[], None] | None:
    """A thread-safe ``on_cell`` that reports (cells done, of total)."""
    if report is None:
        return None
    lock = threading.Lock()
    done = 0
    report(0, total)

    def on_cell() -> None:
        nonlocal done
        with lock:
            done += 1
            report(min(done, total), total)
    return on_cell


def _interpreter_path(python: str) -> str:
    """``--python`` as a path that holds from any folder: the kernels and
    probes run elsewhere ('.venv/bin/python' is relative to here, 'python3'
    is looked up on PATH)."""
    if os.sep in python or (os.altsep and os.altsep in python):
        return os.path.abspath(python)
    return shutil.which(python) or python


def check(paths: Iterable[str | os.PathLike], *, pythons: Sequence[str] = (),
          mxnet: Sequence[str] = (), cpus: Sequence[str] = ("default",),
          timeout: float = 600, sanitize: str | None = None,
          jobs: int | None = None,
          progress: Callable[[str], None] | None = None,
          cells_done: Callable[[int, int], None] | None = None) -> NotebookCheck:
    """Run ``paths`` under every interpreter × CPU profile, the default
    profile twice, with nbval's strict comparison, and name the cause of
    every difference.

    ``pythons`` are interpreters with MXNet and ipykernel, ``mxnet``
    MXNet versions whose environments are made on first use and cached
    (this interpreter when neither is given); ``cpus`` names profiles of
    :data:`PROFILES`, ``all``, or defines one (``NAME=VAR=VALUE,...``).
    A profile whose switches do nothing on this host and MXNet is
    reported as not in effect, not run.  ``timeout`` limits each cell
    (seconds); ``sanitize`` is nbval's sanitize file; ``jobs``
    configurations run at once (the cores by default).  ``progress`` gets
    one-line messages, ``cells_done(done, total)`` the count of cells run
    over every configuration.
    """
    return execute(paths, pythons=pythons, mxnet=mxnet, cpus=cpus, timeout=timeout,
                   sanitize=sanitize, jobs=jobs, progress=progress,
                   cells_done=cells_done).report()


def _sanitize_patterns(file: str | None) -> list[tuple[str, str]]:
    """The (regex, replace) pairs of nbval's sanitize file, read by nbval."""
    if not file:
        return []
    from nbval.plugin import get_sanitize_patterns
    return list(get_sanitize_patterns(Path(file).read_text()))


def _cells(path: str, runs: dict[str, dict[str, Any]], skipped: dict[str, str],
           configurations: list[Configuration], patterns: list[tuple[str, str]]
           ) -> list[tuple[str, dict[str, CellResult], dict[str, list[str]]]]:
    """Every code cell of ``path`` with its result per configuration, and
    the texts compared: ``"stored"``'s and each configuration's."""
    full = os.path.abspath(path)
    records: dict[str, dict[int, dict[str, Any]]] = {
        label: {c["cell"]: c for c in run["cells"]
                if os.path.abspath(c["notebook"]) == full}
        for label, run in runs.items()}
    count = max((max(r, default=-1) for r in records.values()), default=-1) + 1
    out = []
    raised: dict[str, str] = {}
    for index in range(count):
        results: dict[str, CellResult] = {}
        texts: dict[str, list[str]] = {}
        reference: list[str] = []
        for label, cells in records.items():
            rec = cells.get(index)
            if rec is None:
                results[label] = CellResult("error", "other", None,
                                            "nbval did not run this cell")
                continue
            reference = _causes.comparable(rec["reference"], patterns)
            texts[label] = _causes.comparable(rec["outputs"], patterns)
            if rec["outcome"] != "failed":
                results[label] = CellResult("same")
            elif rec["message"] == "Cell outputs differ":
                results[label] = CellResult("differs", None, None,
                                            _causes.first_difference(reference,
                                                                     texts[label]))
            else:
                results[label] = CellResult("error", None, None,
                                            _error_line(rec, texts[label]))
        named = _name_causes(results, texts, reference, configurations, raised)
        for label, result in named.items():
            if result.status == "error" and result.cause:
                raised.setdefault(label, result.cause)
        out.append((f"Cell {index}", named, {"stored": reference, **texts}))
        for label, why in skipped.items():
            out[-1][1][label] = CellResult("not-in-effect", None, None, why)
    return out


def _error_line(rec: dict[str, Any], text: list[str]) -> str:
    if rec["message"].startswith("Timeout"):
        return rec["message"].splitlines()[0]  # nbval's words, with the limit
    for out in rec["outputs"]:
        if out.get("output_type") == "error":
            return f"raises {out.get('ename')}: {out.get('evalue')}"[:120]
    return rec["message"].splitlines()[0] if rec["message"] else "failed"


def _name_causes(results: dict[str, CellResult], texts: dict[str, list[str]],
                 reference: list[str], configurations: list[Configuration],
                 raised: dict[str, str]) -> dict[str, CellResult]:
    """The cause of each configuration's difference in one cell; ``raised``
    holds, per configuration, the cause of the first earlier cell that
    raised there."""
    by_label = {c.label: c for c in configurations}

    def default(interpreter: Interpreter, run: int = 0) -> str:
        return Configuration(interpreter, PROFILES["default"], run).label

    def signature(label: str) -> tuple:
        return (results[label].status, tuple(_causes.masked(texts.get(label, []))))

    interpreters = list(dict.fromkeys(c.interpreter for c in configurations))
    # Two runs of one default configuration that disagree: not reproducible.
    unstable = {i for i in interpreters
                if default(i) in texts and texts[default(i)] != texts.get(default(i, 1))}
    drifting = [label for label, r in results.items() if r.status in ("differs", "error")]
    digits = None
    number_only = [texts[label] for label in drifting if label in texts
                   and _causes.only_numbers_differ(texts[label], reference)]
    if number_only:
        digits = _causes.stable_digits([reference] + number_only)
    named = dict(results)
    for label in drifting:
        r = results[label]
        config = by_label[label]
        text = texts.get(label, [])
        # The versions disagree with each other here (not only with the
        # stored output): one passes, or they fail differently.
        versions_differ = any(signature(default(i)) != signature(default(config.interpreter))
                              for i in interpreters if default(i) in results)
        if (r.first_difference or "").startswith("Timeout"):
            cause = "other"  # a hanging cell: no output to compare
        elif config.interpreter in unstable:
            cause = "nondeterministic"
        elif label in raised:
            # An earlier cell raised here, and this one fails because of
            # it: the earlier cell's cause is this one's.
            cause = raised[label]
        elif r.status == "error":
            # With one version there is nothing to tell an API change from
            # a bug of the notebook's own: the first difference says which.
            cause = "version-api" if versions_differ else "other"
        elif (told := _causes.textual_cause(text, reference)) is not None:
            cause = told
        elif versions_differ:
            cause = "version-api"
        else:
            cause = "other"
        named[label] = r._replace(cause=cause,
                                  stable_digits=digits if cause == "float-digits" else None)
    return named
