#!/usr/bin/env python3
"""Set-up and checks for mxparams; needs nothing but python3 (3.8+).

    python3 tasks.py demo     # the main job, on both MXNet versions
    python3 tasks.py test     # the whole test suite, on both MXNet versions
    python3 tasks.py bench    # benchmarks/ on both versions (not a test)
    python3 tasks.py notebooks [--store]   # run notebooks/ (authors: --store)

Each MXNet version gets its own virtual environment under .venvs/, built on
first use and reused while pyproject.toml and ci/constraints.txt are
unchanged, and a Jupyter kernel on it (.venvs/jupyter/kernels/).  A version
whose environment cannot be built fails the run; nothing is skipped.  Extra
arguments after ``test`` go to pytest, and ``--mxnet 1.9.1`` (or
``2.0.0b1``) restricts a command to one version.

``test`` checks the notebooks strictly with nbval (configured in
pyproject.toml).  ``notebooks`` executes each notebook in a fresh kernel on
every version, writes the executed copies to build/notebooks/mxnet-<version>/
and says whether their outputs equal each other and the stored ones;
``demo`` does the same after the model-zoo tables.  ``notebooks --store``
(for authors, never run by the tests) then writes the outputs into
notebooks/*.ipynb, but only if every version printed the same.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VERSIONS = ("1.9.1", "2.0.0b1")
STAMP_INPUTS = ("pyproject.toml", "ci/constraints.txt")
NOTEBOOKS = ROOT / "notebooks"
EXECUTED = ROOT / "build" / "notebooks"
KERNELS = ROOT / ".venvs" / "jupyter" / "kernels"
# The kernel named in the notebooks' metadata: what Jupyter starts when a
# reader opens one with JUPYTER_PATH=.venvs/jupyter (README).
DEFAULT_KERNEL_VERSION = "2.0.0b1"


def say(msg: str) -> None:
    print(f"[tasks] {msg}", flush=True)


def env_dir(version: str) -> Path:
    return ROOT / ".venvs" / f"mxnet-{version}"


def env_python(version: str) -> Path:
    return env_dir(version) / "bin" / "python"


def _stamp() -> str:
    h = hashlib.sha256(sys.version.encode())
    for name in STAMP_INPUTS:
        h.update((ROOT / name).read_bytes())
    return h.hexdigest()


def kernel_name(version: str) -> str:
    return f"mxparams-mxnet-{version}"


def kernel_display_name(version: str) -> str:
    return f"Python 3 (mxparams, MXNet {version})"


def write_kernelspec(version: str) -> None:
    """A Jupyter kernel on this version's environment, with mxparams.

    The authors' command runs the notebooks with it, and a reader's Jupyter
    finds it through JUPYTER_PATH=.venvs/jupyter.  It does not capture
    C-level output (ipykernel's capture_fd_output): under pytest nbval's
    kernel does not either, so both see the same cell outputs, and MXNet
    2's storage-manager log line (COMPAT §1) goes to the terminal instead
    of into the notebook.
    """
    spec = {
        "argv": [str(env_python(version)), "-m", "ipykernel_launcher",
                 "-f", "{connection_file}",
                 "--IPKernelApp.capture_fd_output=False"],
        "display_name": kernel_display_name(version),
        "language": "python",
        "metadata": {"debugger": True},
    }
    path = KERNELS / kernel_name(version) / "kernel.json"
    text = json.dumps(spec, indent=1) + "\n"
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def ensure_env(version: str) -> Path:
    """Create or update the environment for one MXNet version."""
    where = env_dir(version)
    stamp_file = where / ".mxparams-stamp"
    stamp = _stamp()
    if stamp_file.exists() and stamp_file.read_text() == stamp:
        write_kernelspec(version)
        return env_python(version)
    say(f"building {where.relative_to(ROOT)} (MXNet {version}) ...")
    started = time.time()
    if not env_python(version).exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(where)
    cmd = [str(env_python(version)), "-m", "pip", "install", "--quiet",
           "--disable-pip-version-check",
           "-c", str(ROOT / "ci" / "constraints.txt"),
           f"mxnet=={version}", "-e", f"{ROOT}[test,plot]"]
    done = subprocess.run(cmd, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"[tasks] FAILED to build the MXNet {version} "
                         f"environment (pip exit {done.returncode}); "
                         "this version is not tested, so the run fails")
    stamp_file.write_text(stamp)
    write_kernelspec(version)
    say(f"built MXNet {version} environment in {time.time() - started:.0f} s")
    return env_python(version)


def ensure_envs(versions) -> dict:
    """Build missing environments in parallel (pip is mostly waiting)."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(len(versions)) as pool:
        return dict(zip(versions, pool.map(ensure_env, versions)))


def run_env(version: str, args: list, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, MXPARAMS_EXPECT_MXNET=version,
               PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([str(env_python(version))] + args, cwd=ROOT,
                          env=env, **kw)


def cmd_test(opts, extra: list) -> int:
    pythons = ensure_envs(opts.mxnet)
    results = {}
    for version in pythons:
        say(f"pytest on MXNet {version}")
        started = time.time()
        rc = run_env(version, ["-m", "pytest"] + extra).returncode
        results[version] = (rc, time.time() - started)
    say("summary:")
    for version, (rc, secs) in results.items():
        state = "passed" if rc == 0 else f"FAILED (pytest exit {rc})"
        say(f"  MXNet {version:8} {state} in {secs:.0f} s")
    return 0 if all(rc == 0 for rc, _ in results.values()) else 1


def cmd_demo(opts, extra: list) -> int:
    pythons = ensure_envs(opts.mxnet)
    args = ["-m", "mxparams", "demo", opts.model] + extra
    outputs = {}
    for version in pythons:
        done = run_env(version, args, capture_output=True, text=True)
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            say(f"demo FAILED on MXNet {version}")
            return 1
        outputs[version] = done.stdout
    first = next(iter(outputs))
    print(outputs[first], end="")
    same = len(set(outputs.values())) == 1
    say(f"printed by MXNet {first}; the output on "
        f"{' and '.join(outputs)} is " + ("identical" if same else "DIFFERENT"))
    notebooks_ok = run_notebooks(pythons, store=False)
    return 0 if same and notebooks_ok else 1


# --- notebooks -------------------------------------------------------------

def notebook_paths() -> list:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def _outputs(path: Path) -> list:
    """The stored outputs of every code cell, as nbval compares them
    (execution counts and output metadata aside)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [[{k: v for k, v in out.items()
              if k not in ("execution_count", "metadata")}
             for out in cell.get("outputs", [])]
            for cell in cells if cell["cell_type"] == "code"]


def run_notebooks(pythons: dict, store: bool) -> bool:
    """Execute notebooks/ on each version into build/; maybe store them."""
    paths = notebook_paths()
    for version in pythons:
        say(f"executing {len(paths)} notebooks on MXNet {version}")
        started = time.time()
        out = EXECUTED / f"mxnet-{version}"
        done = run_env(version, [str(ROOT / "tasks.py"), "_execute",
                                 "--mxnet", version, str(out)]
                       + [str(p) for p in paths])
        if done.returncode != 0:
            say(f"notebooks FAILED on MXNet {version}")
            return False
        say(f"  done in {time.time() - started:.0f} s; executed copies in "
            f"{out.relative_to(ROOT)}/")
    ok = True
    for path in paths:
        runs = {v: _outputs(EXECUTED / f"mxnet-{v}" / path.name) for v in pythons}
        if len({json.dumps(r, sort_keys=True) for r in runs.values()}) != 1:
            say(f"  {path.name}: outputs DIFFER between MXNet "
                f"{' and '.join(runs)}")
            ok = False
        elif not store and next(iter(runs.values())) != _outputs(path):
            say(f"  {path.name}: outputs DIFFER from the stored ones "
                "(authors: python3 tasks.py notebooks --store)")
            ok = False
    if ok and store:
        first = next(iter(pythons))
        for path in paths:
            path.write_bytes((EXECUTED / f"mxnet-{first}" / path.name).read_bytes())
        say(f"stored the outputs of {len(paths)} notebooks in "
            f"{NOTEBOOKS.relative_to(ROOT)}/ (identical on MXNet "
            f"{' and '.join(pythons)})")
    elif ok:
        say(f"notebook outputs are identical on MXNet {' and '.join(pythons)}"
            " and equal the stored ones")
    if store and not ok:
        say("nothing stored")
    say("to open them in Jupyter with mxparams installed: JUPYTER_PATH="
        f"{KERNELS.parent} jupyter lab {NOTEBOOKS} (kernels "
        f"{', '.join(kernel_name(v) for v in VERSIONS)})")
    return ok


def cmd_notebooks(opts, extra: list) -> int:
    if extra:
        raise SystemExit(f"[tasks] notebooks takes no arguments besides "
                         f"--store and --mxnet, got {' '.join(extra)}")
    if opts.store and set(opts.mxnet) != set(VERSIONS):
        raise SystemExit("[tasks] notebooks --store runs every MXNet version "
                         "(it stores only outputs they all print); drop --mxnet")
    return 0 if run_notebooks(ensure_envs(opts.mxnet), opts.store) else 1


def _merge_streams(outputs: list) -> list:
    """One output per run of consecutive writes to the same stream.

    How a cell's prints are split into messages depends on timing; nbval
    joins them before comparing, and stored notebooks should not change
    with the split either.
    """
    merged = []
    for out in outputs:
        last = merged[-1] if merged else None
        if (out["output_type"] == "stream" and last is not None
                and last["output_type"] == "stream"
                and last["name"] == out["name"]):
            last["text"] += out["text"]
        else:
            merged.append(out)
    return merged


def _execute(version: str, out_dir: str, paths: list) -> int:
    """Run inside a version's environment: execute notebooks into out_dir.

    Each notebook gets a fresh kernel from write_kernelspec(), started the
    way nbval starts its own: working directory notebooks/, the kernel's
    stderr (C-level logs) discarded.  Timing metadata is not recorded, so
    stored notebooks change only when outputs do.
    """
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    specs = KernelSpecManager(kernel_dirs=[str(KERNELS)])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in paths:
        path = Path(name)
        nb = nbformat.read(path, as_version=4)
        manager = KernelManager(kernel_name=kernel_name(version),
                                kernel_spec_manager=specs)
        client = NotebookClient(nb, km=manager, timeout=600,
                                record_timing=False,
                                resources={"metadata": {"path": str(path.parent)}})
        with open(os.devnull, "wb") as null:
            client.execute(stderr=null)
        # Whichever kernel ran it, a stored notebook names the default one.
        nb.metadata["kernelspec"] = {
            "name": kernel_name(DEFAULT_KERNEL_VERSION),
            "display_name": kernel_display_name(DEFAULT_KERNEL_VERSION),
            "language": "python"}
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = _merge_streams(cell.outputs)
        nbformat.write(nb, out / path.name)
    return 0


def cmd_bench(opts, extra: list) -> int:
    pythons = ensure_envs(opts.mxnet)
    rc = 0
    for version in pythons:
        say(f"benchmark on MXNet {version}")
        for script in ("benchmarks/bench_core.py", "benchmarks/bench_finite.py"):
            rc |= run_env(version, [script] + extra).returncode
    return rc


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    if sys.argv[1:2] == ["_execute"]:  # internal: see _execute()
        return _execute(sys.argv[3], sys.argv[4], sys.argv[5:])
    parser.add_argument("command", choices=["test", "demo", "bench", "notebooks"])
    parser.add_argument("--mxnet", choices=VERSIONS, action="append",
                        help="only this MXNet version (repeatable)")
    parser.add_argument("--model", default="resnet18_v1",
                        help="model-zoo network for demo (default resnet18_v1)")
    parser.add_argument("--store", action="store_true",
                        help="notebooks: write the outputs into notebooks/ "
                             "(only if every version printed the same)")
    opts, extra = parser.parse_known_args()
    opts.mxnet = tuple(opts.mxnet or VERSIONS)
    return {"test": cmd_test, "demo": cmd_demo, "bench": cmd_bench,
            "notebooks": cmd_notebooks}[opts.command](opts, extra)


if __name__ == "__main__":
    sys.exit(main())
