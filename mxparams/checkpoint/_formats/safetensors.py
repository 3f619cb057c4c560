"""safetensors, the weight format other frameworks share: written by
``mp.save`` to a ``.safetensors`` name and by the ``safetensors`` package
itself.  The package writes it and checks its header (``safe_open`` of a
private copy of the header); the data are read here at the offsets of that
checked header.  Its header has a metadata slot (text to text), where
mxparams keeps what wrote the file, how tied parameters are stored, and
the user's own entries (``mp.save(..., metadata=...)``).
"""


from __future__ import annotations

import json
import math
import os
import re
import struct

import numpy
import safetensors
import safetensors.numpy

from ...errors import CheckpointError
from .._common import META_TIED, Progress, StoredArray, _short_write
from .._source import IndexCopy, Source, index_read

# safetensors dtype codes that MXNet parameters can hold, as NumPy names.
_ST_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16",
              "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8",
              "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8",
              "BOOL": "bool"}


# The safetensors package refuses larger headers (its MAX_HEADER_SIZE).
_ST_MAX_HEADER = 100_000_000


def _read_safetensors(source: Source) -> tuple[dict, dict, dict]:
    """(arrays, metadata, aliases) of a safetensors file, data not read.

    The package checks the header (JSON, dtypes, shapes, and offsets that
    cover the data exactly) when it opens a file, but it opens a path and
    maps it, and the truncation of a mapped file by another process aborts
    the process from inside the package.  So it is given a private copy
    of the header alone, as long as the file (``_source.IndexCopy``: the
    data a hole that reads as zeros and costs nothing); once it has
    accepted the header, the tensors' offsets are taken from that same
    header and the data are read from the file as for the other formats.
    The format keeps no order (writers sort by dtype and name), so the
    keys are listed in natural order.
    """
    name = source.name
    (length,) = struct.unpack("<Q", source.read(0, 8))  # bounded by _detect
    index = source.read(0, 8 + length)
    header = index[8:]
    index_read(name)
    with IndexCopy(source, index) as copy:
        try:
            handle = safetensors.safe_open(copy.path, framework="numpy")
            metadata = dict(handle.metadata() or {})
            heads = [(key, handle.get_slice(key)) for key in handle.keys()]
            headers = [(key, s.get_dtype(), tuple(s.get_shape()))
                       for key, s in heads]
        except BaseException as err:
            if isinstance(err, Exception) or _is_panic(err):
                raise CheckpointError(name, f"corrupt safetensors file: "
                                            f"{' '.join(str(err).split())}"
                                      ) from None
            raise
        del handle, heads
    offsets = {key: entry["data_offsets"] for key, entry in json.loads(header).items()
               if key != "__metadata__"}
    arrays = {}
    for key, code, shape in sorted(headers, key=lambda h: _natural(h[0])):
        dtype_name = _ST_DTYPES.get(code)
        if dtype_name is None:
            if code == "BF16":
                raise CheckpointError(name, f"{key!r} is bfloat16, which MXNet's "
                                            "Python API cannot hold (dtype="
                                            "'bfloat16' raises on 1.9.1 and 2.0) "
                                            "and NumPy has no type for; convert "
                                            "it to float32 where it was written "
                                            "(PyTorch: tensor.float())")
            raise CheckpointError(name, f"{key!r} has the safetensors dtype "
                                        f"{code}, which no MXNet parameter holds; "
                                        "convert it where it was written to "
                                        "one MXNet has (float16, float32, "
                                        "float64 or an integer type)")
        dtype = numpy.dtype(dtype_name).newbyteorder("<")
        begin, end = offsets.get(key, (0, -1))
        if end - begin != math.prod(shape) * dtype.itemsize:
            # The package and json read the header differently (a key
            # given twice): nothing here can be trusted.
            raise CheckpointError(name, f"corrupt safetensors file: the header "
                                        f"of {key!r} is ambiguous")
        arrays[key] = StoredArray(source, key, shape, dtype, 8 + length + begin)
    if len(offsets) != len(arrays):  # as above
        raise CheckpointError(name, "corrupt safetensors file: the header "
                                    "is ambiguous")
    return arrays, metadata, _aliases(name, metadata, arrays)


def _aliases(name: str, metadata: dict, stored: dict) -> dict:
    """{other path: stored key} from META_TIED, checked against the file."""
    text = metadata.get(META_TIED)
    if text is None:
        return {}
    where = f"corrupt metadata {META_TIED!r}"
    try:
        tied = json.loads(text)
    except ValueError:
        raise CheckpointError(name, f"{where}: not JSON") from None
    if not isinstance(tied, dict) or not all(
            isinstance(others, list) and all(isinstance(o, str) for o in others)
            for others in tied.values()):
        raise CheckpointError(name, f"{where}: not a mapping of a path to a "
                                    "list of paths")
    aliases: dict = {}
    for key, others in tied.items():
        if key not in stored:
            raise CheckpointError(name, f"{where}: {key!r} is not a tensor of "
                                        "the file")
        for other in others:
            if other in stored or other in aliases:
                raise CheckpointError(name, f"{where}: {other!r} is stored "
                                            "in the file or tied twice")
            aliases[other] = key
    return aliases


def _check_safetensors(target: str, arrays: dict, metadata: dict | None) -> None:
    known = set(_ST_DTYPES.values())
    for key, value in arrays.items():
        if not isinstance(key, str):
            raise CheckpointError(target, f"cannot write the key {key!r}: "
                                          "safetensors keys are text")
        dtype = numpy.dtype(value.dtype).name
        if dtype not in known:
            raise CheckpointError(target, f"cannot write {key!r}: dtype {dtype} "
                                          "has no safetensors code")
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise CheckpointError(target, f"cannot write the metadata {key!r}: "
                                          "safetensors metadata is text to text")


def _save_safetensors(temp: str, arrays: dict, metadata: dict | None,
                      progress: Progress | None) -> None:
    tensors = {}
    for key, value in arrays.items():
        tensors[key] = _host(value)
        if progress is not None:
            progress(tensors[key].nbytes)
    safetensors.numpy.save_file(tensors, temp, metadata=metadata or None)


def _verify_safetensors(target: str, temp: str, wanted: list) -> None:
    """The safetensors file at ``temp`` is whole and holds ``wanted``."""
    with open(temp, "rb") as f:
        head = f.read(8)
        found = os.fstat(f.fileno()).st_size
    data = sum(math.prod(shape) * numpy.dtype(dtype).itemsize
               for _, shape, dtype in wanted)
    length = struct.unpack("<Q", head)[0] if len(head) == 8 else 0
    size = 8 + length + data
    if found != size:
        raise _short_write(target, found, size)
    try:
        handle = safetensors.safe_open(temp, framework="numpy")
        got = sorted((key, tuple(handle.get_slice(key).get_shape()),
                      _ST_DTYPES.get(handle.get_slice(key).get_dtype()))
                     for key in handle.keys())
    except Exception as err:
        raise CheckpointError(target, f"cannot write: the written file does "
                                      f"not read back ({err})") from None
    if got != sorted(wanted):
        raise CheckpointError(target, "cannot write: the written file does not "
                                      "hold the arrays that were saved")


def _is_panic(err: BaseException) -> bool:
    """A panic of the package's Rust code: pyo3 raises PanicException, a
    BaseException (not an Exception), which must not escape as such."""
    return type(err).__name__ == "PanicException"


def _natural(key: str) -> list:
    """Sort key: digit runs as numbers ('2.weight' before '10.weight')."""
    parts = re.split(r"(\d+)", key)
    parts[1::2] = map(int, parts[1::2])
    return parts


def _host(value) -> numpy.ndarray:
    """A C-contiguous NumPy copy or view of an MXNet, NumPy or lazy array.

    The package writes an array's buffer as it lies in memory, so a
    non-contiguous view (a transpose, a Fortran-ordered npz member) would
    be written in the wrong order.
    """
    if isinstance(value, StoredArray):
        value = value.read()
    elif not isinstance(value, numpy.ndarray):
        value = value.asnumpy()  # mx.np and mx.nd arrays (waits for them)
    return numpy.ascontiguousarray(value)
