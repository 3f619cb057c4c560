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

Simulated CPUs.  float32 results of matrix products and reductions depend
on the kernels oneDNN and OpenBLAS pick for the CPU (and on MXNet's
settings), so printed outputs must hold on any CPU, not only on this one.
``test`` runs the whole suite in the environment it was started in, then,
on each version, the tests marked ``cpu_matrix`` (the notebooks, goldens,
doctests and command-line output: everything that compares printed
numbers) again under each of SIMULATED_CPUS: library switches that make
this machine use the kernels another CPU would.  ``--cpu NAME``
(repeatable; ``default`` is the environment as started) restricts the
runs.  A matrix run that selects no test fails.

``test`` checks the notebooks strictly with nbval (configured in
pyproject.toml).  ``notebooks`` executes each notebook in a fresh kernel on
every version and every simulated CPU, writes the executed copies to
build/notebooks/mxnet-<version>[-<cpu>]/ and says whether what nbval
compares is the same in all of them and in the stored notebooks; ``demo``
does the same after the model-zoo tables, in the default environment only.
``notebooks --store`` (for authors, never run by the tests) then writes the
outputs into notebooks/*.ipynb, but only if every version on every
simulated CPU printed the same (figures, which nbval does not compare, come
from the default run).
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

# Other CPUs, imitated on this one through the libraries' own switches
# (docs/portable-outputs.md).  Each was chosen because, before the outputs
# were made portable, it changed printed numbers that this machine's
# default kernels did not.
SIMULATED_CPUS = {
    # A CPU without AVX (Intel Nehalem, 2008): oneDNN's SSE4.1 kernels and
    # OpenBLAS's Nehalem kernels.
    "sse41": {"DNNL_MAX_CPU_ISA": "SSE41", "OPENBLAS_CORETYPE": "Nehalem"},
    # An MXNet without oneDNN (MXNet's own kernels and OpenBLAS), on one
    # thread; both versions then log "Storage type fallback detected" to
    # stderr.
    "no-onednn": {"MXNET_MKLDNN_ENABLED": "0", "MXNET_ONEDNN_ENABLED": "0",
                  "OMP_NUM_THREADS": "1"},
}
DEFAULT_CPU = "default"  # the environment tasks.py was started in
CPUS = (DEFAULT_CPU,) + tuple(SIMULATED_CPUS)
# pytest marker of the tests that run under every simulated CPU
# (conftest.py puts it on notebook cells, doctests and golden tests).
MATRIX_MARK = "cpu_matrix"


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


def run_env(version: str, args: list, cpu: str = DEFAULT_CPU,
            **kw) -> subprocess.CompletedProcess:
    """Run the version's python with args, on a simulated CPU if asked."""
    env = dict(os.environ, MXPARAMS_EXPECT_MXNET=version,
               MXPARAMS_CPU=cpu, PYTHONDONTWRITEBYTECODE="1")
    env.update(SIMULATED_CPUS.get(cpu, {}))
    return subprocess.run([str(env_python(version))] + args, cwd=ROOT,
                          env=env, **kw)


def cpu_label(cpu: str) -> str:
    if cpu == DEFAULT_CPU:
        return "default environment"
    switches = " ".join(f"{k}={v}" for k, v in SIMULATED_CPUS[cpu].items())
    return f"simulated CPU {cpu} ({switches})"


def matrix_args(extra: list) -> list:
    """pytest arguments of a simulated-CPU run: only the cpu_matrix tests.

    A ``-m`` expression of the caller narrows the selection further;
    ``--update-goldens`` is dropped, so goldens are written by the default
    run only and then compared under every simulated CPU.
    """
    args = [a for a in extra if a != "--update-goldens"]
    for i, arg in enumerate(args):
        if arg == "-m" and i + 1 < len(args):
            args[i + 1] = f"{MATRIX_MARK} and ({args[i + 1]})"
            return args
    return args + ["-m", MATRIX_MARK]


def cmd_test(opts, extra: list) -> int:
    pythons = ensure_envs(opts.mxnet)
    results = []
    for version in pythons:
        for cpu in opts.cpu:
            matrix = cpu != DEFAULT_CPU
            say(f"pytest on MXNet {version}, {cpu_label(cpu)}"
                + (f": the {MATRIX_MARK} tests" if matrix else ""))
            args = matrix_args(extra) if matrix else extra
            started = time.time()
            rc = run_env(version, ["-m", "pytest"] + args, cpu=cpu).returncode
            if rc == 5:  # pytest's "no tests collected": nothing was checked
                say("  the run selected no test (pytest exit 5): a failure")
            results.append((version, cpu, rc, time.time() - started))
    say("summary:")
    for version, cpu, rc, secs in results:
        state = "passed" if rc == 0 else f"FAILED (pytest exit {rc})"
        what = "all tests" if cpu == DEFAULT_CPU else f"{MATRIX_MARK} tests"
        say(f"  MXNet {version:8} {cpu:10} {what:16} {state} in {secs:.0f} s")
    matrix = sum(secs for _, cpu, _, secs in results if cpu != DEFAULT_CPU)
    if matrix:
        say(f"  the simulated CPUs took {matrix:.0f} s of "
            f"{sum(r[3] for r in results):.0f} s")
    return 0 if all(rc == 0 for _, _, rc, _ in results) else 1


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
    notebooks_ok = run_notebooks(pythons, store=False, cpus=(DEFAULT_CPU,))
    return 0 if same and notebooks_ok else 1


# --- notebooks -------------------------------------------------------------

def notebook_paths() -> list:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


# What nbval leaves out when it compares a cell's outputs (nbval/plugin.py,
# IPyNbFile.skip_compare, without --nbdime): figures among them.
NBVAL_SKIPS = frozenset({
    "metadata", "traceback", "prompt_number", "output_type", "name",
    "execution_count", "application/vnd.jupyter.widget-view+json",
    "image/png", "image/jpeg"})


def _text(value):
    return "".join(value) if isinstance(value, list) else value


def _compared_cell(outputs: list) -> dict:
    """One cell's outputs as nbval compares them.

    nbval joins all writes to one stream (stdout, stderr) into one text,
    then flattens each output into its keys and each result into its MIME
    types, skipping NBVAL_SKIPS; every key maps to its values in order.
    """
    view = {}
    for out in outputs:
        if out["output_type"] == "stream":
            texts = view.setdefault(out["name"], [""])
            texts[0] += _text(out["text"])
            continue
        for key, value in out.items():
            if key == "data":
                for mime, content in value.items():
                    if mime not in NBVAL_SKIPS:
                        view.setdefault(mime, []).append(_text(content))
            elif key not in NBVAL_SKIPS:
                view.setdefault(key, []).append(_text(value))
    return view


def _compared(path: Path) -> list:
    """What nbval compares in a notebook: one view per code cell."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [_compared_cell(cell.get("outputs", []))
            for cell in cells if cell["cell_type"] == "code"]


def _differing(a: list, b: list) -> str:
    if len(a) != len(b):
        return f"count: {len(a)} vs {len(b)}"
    return ", ".join(str(i) for i, (x, y) in enumerate(zip(a, b)) if x != y)


def run_name(version: str, cpu: str) -> str:
    return f"mxnet-{version}" + ("" if cpu == DEFAULT_CPU else f"-{cpu}")


def run_notebooks(pythons: dict, store: bool, cpus=CPUS) -> bool:
    """Execute notebooks/ on each version and CPU into build/; maybe store.

    The outputs are stored only if every run printed the same in what
    nbval compares; the stored file is the first version's default run.
    """
    paths = notebook_paths()
    runs = [(version, cpu) for version in pythons for cpu in cpus]
    for version, cpu in runs:
        say(f"executing {len(paths)} notebooks on MXNet {version}, "
            f"{cpu_label(cpu)}")
        started = time.time()
        out = EXECUTED / run_name(version, cpu)
        done = run_env(version, [str(ROOT / "tasks.py"), "_execute",
                                 "--mxnet", version, str(out)]
                       + [str(p) for p in paths], cpu=cpu)
        if done.returncode != 0:
            say(f"notebooks FAILED on MXNet {version}, {cpu_label(cpu)}")
            return False
        say(f"  done in {time.time() - started:.0f} s; executed copies in "
            f"{out.relative_to(ROOT)}/")
    names = ", ".join(f"{v}/{c}" for v, c in runs)
    ok = True
    for path in paths:
        views = {run: _compared(EXECUTED / run_name(*run) / path.name)
                 for run in runs}
        first = views[runs[0]]
        for run, view in views.items():
            if view != first:
                say(f"  {path.name}: MXNet {run[0]}/{run[1]} printed other "
                    f"outputs than MXNet {runs[0][0]}/{runs[0][1]} "
                    f"(code cells {_differing(first, view)})")
                ok = False
        stored = _compared(path)
        if not store and first != stored:
            say(f"  {path.name}: outputs DIFFER from the stored ones (code "
                f"cells {_differing(first, stored)}; authors: python3 "
                "tasks.py notebooks --store)")
            ok = False
    if ok and store:
        source = EXECUTED / run_name(*runs[0])
        for path in paths:
            path.write_bytes((source / path.name).read_bytes())
        say(f"stored the outputs of {len(paths)} notebooks in "
            f"{NOTEBOOKS.relative_to(ROOT)}/ (the same on {names})")
    elif ok:
        say(f"notebook outputs are the same on {names} and equal the stored "
            "ones")
    if store and not ok:
        say("nothing stored: an output that differs between versions or "
            "CPUs would fail somewhere else; print what holds on every CPU "
            "(docs/portable-outputs.md)")
    say("to open them in Jupyter with mxparams installed: JUPYTER_PATH="
        f"{KERNELS.parent} jupyter lab {NOTEBOOKS} (kernels "
        f"{', '.join(kernel_name(v) for v in VERSIONS)})")
    return ok


def cmd_notebooks(opts, extra: list) -> int:
    if extra:
        raise SystemExit(f"[tasks] notebooks takes no arguments besides "
                         f"--store, --mxnet and --cpu, got {' '.join(extra)}")
    if opts.store and (set(opts.mxnet) != set(VERSIONS)
                       or set(opts.cpu) != set(CPUS)):
        raise SystemExit("[tasks] notebooks --store runs every MXNet version "
                         "on every simulated CPU (it stores only outputs they "
                         "all print); drop --mxnet and --cpu")
    return 0 if run_notebooks(ensure_envs(opts.mxnet), opts.store,
                              opts.cpu) else 1


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
    parser.add_argument("--cpu", choices=CPUS, action="append",
                        help="test, notebooks: only the default environment "
                             "or only this simulated CPU (repeatable)")
    parser.add_argument("--store", action="store_true",
                        help="notebooks: write the outputs into notebooks/ "
                             "(only if every version on every simulated CPU "
                             "printed the same)")
    opts, extra = parser.parse_known_args()
    opts.mxnet = tuple(opts.mxnet or VERSIONS)
    opts.cpu = tuple(c for c in CPUS if c in (opts.cpu or CPUS))
    return {"test": cmd_test, "demo": cmd_demo, "bench": cmd_bench,
            "notebooks": cmd_notebooks}[opts.command](opts, extra)


if __name__ == "__main__":
    sys.exit(main())
