"""What a configuration really runs with, asked of the interpreter itself.

Run as a script (``python _probe.py``) by the target interpreter, in the
profile's environment plus oneDNN's verbose switches; it prints one line
of JSON: the MXNet version, whether oneDNN ran a primitive and which
instruction set it reports, and the core OpenBLAS chose.  This file
imports nothing of mxparams: the target interpreter need not have it.
"""
import ctypes
import json
import os
import sys


def main() -> None:
    from importlib.metadata import version

    import mxnet as mx

    # The version as its package says ('2.0.0b1'; mx.__version__ says
    # '2.0.0beta1'), which is what pip and the labels name.
    found = {"mxnet": version("mxnet"), "isa": None, "onednn_ran": False,
             "openblas_core": None}
    try:
        import ipykernel  # noqa: F401  (the kernel needs it)
        found["ipykernel"] = True
    except ImportError:
        found["ipykernel"] = False
    # A convolution and a matrix product: oneDNN (when on) runs the first,
    # and reports its instruction set on stdout with the verbose switch.
    x = mx.nd.ones((1, 3, 8, 8))
    w = mx.nd.ones((8, 3, 3, 3))
    mx.nd.Convolution(x, w, kernel=(3, 3), num_filter=8, no_bias=True).wait_to_read()
    mx.nd.dot(mx.nd.ones((16, 16)), mx.nd.ones((16, 16))).wait_to_read()
    sys.stdout.flush()
    for line in _captured():
        low = line.lower()
        if ",info,cpu,isa:" in low:
            found["isa"] = line.split("isa:", 1)[1].strip()
        if ",exec," in low:
            found["onednn_ran"] = True
    found["openblas_core"] = _openblas_core()
    found["openblas_reads_coretype"] = _reads("OPENBLAS_CORETYPE")
    print("MXPARAMS-PROBE " + json.dumps(found), flush=True)


def _captured() -> list:
    """The verbose lines oneDNN printed to fd 1 (redirected to a file)."""
    path = os.environ.get("MXPARAMS_PROBE_LOG")
    if not path or not os.path.exists(path):
        return []
    with open(path, errors="replace") as f:
        return f.read().splitlines()


def _reads(variable: str) -> bool:
    """Whether a library MXNet loaded names ``variable`` (reads it with
    getenv): 2.x links OpenBLAS into libmxnet and reports no core."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f
                     if "mxnet" in line.lower() and ".so" in line}
    except OSError:
        return False
    needle = variable.encode()
    for path in paths:
        try:
            with open(path, "rb") as lib:
                if needle in lib.read():
                    return True
        except OSError:
            continue
    return False


def _openblas_core():
    """OpenBLAS's chosen core, from the library MXNet loaded (if any)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower()}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
            get = lib.openblas_get_corename
        except (OSError, AttributeError):
            continue
        get.restype = ctypes.c_char_p
        name = get()
        return name.decode() if name else None
    return None


if __name__ == "__main__":
    log = os.environ.get("MXPARAMS_PROBE_LOG")
    if log:
        # oneDNN writes its verbose lines with printf on fd 1: send fd 1 to
        # the log, keep the result line on the real stdout.
        real = os.dup(1)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 1)
        os.close(fd)
        sys.stdout = os.fdopen(real, "w")
    main()
