"""NumPy ``.npz``: a zip of ``<key>.npy`` members, written by 2.x
``save_parameters`` and ``export``.  Read only, in Python (never
unpickled); stored members are read at their offsets when asked for,
compressed ones inflated in bounded chunks.
"""


from __future__ import annotations

import math
import os
import struct
import zipfile

import numpy

from ...errors import CheckpointError
from .._common import _CHUNK, MXNET_DTYPES, StoredArray, _named
from .._source import Source, index_read

_ZIP_HEADS = (b"PK\x03\x04", b"PK\x05\x06")


def _parse_npz(source: Source) -> dict:
    """The members of a NumPy npz: stored ones read later, compressed ones now.

    numpy.savez (and so MXNet 2's save_parameters) stores members
    uncompressed: their data lie at an offset of the file and are read
    when asked for (StoredArray).  savez_compressed members are inflated
    in bounded chunks into arrays of their own.
    """
    name = source.name
    # zipfile reads through a file object of its own (a duplicate of the
    # descriptor); the data of stored members are read with pread later.
    with open(os.dup(source.fileno()), "rb") as f:
        archive = zipfile.ZipFile(f)
        keys, arrays = [], []
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                raise CheckpointError(name, f"zip member {info.filename!r} is "
                                            "not a .npy array")
            keys.append(info.filename[:-4])
            arrays.append(_npz_member(archive, info, f, source))
    index_read(name)
    return _named(name, keys, arrays)


def _npz_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, f,
                source: Source):
    name, size = source.name, source.size
    member = repr(info.filename)
    stored = info.compress_type == zipfile.ZIP_STORED
    if not stored and info.compress_type != zipfile.ZIP_DEFLATED:
        raise CheckpointError(name, f"zip member {member} uses compression "
                                    f"method {info.compress_type}")
    # Sizes come from the (maybe damaged) directory: bound them by the
    # bytes present (deflate expands at most ~1032x) before reading.
    if (info.header_offset + info.compress_size > size
            or (stored and info.file_size != info.compress_size)
            or info.file_size > 1032 * info.compress_size + 1024):
        raise CheckpointError(name, f"corrupt: zip member {member} claims "
                                    f"{info.file_size:,} bytes")
    fmt = numpy.lib.format
    with archive.open(info) as stream:
        version = fmt.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(stream)
        else:
            raise CheckpointError(name, f"zip member {member} has .npy "
                                        f"version {version}")
        if dtype.hasobject:
            raise CheckpointError(name, f"zip member {member} holds Python "
                                        "objects (pickled); mxparams never "
                                        "unpickles a file")
        if dtype.fields is not None or numpy.dtype(dtype.name).name not in (
                set(MXNET_DTYPES.values())):
            raise CheckpointError(name, f"zip member {member} has dtype "
                                        f"{dtype}, not a parameter dtype")
        elements = math.prod(shape)
        nbytes = elements * dtype.itemsize
        header = stream.tell()
        if header + nbytes != info.file_size:
            raise CheckpointError(name, f"corrupt: zip member {member} of "
                                        f"shape {shape} should hold {nbytes:,} "
                                        f"bytes of data")
        if stored:
            start = _member_data(f, info, size, name) + header
            return StoredArray(source, info.filename[:-4], tuple(shape), dtype,
                               start, fortran)
        array = _inflate(stream, dtype, elements, member, name)
    array = array.reshape(shape, order="F" if fortran else "C")
    return array if dtype.isnative else array.astype(dtype.newbyteorder("="))


def _member_data(f, info: zipfile.ZipInfo, size: int, name: str) -> int:
    """Where a stored member's bytes start in the file: after its local header."""
    f.seek(info.header_offset)
    local = f.read(30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise CheckpointError(name, f"corrupt: zip member {info.filename!r} "
                                    "has no local header")
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    start = info.header_offset + 30 + name_len + extra_len
    if start + info.compress_size > size:
        raise CheckpointError(name, f"truncated: zip member {info.filename!r} "
                                    "ends after the end of the file")
    return start


def _inflate(stream, dtype, elements: int, member: str, name: str) -> numpy.ndarray:
    """A compressed member's data, read in bounded chunks into its array."""
    array = numpy.empty(elements, dtype)
    view = array.data.cast("B")
    done = 0
    while done < len(view):
        got = stream.readinto(view[done:done + _CHUNK])
        if not got:
            raise CheckpointError(name, f"corrupt: zip member {member} is "
                                        "cut short")
        done += got
    if stream.read(1):
        raise CheckpointError(name, f"corrupt: zip member {member} has bytes "
                                    "after its data")
    return array
