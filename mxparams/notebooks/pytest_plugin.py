"""``pytest --nbval --mx-cpu NAME``: nbval's notebooks under simulated CPUs.

Registered by the ``pytest11`` entry point (``mxparams_pytest``, which
adds the option) only when ``--mx-cpu`` is given.  nbval then runs every notebook once per profile of
:data:`~mxparams.notebooks.PROFILES` (or ``NAME=VAR=VALUE,...``), its kernel
started with the profile's variables, each cell's test id ending in the
profile (``nb.ipynb::Cell 3[sse41]``).  Everything else is nbval's own:
its collection, markers, ``--nbval-lax``, ``--nbval-sanitize-with``,
``--nbval-current-env``, comparison and diff.  A failing cell's message
gets the cause ``mxparams notebooks check`` would name and its
suggestion.  A profile whose switches do nothing for the kernel's MXNet
on this host is probed as ``notebooks check`` does, and its cells are
skipped with the reason, not passed.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from .profiles import PROFILES, Profile, parse_profile

_PROFILES = pytest.StashKey[list[Profile]]()
_PROBES = pytest.StashKey[dict[tuple[str, str], Any]]()


def pytest_configure(config: pytest.Config) -> None:
    names = config.getoption("mx_cpu", default=[])
    if not names:
        return
    if not (getattr(config.option, "nbval", False)
            or getattr(config.option, "nbval_lax", False)):
        raise pytest.UsageError("--mx-cpu runs nbval's notebooks under simulated "
                                "CPUs: add --nbval (or --nbval-lax), with nbval "
                                "installed (pip install 'mxparams[notebooks]')")
    chosen: dict[str, Profile] = {}
    try:
        for name in names:
            for profile in (PROFILES.values() if name == "all"
                            else [parse_profile(name)]):
                chosen.setdefault(profile.name, profile)
    except ValueError as err:
        raise pytest.UsageError(f"--mx-cpu: {err}") from None
    config.stash[_PROFILES] = list(chosen.values())
    config.stash[_PROBES] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_collect_file(file_path: Any, parent: pytest.Collector
                        ) -> Generator[None, Any, None]:
    outcome = yield
    profiles = parent.config.stash.get(_PROFILES, None)
    if not profiles:
        return
    from nbval.plugin import IPyNbFile
    found = outcome.get_result()
    if not any(isinstance(node, IPyNbFile) for node in found):
        return
    # nbval's collector of this notebook, once per profile.
    outcome.force_result(
        [node for node in found if not isinstance(node, IPyNbFile)]
        + [_profiled_file().from_parent(parent, path=file_path,  # type: ignore[attr-defined]
                                        profile=profile)
           for profile in profiles])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, Any, None]:
    outcome = yield
    profile = getattr(item.parent, "mx_profile", None)
    report = outcome.get_result()
    if profile is None or call.when != "call" or not report.failed:
        return
    text = _explain(item, profile)
    if isinstance(report.longrepr, str):  # nbval's own message (its diff)
        report.longrepr += "\n\n" + text
    else:
        report.sections.append(("mxparams", text))


def _explain(item: Any, profile: Profile) -> str:
    """The cause of a failing cell under ``profile``, as the check names
    it from what this one run shows, with its suggestion."""
    from . import _causes
    patterns = list(getattr(item.parent, "sanitize_patterns", {}).items())
    stored = _causes.comparable(item.cell.get("outputs", []), patterns)
    got = _causes.comparable(getattr(item, "test_outputs", None) or [], patterns)
    raised = any(o.get("output_type") == "error"
                 for o in getattr(item, "test_outputs", None) or [])
    cause = None if raised else _causes.textual_cause(got, stored)
    cause = cause or "other"
    switches = " ".join(f"{k}={v}" for k, v in profile.env.items()) or "nothing set"
    detail = ""
    if cause == "float-digits":
        digits = _causes.stable_digits([stored, got])
        if digits is not None:
            detail = f" ({digits} significant digits agree)"
    lines = [f"mxparams: under the simulated CPU {profile.name} ({switches}) "
             f"this cell {'raises' if raised else 'differs'}: cause {cause}{detail}.",
             f"mxparams: {_causes.SUGGESTIONS[cause]}"]
    if cause == "other" and raised:
        lines.append("mxparams: run it without --mx-cpu, and on each MXNet version "
                     "(mxparams notebooks check --mxnet ...), to tell a version "
                     "difference from a machine one")
    return "\n".join(lines)


_CLASS: list[type] = []


def _profiled_file() -> type:
    """nbval's ``IPyNbFile`` with a profile (made on first use: nbval is
    imported only when ``--mx-cpu`` is given)."""
    if _CLASS:
        return _CLASS[0]
    from nbval.plugin import IPyNbCell, IPyNbFile


    class ProfiledCell(IPyNbCell):
        def reportinfo(self) -> Any:  # nbval's says 'Cell N' without the profile
            path, line, _ = super().reportinfo()
            return path, line, self.name

    class ProfiledNotebook(IPyNbFile):
        """One notebook under one profile: nbval's collector, its kernel
        started with the profile's variables, its cells named
        ``Cell N[profile]``."""

        def __init__(self, *args: Any, profile: Profile, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.mx_profile = profile

        def collect(self) -> Iterator[Any]:
            for cell in super().collect():
                yield ProfiledCell.from_parent(
                    self, name=f"{cell.name}[{self.mx_profile.name}]",
                    cell_num=cell.cell_num, cell=cell.cell, options=cell.options)

        def setup(self) -> None:
            why = _not_in_effect(self.config, self._kernel_python(), self.mx_profile)
            if why:
                pytest.skip(f"mxparams: profile {self.mx_profile.name} not in effect "
                            f"on this host/MXNet: {why}")
            with _environment(self.mx_profile.env):
                super().setup()  # nbval starts its kernel: it inherits these

        def _kernel_python(self) -> str:
            """The interpreter of the kernel nbval starts for this notebook
            (its own rule: current env, --nbval-kernel-name, the notebook's)."""
            option = self.config.option
            if getattr(option, "nbval_current_env", False):
                return sys.executable
            from nbval.kernel import NbvalKernelspecManager
            name = getattr(option, "nbval_kernel_name", None) or \
                self.nb.metadata.get("kernelspec", {}).get("name", "python")
            argv0 = NbvalKernelspecManager().get_kernel_spec(name).argv[0]
            return argv0 if os.sep in argv0 else (shutil.which(argv0) or argv0)

    _CLASS.append(ProfiledNotebook)
    return ProfiledNotebook


def _not_in_effect(config: pytest.Config, python: str, profile: Profile) -> str:
    """'' when ``profile`` is in effect for ``python`` here, else why not
    (probed once per interpreter and profile, as ``notebooks check`` does)."""
    if profile.name == "default":
        return ""
    from ._run import probe
    from .check import in_effect
    probes = config.stash[_PROBES]
    for name, env in (("default", {}), (profile.name, profile.env)):
        if (python, name) not in probes:
            probes[(python, name)] = probe(python, env)
    return in_effect(profile, probes[(python, profile.name)], probes[(python, "default")])


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """``env`` in ``os.environ`` while nbval starts a kernel, then exactly
    what was there before.  jupyter_client copies ``os.environ`` for the
    kernel at launch, and nbval gives no other way to add variables."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
