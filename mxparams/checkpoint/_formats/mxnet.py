"""MXNet's NDArray-list binary: written by ``mx.nd.save``, by 1.x
``save_parameters`` and ``export``, and by ``mp.save``::

    uint64 0x112, uint64 reserved, uint64 n,
    n arrays:  uint32 magic (0xF993FAC9; 0xF993FACA = "np shape"),
               int32 storage type (0 = dense), int32 ndim, int64 dims[ndim],
               int32 device type, int32 device id, int32 dtype flag, data
    uint64 n (or 0 for an unnamed list), n names: uint64 length, bytes

(``NDArray::Save`` and ``NDArray::Load`` in MXNet's ``src/ndarray/ndarray.cc``;
all numbers little-endian.)  Parsed here in Python, never by MXNet's loader,
which trusts the file: a corrupt array count makes it allocate before it
reads (``std::bad_alloc`` for a flipped count, gigabytes for a flipped
dimension), a corrupt name length silently yields a key ``''``, and 1.x in
nd mode refuses the "np shape" files that 1.x writes in numpy mode.  Here
every count and length is checked against the bytes that are really there
before anything is allocated.  Written by MXNet's own writer
(``_compat.save_portable``), then checked here.
"""


from __future__ import annotations

import contextlib
import math
import os
import struct

import numpy

from ...errors import CheckpointError
from .._common import (
    MXNET,
    MXNET_DTYPES,
    MXNET_NP,
    MXNET_ROW_SPARSE,
    StoredArray,
    StoredRows,
    _named,
    _short_write,
)
from .._source import Cursor, Source, index_read

_LIST_MAGIC = 0x112


_ARRAY_MAGIC = 0xF993FAC9      # shape semantics of MXNet 1.x ('0' = unknown)


_ARRAY_MAGIC_NP = 0xF993FACA   # "np shape" (written in numpy mode on 1.x)


_ARRAY_MAGIC_V1 = 0xF993FAC8   # MXNet before 1.0


# mshadow type flags; 1.9.1's Python API knows 0..7, 2.x also 8..11.


#: dtypes that MXNet 1.x and 2.x can both load from the portable format.
PORTABLE_DTYPES = frozenset(MXNET_DTYPES[i] for i in range(8))


_DEVICE_TYPES = {1, 2, 3, 5}   # cpu, gpu, cpu_pinned, cpu_shared


_MAX_NDIM = 32


_LIST_HEAD = struct.pack("<Q", _LIST_MAGIC)


def _parse_nd_list(source: Source) -> tuple[str, dict]:
    """The index of an NDArray list (its arrays' headers and names), read
    front to back; the data are skipped and read later (StoredArray)."""
    name, size = source.name, source.size
    cursor = Cursor(source)

    def take(fmt: str, what: str) -> tuple:
        n = struct.calcsize(fmt)
        if cursor.pos + n > size:
            raise CheckpointError(name, f"truncated: the file ends at byte "
                                        f"{size}, inside {what}")
        return struct.unpack(fmt, cursor.take(n))

    _, _, count = take("<QQQ", "the header")
    # The smallest array record is 12 bytes (magic, storage type, ndim).
    if count > (size - cursor.pos) // 12:
        raise CheckpointError(name, f"corrupt: the header announces {count:,} "
                                    f"arrays but only {size - cursor.pos:,} "
                                    "bytes follow")
    # Per array: None (an empty one) or (shape, dtype, offset of the data,
    # None or the row-sparse indices: their offset, how many, their dtype).
    arrays: list[tuple[tuple, numpy.dtype, int, tuple[int, int, numpy.dtype] | None] | None] = []
    np_shape = False

    def dims_of(ndim: int, where: str) -> tuple:
        if not 0 <= ndim <= _MAX_NDIM:
            raise CheckpointError(name, f"corrupt: {where} has {ndim} dimensions")
        dims = take(f"<{ndim}q", where)
        if min(dims, default=0) < 0:
            raise CheckpointError(name, f"corrupt: {where} has the shape {dims}")
        return tuple(dims)

    def data_of(what: str, shape: tuple, dtype: numpy.dtype) -> int:
        """Skip ``what``'s data, checked to be there; its offset."""
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > size - cursor.pos:
            raise CheckpointError(name, f"truncated: {what} of shape "
                                        f"{shape} needs {nbytes:,} bytes, "
                                        f"{size - cursor.pos:,} are left")
        offset = cursor.pos
        cursor.skip(nbytes)
        return offset

    for i in range(count):
        where = f"array {i + 1} of {count}"
        magic, stype, ndim = take("<Iii", where)
        if magic not in (_ARRAY_MAGIC, _ARRAY_MAGIC_NP):
            old = " (the format of MXNet before 1.0)" if magic == _ARRAY_MAGIC_V1 else ""
            raise CheckpointError(name, f"corrupt: {where} has the unknown "
                                        f"header 0x{magic:08x}{old}")
        np_shape |= magic == _ARRAY_MAGIC_NP
        if stype == 2:
            raise CheckpointError(name, f"{where} is a CSR sparse array; "
                                        "parameters are dense or row-sparse")
        if stype not in (0, 1):
            raise CheckpointError(name, f"corrupt: {where} has the unknown "
                                        f"storage type {stype}")
        stored = None
        if stype == 1:
            # Row-sparse (1.x SparseEmbedding, saved by save_parameters): the
            # stored rows' shape comes first, then the array's.
            stored = dims_of(ndim, where)
            (ndim,) = take("<i", where)
        # An empty NDArray: ndim 0 in 1.x semantics, -1 in numpy semantics.
        if ndim == (-1 if magic == _ARRAY_MAGIC_NP else 0):
            arrays.append(None)
            continue
        dims = dims_of(ndim, where)
        dev_type, dev_id, flag = take("<iii", where)
        if dev_type not in _DEVICE_TYPES or not 0 <= dev_id < 1 << 16:
            raise CheckpointError(name, f"corrupt: {where} names the unknown "
                                        f"device {dev_type}/{dev_id}")
        if flag not in MXNET_DTYPES:
            what = "bfloat16, which NumPy cannot hold" if flag == 12 else (
                f"the unknown dtype code {flag}")
            raise CheckpointError(name, f"{where} has {what}")
        dtype = numpy.dtype(MXNET_DTYPES[flag]).newbyteorder("<")
        if stored is None:
            arrays.append((dims, dtype, data_of(where, dims, dtype), None))
            continue
        index_flag, index_ndim = take("<ii", where)
        index_dims = dims_of(index_ndim, where)
        if (not dims or len(stored) != len(dims) or stored[1:] != dims[1:]
                or stored[0] > dims[0] or index_dims != stored[:1]
                or MXNET_DTYPES.get(index_flag) not in ("int32", "int64")):
            raise CheckpointError(name, f"corrupt: {where} is row-sparse with "
                                        f"rows {stored}, row indices "
                                        f"{index_dims} of dtype code "
                                        f"{index_flag}, in shape {dims}")
        whole = math.prod(dims) * dtype.itemsize
        if whole > max(4 * size, 1 << 30):
            # It is made whole when read: a record that claims a vast shape
            # with few rows stored would take all memory (save_parameters
            # stores every row).
            raise CheckpointError(name, f"{where} is row-sparse, {stored[0]:,} "
                                        f"rows stored of shape {dims}: "
                                        f"{whole:,} bytes once whole, beyond "
                                        "what mxparams reads from a file of "
                                        f"{size:,} bytes")
        values = data_of(where, stored, dtype)
        index_dtype = numpy.dtype(MXNET_DTYPES[index_flag]).newbyteorder("<")
        rows = (data_of(where, index_dims, index_dtype), stored[0], index_dtype)
        arrays.append((dims, dtype, values, rows))
    (named,) = take("<Q", "the name table")
    if named not in (0, count):
        raise CheckpointError(name, f"corrupt: {count} arrays but {named:,} names")
    if named == 0 and count:
        raise CheckpointError(name, f"holds an unnamed list of {count} arrays "
                                    "(mx.nd.save of a list), not named parameters")
    keys = []
    for i in range(named):
        (length,) = take("<Q", f"name {i + 1}")
        if length > size - cursor.pos:
            raise CheckpointError(name, f"truncated: name {i + 1} is {length:,} "
                                        f"bytes long, {size - cursor.pos:,} are "
                                        "left")
        try:
            keys.append(cursor.take(length).decode("utf-8"))
        except UnicodeDecodeError:
            raise CheckpointError(name, f"corrupt: name {i + 1} is not "
                                        "UTF-8 text") from None
    if cursor.pos != size:
        raise CheckpointError(name, f"corrupt: {size - cursor.pos:,} unexpected "
                                    "bytes after the last name")
    index_read(name)
    records: list[StoredArray | None] = []
    for key, entry in zip(keys, arrays, strict=True):
        if entry is None:
            records.append(None)
            continue
        shape, dtype, offset, index = entry
        records.append(StoredArray(source, key, shape, dtype, offset) if index is None
                       else StoredRows(source, key, shape, dtype, offset, index))
    fmt = (MXNET_ROW_SPARSE if any(isinstance(a, StoredRows) for a in records)
           else MXNET_NP if np_shape else MXNET)
    return fmt, _named(name, keys, records)


def _check_portable(target: str, arrays: dict) -> None:
    for key, value in arrays.items():
        dtype = numpy.dtype(value.dtype).name
        if dtype not in PORTABLE_DTYPES:
            raise CheckpointError(target, f"cannot write {key!r}: dtype {dtype} "
                                          "cannot be loaded by MXNet 1.x")
        if not value.shape or 0 in value.shape:
            raise CheckpointError(target, f"cannot write {key!r} of shape "
                                          f"{tuple(value.shape)}: MXNet's "
                                          "portable format has no scalars or "
                                          "empty arrays")


@contextlib.contextmanager
def _utf8_name(target: str, path: str):
    """``path`` as MXNet's writer can open it.

    MXNet takes a file name as UTF-8 text, so a name holding bytes that
    are not UTF-8 (``os.fsdecode`` keeps them as surrogates) cannot be
    passed on; on Linux the file (created already) is reached through
    ``/proc/self/fd`` instead.
    """
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        yield path
        return
    if not os.path.isdir("/proc/self/fd"):
        raise CheckpointError(target, "cannot write: MXNet's writer takes "
                                      "only UTF-8 file names on this system; "
                                      "choose another name, or write "
                                      "safetensors")
    fd = os.open(path, os.O_WRONLY)
    try:
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


def _verify_portable(target: str, temp: str, wanted: list) -> None:
    """The NDArray list at ``temp`` is whole and holds ``wanted``.

    MXNet's writer does not report every failed write (``mx.nd.save``
    loses the error of its last buffered write, so a full disk yields a
    cut file and success), so its size is compared with the one its
    layout implies, and its header and index are read back.
    """
    size = 24 + 8 + sum(24 + 8 * len(shape) + math.prod(shape)
                        * numpy.dtype(dtype).itemsize + 8
                        + len(key.encode("utf-8")) for key, shape, dtype in wanted)
    found = os.stat(temp).st_size
    if found != size:
        raise _short_write(target, found, size)
    source = Source(temp)
    try:
        _, arrays = _parse_nd_list(source)
    except CheckpointError as err:
        raise CheckpointError(target, f"cannot write: the written file does "
                                      f"not read back ({err.reason})") from None
    except Exception as err:
        raise CheckpointError(target, f"cannot write: the written file does "
                                      f"not read back ({type(err).__name__}: "
                                      f"{err})") from None
    finally:
        source.close()
    got = [(key, tuple(a.shape), a.dtype.name) for key, a in arrays.items()]
    if got != wanted:
        raise CheckpointError(target, "cannot write: the written file does not "
                                      "hold the arrays that were saved")
