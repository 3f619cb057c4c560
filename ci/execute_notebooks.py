"""Execute notebooks in a fresh kernel each and write the executed copies.

Run with the Python of an MXNet environment (tasks.py does):

    python ci/execute_notebooks.py KERNEL_DIR KERNEL_NAME OUT_DIR NOTEBOOK...

Each notebook runs with the kernel KERNEL_NAME from KERNEL_DIR (a kernel on
that environment that, like nbval's, does not capture C-level output),
started in the notebook's folder, as nbval starts its own.  Timing
metadata is not recorded and consecutive writes to one stream are merged
(how prints are split into messages depends on timing; nbval joins them
before comparing), so an executed copy changes only when outputs do.

The kernel is KERNEL_NAME, whatever the notebook's metadata names (the
chapter names the standard ``python3``, which is not an MXNet kernel
here), and the copy keeps the notebook's own kernelspec: whichever kernel
ran it, it names ``python3``, as the stored notebook does.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient


def merge_streams(outputs: list) -> list:
    """One output per run of consecutive writes to the same stream."""
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


def main(kernels: str, kernel: str, out_dir: str, paths: list[str]) -> int:
    specs = KernelSpecManager(kernel_dirs=[kernels])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in paths:
        path = Path(name)
        nb = nbformat.read(path, as_version=4)
        # The kernel named here, not the notebook's: given a kernel manager,
        # NotebookClient never reads the notebook's kernelspec (nor writes it).
        manager = KernelManager(kernel_name=kernel, kernel_spec_manager=specs)
        client = NotebookClient(nb, km=manager, kernel_name=kernel, timeout=600,
                                record_timing=False,
                                resources={"metadata": {"path": str(path.parent)}})
        with open(os.devnull, "wb") as null:  # the kernel's C-level logs
            client.execute(stderr=null)
        if manager.kernel_name != kernel:
            raise SystemExit(f"{path.name} ran on {manager.kernel_name}, not {kernel}")
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = merge_streams(cell.outputs)
        nbformat.write(nb, out / path.name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]))
