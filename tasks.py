#!/usr/bin/env python3
"""The two commands of the README, and the authors' ones; needs only python3.

    python3 tasks.py test        # the whole test suite, on every MXNet version
    python3 tasks.py demo        # the main job: a model-zoo network and the
                                 # chapter's notebooks, on every version
    python3 tasks.py notebooks --store   # authors: store the notebooks' outputs
    python3 tasks.py bench       # benchmarks/ on every version (not a test)
    python3 tasks.py lab         # the chapter in JupyterLab (MXNet 2.0 kernel)

The version matrix is declared in noxfile.py: one environment per MXNet
version under .nox/, made by nox one after the other.  On a machine with
nothing but python3, this script first installs nox (pinned, ci/nox.txt)
into .venvs/nox.  The environments are made when they are missing or when
pyproject.toml, ci/constraints.txt or noxfile.py changed, and reused
otherwise.  A version whose environment cannot be made fails the run.

``test`` is ``nox -s tests``: the whole suite per version, then the
printed-output tests under each simulated CPU (noxfile.py).  Extra
arguments go to pytest (``python3 tasks.py test -k summary``); ``--mxnet``
restricts a command to one version and ``--cpu`` the test runs to one CPU
(``default`` is the environment as started).  Each environment also gets a
Jupyter kernel (.venvs/jupyter/kernels/) for the notebooks.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
NOXFILE = ROOT / "noxfile.py"
NOX_ENV = ROOT / ".venvs" / "nox"
NOTEBOOKS = ROOT / "notebooks"
EXECUTED = ROOT / "build" / "notebooks"
KERNELS = ROOT / ".venvs" / "jupyter" / "kernels"
LAB_ENV = ROOT / ".venvs" / "lab"
STAMP = ROOT / ".nox" / ".mxparams-stamp"
STAMP_INPUTS = ("pyproject.toml", "ci/constraints.txt", "noxfile.py")
# The kernel the notebooks' metadata names (ci/execute_notebooks.py).
DEFAULT_KERNEL_VERSION = "2.0.0b1"


def say(msg: str) -> None:
    print(f"[tasks] {msg}", flush=True)


def _from_noxfile(*names: str) -> tuple:
    """Constants of noxfile.py, read without importing it (it imports nox)."""
    found = {}
    for node in ast.parse(NOXFILE.read_text()).body:
        target = getattr(node, "target", None) or (
            node.targets[0] if isinstance(node, ast.Assign) else None)
        if isinstance(target, ast.Name) and target.id in names:
            found[target.id] = ast.literal_eval(node.value)
    return tuple(found[n] for n in names)


VERSIONS, SIMULATED_CPUS = _from_noxfile("MXNET", "SIMULATED_CPUS")
CPUS = ("default",) + tuple(SIMULATED_CPUS)


def env_python(version: str) -> Path:
    """The environment noxfile.py's session ``tests(<version>)`` made."""
    return ROOT / ".nox" / f"tests-{version.replace('.', '-')}" / "bin" / "python"


# --- environments ----------------------------------------------------------

def pinned_env(folder: Path, pins: str, what: str) -> Path:
    """A virtual environment of this Python with the packages pinned in
    ``ci/<pins>``, made on first use and again when the pins change;
    returns its bin folder."""
    pinned = ROOT / "ci" / pins
    stamp = folder / ".mxparams-stamp"
    want = hashlib.sha256(sys.version.encode() + pinned.read_bytes()).hexdigest()
    if not (stamp.exists() and stamp.read_text() == want):
        say(f"installing {what} into {folder.relative_to(ROOT)} ...")
        venv.EnvBuilder(with_pip=True, clear=True).create(folder)
        done = subprocess.run([str(folder / "bin" / "python"), "-m", "pip",
                               "install", "--quiet", "--disable-pip-version-check",
                               "-r", str(pinned)])
        if done.returncode != 0:
            shutil.rmtree(folder, ignore_errors=True)
            raise SystemExit(f"[tasks] FAILED to install {what} (pip exit "
                             f"{done.returncode})")
        stamp.write_text(want)
    return folder / "bin"


def nox(*args: str, env: dict | None = None) -> int:
    """Run nox (installed into .venvs/nox on first use)."""
    binary = pinned_env(NOX_ENV, "nox.txt", "nox") / "nox"
    return subprocess.run([str(binary), "-f", str(NOXFILE), *args], cwd=ROOT,
                          env=dict(os.environ, **(env or {}))).returncode


def _stamp() -> str:
    h = hashlib.sha256(sys.version.encode())
    for name in STAMP_INPUTS:
        h.update((ROOT / name).read_bytes())
    return h.hexdigest()


def ensure_envs() -> None:
    """Every version's environment, made or updated by nox, one after the
    other (two pip installs of one editable tree would race)."""
    stamp = _stamp()
    ready = STAMP.exists() and STAMP.read_text() == stamp
    if not (ready and all(env_python(v).exists() for v in VERSIONS)):
        say("making the environments (nox --install-only) ...")
        started = time.monotonic()
        if nox("--install-only", "-s", "tests") != 0:
            raise SystemExit("[tasks] FAILED to make the environments; no "
                             "version is tested, so the run fails")
        # matplotlib builds its font cache on first import and says so on
        # stderr, which would become a notebook's output; build it now.
        for version in VERSIONS:
            run_env(version, ["-c", "import matplotlib.font_manager"], check=True)
        STAMP.write_text(stamp)
        say(f"made them in {time.monotonic() - started:.0f} s")
    for version in VERSIONS:
        write_kernelspec(version)


def kernel_name(version: str) -> str:
    return f"mxparams-mxnet-{version}"


def write_kernelspec(version: str) -> None:
    """A Jupyter kernel on this version's environment, with mxparams.

    It does not capture C-level output (ipykernel's capture_fd_output):
    nbval's kernel does not either, so both see the same cell outputs, and
    MXNet's C++ log lines (docs/compatibility.md §1) go to the terminal
    instead of into a notebook.
    """
    spec = {
        "argv": [str(env_python(version)), "-m", "ipykernel_launcher",
                 "-f", "{connection_file}",
                 "--IPKernelApp.capture_fd_output=False"],
        "display_name": f"Python 3 (mxparams, MXNet {version})",
        "language": "python",
        "metadata": {"debugger": True},
    }
    path = KERNELS / kernel_name(version) / "kernel.json"
    text = json.dumps(spec, indent=1) + "\n"
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def run_env(version: str, args: list, cpu: str = "default",
            **kw) -> subprocess.CompletedProcess:
    """Run the version's Python with args, on a simulated CPU if asked."""
    env = dict(os.environ, MXPARAMS_EXPECT_MXNET=version, MXPARAMS_CPU=cpu,
               PYTHONDONTWRITEBYTECODE="1", **SIMULATED_CPUS.get(cpu, {}))
    return subprocess.run([str(env_python(version))] + args, cwd=ROOT,
                          env=env, **kw)


def sessions(versions) -> list[str]:
    return ["-s"] + [f"tests({v})" for v in versions]


# --- commands --------------------------------------------------------------

def cmd_test(opts, extra: list) -> int:
    ensure_envs()
    # Every version's environment exists now: a cross-version test that
    # misses one fails instead of being deselected.
    env = {"MXPARAMS_CPUS": ",".join(opts.cpu), "MXPARAMS_ALL_VERSIONS": "1"}
    # -R: reuse the environments just made, install nothing more.
    return nox("-R", *sessions(opts.mxnet), "--", *extra, env=env)


def cmd_demo(opts, extra: list) -> int:
    ensure_envs()
    outputs = {}
    for version in opts.mxnet:
        done = run_env(version, ["-m", "mxparams", "demo", opts.model] + extra,
                       capture_output=True, text=True)
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            say(f"demo FAILED on MXNet {version}")
            return 1
        outputs[version] = done.stdout
    first = next(iter(outputs))
    print(outputs[first], end="")
    same = len(set(outputs.values())) == 1
    say(f"printed by MXNet {first}; the output on {' and '.join(outputs)} is "
        + ("identical" if same else "DIFFERENT"))
    ok = True
    for version in opts.mxnet:
        out = EXECUTED / f"mxnet-{version}"
        ok &= execute_notebooks(version, out)
        say(f"  executed copies in {out.relative_to(ROOT)}/")
    ok &= check_notebooks(NOTEBOOKS, [(v, "default") for v in opts.mxnet])
    say("to read them in JupyterLab: python3 tasks.py lab")
    return 0 if same and ok else 1


def execute_notebooks(version: str, out: Path, paths=None) -> bool:
    paths = [str(p) for p in (paths or sorted(NOTEBOOKS.glob("*.ipynb")))]
    say(f"executing {len(paths)} notebooks on MXNet {version}")
    done = run_env(version, [str(ROOT / "ci" / "execute_notebooks.py"),
                             str(KERNELS), kernel_name(version), str(out)] + paths)
    return done.returncode == 0


def check_notebooks(folder: Path, runs: list) -> bool:
    """nbval (strict, as the test command runs it) on ``folder``'s notebooks
    in each (version, cpu): the stored outputs must come out everywhere."""
    ok = True
    for version, cpu in runs:
        done = run_env(version, ["-m", "pytest", "-q", "-p", "no:cacheprovider",
                                 "--rootdir", str(ROOT), "-c",
                                 str(ROOT / "pyproject.toml"), str(folder)],
                       cpu=cpu, capture_output=True, text=True)
        last = (done.stdout.strip().splitlines() or ["no output"])[-1]
        say(f"  nbval on MXNet {version}, {cpu}: {last}")
        ok &= done.returncode == 0
    return ok


def cmd_notebooks(opts, extra: list) -> int:
    """Authors: execute the notebooks and store the outputs if nbval finds
    exactly them on every version and every simulated CPU."""
    if extra or not opts.store:
        raise SystemExit("[tasks] usage: python3 tasks.py notebooks --store")
    if set(opts.mxnet) != set(VERSIONS) or set(opts.cpu) != set(CPUS):
        raise SystemExit("[tasks] notebooks --store checks every MXNet version "
                         "on every simulated CPU; drop --mxnet and --cpu")
    ensure_envs()
    candidates = EXECUTED / "candidates"
    shutil.rmtree(candidates, ignore_errors=True)
    if not execute_notebooks(VERSIONS[0], candidates):
        say("executing the notebooks FAILED; nothing stored")
        return 1
    # nbval itself judges: the candidates' outputs must come out again on
    # every version and CPU (figures, which nbval skips, come from this run).
    if not check_notebooks(candidates, [(v, c) for v in VERSIONS for c in CPUS]):
        say("nothing stored: an output that differs between versions or CPUs "
            "would fail somewhere else; print what holds on every CPU "
            "(docs/portable-outputs.md)")
        return 1
    for path in sorted(candidates.glob("*.ipynb")):
        shutil.copyfile(path, NOTEBOOKS / path.name)
    say(f"stored the outputs in {NOTEBOOKS.relative_to(ROOT)}/: the same on "
        f"every version ({', '.join(VERSIONS)}) and CPU ({', '.join(CPUS)})")
    return 0


def ensure_lab() -> Path:
    """JupyterLab in its own environment (pinned, ci/lab.txt), with the
    kernels of every MXNet version; returns its bin folder."""
    ensure_envs()
    return pinned_env(LAB_ENV, "lab.txt", "JupyterLab")


def lab_command(folder: Path, extra: list) -> tuple[list, dict]:
    """The jupyter-lab command line and environment that open ``folder``
    with the mxparams kernels only, MXNet 2.0's by default."""
    kernels = [kernel_name(v) for v in VERSIONS]
    argv = [str(LAB_ENV / "bin" / "jupyter-lab"),
            f"--ServerApp.root_dir={folder}",
            f"--MultiKernelManager.default_kernel_name="
            f"{kernel_name(DEFAULT_KERNEL_VERSION)}",
            # The lab environment's own Python kernel has no MXNet.
            "--KernelSpecManager.allowed_kernelspecs=" + json.dumps(kernels),
            # Containers and CI machines often run as root, which Jupyter
            # refuses unless told.
            *(["--allow-root"] if os.geteuid() == 0 else []),
            *extra]
    return argv, dict(os.environ, JUPYTER_PATH=str(KERNELS.parent))


def cmd_lab(opts, extra: list) -> int:
    """Open the chapter: JupyterLab on notebooks/ with the MXNet 2.0 kernel
    (the 1.9.1 kernel is in the kernel menu).  Arguments after the command
    go to jupyter-lab (``--no-browser``, ``--port 8890``)."""
    ensure_lab()
    argv, env = lab_command(NOTEBOOKS, extra)
    say("starting JupyterLab on notebooks/ (kernel: MXNet "
        f"{DEFAULT_KERNEL_VERSION}); it prints the URL to open below; "
        "Ctrl-C stops it")
    try:
        return subprocess.run(argv, cwd=ROOT, env=env).returncode
    except KeyboardInterrupt:
        return 0


def cmd_browser_check(opts, extra: list) -> int:
    """CI: notebook 01 run in a real (headless) browser (ci/browser_check.py)."""
    bin_dir = ensure_lab()
    return subprocess.run([str(bin_dir / "python"),
                           str(ROOT / "ci" / "browser_check.py"), *extra],
                          cwd=ROOT).returncode


def cmd_bench(opts, extra: list) -> int:
    ensure_envs()
    rc = 0
    for version in opts.mxnet:
        say(f"benchmarks on MXNet {version}")
        for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
            rc |= run_env(version, [str(script)] + extra).returncode
    return rc


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["test", "demo", "notebooks", "bench",
                                            "lab", "browser-check"])
    parser.add_argument("--mxnet", choices=VERSIONS, action="append",
                        help="only this MXNet version (repeatable)")
    parser.add_argument("--cpu", choices=CPUS, action="append",
                        help="test: only the environment as started "
                             "('default') or only this simulated CPU")
    parser.add_argument("--model", default="resnet18_v1",
                        help="demo: the model-zoo network (resnet18_v1)")
    parser.add_argument("--store", action="store_true",
                        help="notebooks: store the outputs (authors)")
    opts, extra = parser.parse_known_args()
    opts.mxnet = tuple(v for v in VERSIONS if v in (opts.mxnet or VERSIONS))
    opts.cpu = tuple(c for c in CPUS if c in (opts.cpu or CPUS))
    return {"test": cmd_test, "demo": cmd_demo, "notebooks": cmd_notebooks,
            "bench": cmd_bench, "lab": cmd_lab,
            "browser-check": cmd_browser_check}[opts.command](opts, extra)


if __name__ == "__main__":
    sys.exit(main())
