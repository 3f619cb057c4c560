"""Checkpoint files as bytes: which format a file is, its reader, and the
one writer (all formats, atomically).

The format is decided from a file's first bytes; each format's parser is
a module of ``_formats``.  No file is read by MXNet's loader or unpickled:
every count and length in an index is checked against the bytes that are
really there before anything is allocated, so a damaged file gives a
``CheckpointError`` and costs no more than its index.
"""


from __future__ import annotations

import os
import struct

import numpy

from .. import _compat
from ..errors import CheckpointError
from ._atomic import _replace
from ._common import (
    FORMATS,
    NPZ,
    SAFETENSORS,
    Progress,
    RawCheckpoint,
    StoredArray,
    StoredRows,
    file_name,
    materialize,
)
from ._formats.mxnet import (
    _LIST_HEAD,
    _check_portable,
    _parse_nd_list,
    _utf8_name,
    _verify_portable,
)
from ._formats.npz import _ZIP_HEADS, _parse_npz
from ._formats.safetensors import (
    _ST_MAX_HEADER,
    _check_safetensors,
    _read_safetensors,
    _save_safetensors,
    _verify_safetensors,
)
from ._source import Source


def read_all(arrays: list) -> list:
    """The values of ``arrays`` (entries of one file's
    ``RawCheckpoint.arrays``), read in one batch and checked once: a load
    reads everything before it writes anything, so a file that changes
    meanwhile changes nothing.

    C-ordered arrays of the host's byte order are read straight into
    legacy MXNet arrays on the CPU (``_compat.staging_arrays``, what a load
    copies from), the others (and row-sparse ones, made whole) into NumPy
    arrays.
    """
    out = [a.read() if isinstance(a, StoredRows) else a for a in arrays]
    stored = [(i, a) for i, a in enumerate(arrays) if type(a) is StoredArray]
    if not stored:
        return out
    staging = _compat.staging_arrays([(None if a._fortran else a.shape, a.dtype)
                                      for _, a in stored])
    parts, in_numpy = [], []
    for (i, a), staged in zip(stored, staging, strict=True):
        if staged is None:
            raw = numpy.empty(a.nbytes, numpy.uint8)
            in_numpy.append((i, a, raw))
            view = raw.data
        else:
            out[i], view = staged
        if len(view):
            parts.append((a._offset, view))
    stored[0][1]._source.readinto_many(parts)
    for i, a, raw in in_numpy:
        out[i] = a._finish(raw)
    return out


def read(path) -> RawCheckpoint:
    """Parse the checkpoint at ``path`` without reading its data.

    Only a regular file is opened (``_source``).  The format is decided
    from the first bytes, before anything else is read; then the index is
    read and every count, length and shape in it is checked against the
    bytes that are really there before anything is allocated.  The arrays
    are :class:`StoredArray` entries read when asked for (compressed npz
    members are inflated now, in bounded chunks), so a file that is not a
    checkpoint costs 16 bytes and a checkpoint costs its index.
    """
    name = file_name(path)
    source = Source(name)
    metadata: dict = {}
    aliases: dict = {}
    try:
        size = source.size
        head = source.read(0, min(16, size))
        kind = _detect(head, name, size)
        try:
            if kind == "list":
                fmt, arrays = _parse_nd_list(source)
            elif kind == "npz":
                fmt, arrays = NPZ, _parse_npz(source)
            else:
                fmt = SAFETENSORS
                arrays, metadata, aliases = _read_safetensors(source)
        except CheckpointError:
            raise
        except (OSError, MemoryError) as err:
            source.check()
            raise CheckpointError(name, f"cannot read the file: "
                                        f"{getattr(err, 'strerror', None) or err}"
                                  ) from None
        except Exception as err:
            # Whatever a damaged file makes struct/zipfile/numpy raise
            # becomes a CheckpointError, so callers see one error type; a
            # file that changed meanwhile is reported as such.
            source.check()
            raise CheckpointError(name, f"corrupt file ({type(err).__name__}:"
                                        f" {err})") from None
    except BaseException:
        source.close()
        raise
    return RawCheckpoint(name, fmt, arrays, size, metadata, aliases)


def _detect(head: bytes, name: str, size: int) -> str:
    """'list', 'npz' or 'safetensors' from the first bytes of a file.

    A safetensors file starts with the length of its JSON header (uint64,
    little-endian) and the header's '{'.  The other formats can never have
    a '{' at byte 8: MXNet writes 0 in its reserved field there, and a zip
    has the low byte of a compression method (0 or 8).  So a '{' there
    decides, even after the bytes of MXNet's list magic (a header of 274
    bytes).  Random bytes pass only if they also announce a header the
    package would accept, about one file in 10^13.
    """
    if not head:
        raise CheckpointError(name, "the file is empty")
    if head[8:9] == b"{":
        (length,) = struct.unpack("<Q", head[:8])
        if 2 <= length <= _ST_MAX_HEADER:
            if size and length > size - 8:
                raise CheckpointError(name, f"truncated: the safetensors header "
                                            f"is {length:,} bytes long, the file "
                                            f"ends {size - 8:,} bytes after its "
                                            "length")
            return "safetensors"
    if head[:8] == _LIST_HEAD:
        return "list"
    if head[:4] in _ZIP_HEADS:
        return "npz"
    if _LIST_HEAD.startswith(head) or _ZIP_HEADS[0].startswith(head):
        raise CheckpointError(name, f"truncated: the file ends after "
                                    f"{len(head)} bytes, inside its header")
    raise CheckpointError(name, _foreign(head))


def _foreign(head: bytes) -> str:
    if head.startswith(b"\x93NUMPY"):
        what = "a single NumPy .npy array, not a file of named parameters"
    elif head[:1] == b"\x80" and head[1:2] in b"\x02\x03\x04\x05":
        what = ("a Python pickle; mxparams never unpickles a file (that could "
                "run code from it)")
    elif head.lstrip()[:1] in (b"{", b"["):
        what = ("JSON text (an MXNet -symbol.json?); the parameters of an "
                "export are in the -NNNN.params file")
    elif head.startswith(b"\x89HDF"):
        what = "an HDF5 file, not an MXNet parameter file"
    else:
        what = ("not a parameter file (neither MXNet's NDArray format, a "
                "NumPy .npz nor safetensors); it starts with bytes "
                + head[:8].hex(" "))
    return f"unknown format: {what}"


def choose_format(path, format: str | None) -> str:
    """The format to write: ``format``, else 'safetensors' for a
    ``.safetensors`` name and 'mxnet' (the portable NDArray list) else."""
    if format is None:
        suffix = os.path.splitext(file_name(path))[1]
        return "safetensors" if suffix.lower() == ".safetensors" else "mxnet"
    if not isinstance(format, str):
        raise TypeError(f"format must be a str ({' or '.join(map(repr, FORMATS))})"
                        f", got {type(format).__name__}")
    if format not in FORMATS:
        raise ValueError(f"format={format!r} is not a format mxparams writes; "
                         "choose 'mxnet' (MXNet's NDArray list, which "
                         "load_parameters reads on every MXNet) or "
                         "'safetensors' (for other frameworks)")
    return format


def write(path, arrays: dict, progress: Progress | None = None, *,
          format: str = "mxnet", metadata: dict | None = None) -> None:
    """Write ``arrays`` in ``format`` (of ``FORMATS``), atomically.

    The data go to a temporary file beside the target, are read back
    (size, header and index) and flushed to disk, and only then renamed
    over the target, so a crash, a kill, a full disk or a file-size limit
    at any moment leaves either the old file or the whole new one, and a
    write that failed is a :class:`CheckpointError`, never a success.  A
    target that is a symbolic link is written through (the file it points
    to is replaced; the link stays), as Gluon's ``save_parameters`` does.
    A temporary file left by a killed process
    ('.<name>.mxparams-tmp.<pid>.<hex>') is removed by the next save to
    the same target once its process is gone.  ``arrays`` holds MXNet (np
    or nd) arrays, NumPy arrays or :class:`StoredArray`; ``metadata`` (text
    to text) goes into a safetensors file.
    """
    target = file_name(path)
    wanted = [(key, tuple(value.shape), numpy.dtype(value.dtype).name)
              for key, value in arrays.items()]
    if format == "safetensors":
        _check_safetensors(target, arrays, metadata)

        def fill(temp: str) -> None:
            _save_safetensors(temp, arrays, metadata, progress)
            _verify_safetensors(target, temp, wanted)
    else:
        _check_portable(target, arrays)

        def fill(temp: str) -> None:
            with _utf8_name(target, temp) as name:
                _compat.save_portable(name, {k: materialize(v) for k, v in
                                             arrays.items()}, progress)
            _verify_portable(target, temp, wanted)
    _replace(target, fill)
