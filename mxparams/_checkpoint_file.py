"""Checkpoint files as bytes: the readers and the atomic writer.

Two formats hold Gluon parameters:

* MXNet's NDArray-list binary, written by ``mx.nd.save``, by 1.x
  ``save_parameters`` and ``export``, and by ``mp.save``::

      uint64 0x112, uint64 reserved, uint64 n,
      n arrays:  uint32 magic (0xF993FAC9; 0xF993FACA = "np shape"),
                 int32 storage type (0 = dense), int32 ndim, int64 dims[ndim],
                 int32 device type, int32 device id, int32 dtype flag, data
      uint64 n (or 0 for an unnamed list), n names: uint64 length, bytes

  (``NDArray::Save`` and ``NDArray::Load`` in MXNet's
  ``src/ndarray/ndarray.cc``; all numbers little-endian.)
* A NumPy ``.npz`` zip of ``<key>.npy`` members, written by 2.x
  ``save_parameters`` and ``export``.
* safetensors, the weight format other frameworks share, written by
  ``mp.save`` to a ``.safetensors`` name and by the ``safetensors`` package
  itself.  It is written by that package, and its header is checked by
  it (``safe_open`` of a private copy of the header); the data are read
  here at the offsets of that checked header.

The first two are parsed here in Python with NumPy, never by MXNet's
loader, and nothing is ever unpickled.  MXNet's loader is not used because it trusts the
file: a corrupt array count makes it allocate before it reads
(``std::bad_alloc`` for a flipped count, gigabytes for a flipped dimension),
a corrupt name length silently yields a key ``''``, and 1.x in nd mode
refuses the "np shape" files that 1.x writes in numpy mode.  Here every
count and length is checked against the bytes that are really there before
anything is allocated, so any damaged file gives a ``CheckpointError``.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import secrets
import stat
import struct
import zipfile
from typing import Callable, NamedTuple

import numpy
import safetensors
import safetensors.numpy

from . import _compat
from ._source import Cursor, IndexCopy, Source, index_read
from .errors import CheckpointError

_LIST_MAGIC = 0x112
_ARRAY_MAGIC = 0xF993FAC9      # shape semantics of MXNet 1.x ('0' = unknown)
_ARRAY_MAGIC_NP = 0xF993FACA   # "np shape" (written in numpy mode on 1.x)
_ARRAY_MAGIC_V1 = 0xF993FAC8   # MXNet before 1.0
# mshadow type flags; 1.9.1's Python API knows 0..7, 2.x also 8..11.
_DTYPES = {0: "float32", 1: "float64", 2: "float16", 3: "uint8", 4: "int32",
           5: "int8", 6: "int64", 7: "bool", 8: "int16", 9: "uint16",
           10: "uint32", 11: "uint64"}
#: dtypes that MXNet 1.x and 2.x can both load from the portable format.
PORTABLE_DTYPES = frozenset(_DTYPES[i] for i in range(8))
_DEVICE_TYPES = {1, 2, 3, 5}   # cpu, gpu, cpu_pinned, cpu_shared
_MAX_NDIM = 32

#: Formats, as shown by ``inspect``.
MXNET = "MXNet NDArray list (portable: MXNet 1.x and 2.x, both modes)"
MXNET_NP = ("MXNet NDArray list with the numpy-shape flag (MXNet 1.x numpy "
            "mode; 1.x nd mode cannot load it)")
MXNET_ROW_SPARSE = ("MXNet NDArray list with row-sparse arrays (MXNet 1.x "
                    "save_parameters of a SparseEmbedding; numpy mode cannot "
                    "load it, mp.load makes them whole)")
NPZ = "NumPy npz (MXNet 2.x save_parameters; MXNet 1.x cannot load it)"
SAFETENSORS = ("safetensors (mp.load on MXNet 1.x and 2.x; other frameworks; "
               "not Gluon's load_parameters)")

#: What ``format=`` of ``mp.save`` and ``convert`` accepts: MXNet's NDArray
#: list that every MXNet loads, or safetensors.
FORMATS = ("mxnet", "safetensors")

# safetensors dtype codes that MXNet parameters can hold, as NumPy names.
_ST_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16",
              "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8",
              "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8",
              "BOOL": "bool"}
# The safetensors package refuses larger headers (its MAX_HEADER_SIZE).
_ST_MAX_HEADER = 100_000_000

#: Metadata that mp.save writes into a safetensors file (values are text,
#: as the format requires).  Only META_TIED changes what a load does.
META_WRITER = "mxparams"               # the mxparams version that wrote it
META_MXNET = "mxparams.mxnet"          # the MXNet version that held the net
META_MODE = "mxparams.array_mode"      # 'np' or 'nd'
META_KEYS = "mxparams.keys"            # KEYS_PATHS, KEYS_NAMES or KEYS_SOURCE
META_SOURCE = "mxparams.converted_from"  # the input format of a conversion
META_TIED = "mxparams.tied"            # JSON {stored path: [other paths]}
KEYS_PATHS = "structural paths"
KEYS_NAMES = ("MXNet 1.x global names kept from the source file (not "
              "structural paths; mp.load maps them to paths when certain)")
KEYS_SOURCE = ("as in the source file (structural paths when it was written "
               "by mp.save, save_parameters or a 2.x export)")

#: Temporary files of an unfinished save: '.<name>.mxparams-tmp.<pid>.<hex>'.
TEMP_TAG = ".mxparams-tmp."
_CHUNK = 8 << 20

Progress = Callable[[int], None]


class RawCheckpoint(NamedTuple):
    path: str
    format: str
    arrays: dict  # key -> StoredArray, or numpy.ndarray (inflated npz members)
    size: int     # bytes on disk
    metadata: dict = {}  # safetensors metadata (text -> text); never changed
    aliases: dict = {}   # tied path -> the key it is stored under (META_TIED)


class StoredArray:
    """An array of a checkpoint file: its bytes at an offset of the file,
    read when asked for.

    ``shape``, ``dtype``, ``size`` and ``nbytes`` come from the file's
    index; :meth:`read` (or ``numpy.asarray``) reads the data with
    ``pread`` into an array of its own and checks that the file did not
    change since it was opened (``_source``).  Readers that handle one
    array at a time so hold at most one in memory.
    """

    __slots__ = ("key", "shape", "dtype", "_source", "_offset", "_fortran")

    def __init__(self, source: Source, key: str, shape: tuple,
                 dtype: numpy.dtype, offset: int, fortran: bool = False):
        self.key = key
        self.shape = shape
        self.dtype = dtype
        self._source = source  # keeps the file open
        self._offset = offset
        self._fortran = fortran

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def read(self) -> numpy.ndarray:
        raw = numpy.empty(self.nbytes, numpy.uint8)
        if raw.size:
            self._source.readinto(self._offset, memoryview(raw))
        return self._finish(raw)

    def _finish(self, raw: numpy.ndarray) -> numpy.ndarray:
        array = raw.view(self.dtype).reshape(self.shape,
                                             order="F" if self._fortran else "C")
        return array if self.dtype.isnative else array.astype(
            self.dtype.newbyteorder("="))

    def __array__(self, dtype=None) -> numpy.ndarray:
        array = self.read()
        return array if dtype is None else array.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return (f"StoredArray({self.key!r}, shape={self.shape}, "
                f"dtype={self.dtype.name})")


class StoredRows(StoredArray):
    """A row-sparse array of an MXNet file: the rows it stores and their
    indices, read when asked for into a whole array (the other rows zero).

    1.x's ``save_parameters`` writes the weight of a ``SparseEmbedding``
    (a ``row_sparse`` parameter) this way.
    """

    __slots__ = ("_rows",)

    def __init__(self, source: Source, key: str, shape: tuple,
                 dtype: numpy.dtype, offset: int, rows: tuple):
        super().__init__(source, key, shape, dtype, offset)
        self._rows = rows  # (offset of the indices, how many, their dtype)

    def read(self) -> numpy.ndarray:
        at, count, index_dtype = self._rows
        rows = (count,) + self.shape[1:]
        values = numpy.empty(math.prod(rows) * self.dtype.itemsize, numpy.uint8)
        index = numpy.empty(count * index_dtype.itemsize, numpy.uint8)
        self._source.readinto_many([p for p in ((self._offset, memoryview(values)),
                                                (at, memoryview(index)))
                                    if len(p[1])])
        values = values.view(self.dtype).reshape(rows)
        index = index.view(index_dtype)
        if count and (index.min() < 0 or index.max() >= self.shape[0]
                      or (count > 1 and (numpy.diff(index) <= 0).any())):
            raise CheckpointError(self._source.name, f"corrupt: the row "
                                                     f"indices of {self.key!r} "
                                                     "are not increasing rows "
                                                     "of its shape")
        array = numpy.zeros(self.shape, self.dtype.newbyteorder("="))
        array[index] = values
        return array


def materialize(array) -> numpy.ndarray:
    """The values of an entry of ``RawCheckpoint.arrays`` as a NumPy array."""
    return array.read() if isinstance(array, StoredArray) else array


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
    for (i, a), staged in zip(stored, staging):
        if staged is None:
            raw = numpy.empty(a.nbytes, numpy.uint8)
            in_numpy.append((i, a, raw))
            view = memoryview(raw)
        else:
            out[i], view = staged
        if len(view):
            parts.append((a._offset, view))
    stored[0][1]._source.readinto_many(parts)
    for i, a, raw in in_numpy:
        out[i] = a._finish(raw)
    return out


def file_name(path) -> str:
    """``path`` (str, bytes or os.PathLike) as a str, as ``open`` takes it."""
    try:
        return os.fsdecode(path)
    except TypeError:
        raise TypeError(f"a checkpoint path is a str, bytes or os.PathLike, "
                        f"got {type(path).__name__}") from None


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
        except Exception as err:  # noqa: BLE001 - untrusted bytes
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


_LIST_HEAD = struct.pack("<Q", _LIST_MAGIC)
_ZIP_HEADS = (b"PK\x03\x04", b"PK\x05\x06")


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
    arrays = []
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
        if flag not in _DTYPES:
            what = "bfloat16, which NumPy cannot hold" if flag == 12 else (
                f"the unknown dtype code {flag}")
            raise CheckpointError(name, f"{where} has {what}")
        dtype = numpy.dtype(_DTYPES[flag]).newbyteorder("<")
        if stored is None:
            arrays.append((dims, dtype, data_of(where, dims, dtype), None))
            continue
        index_flag, index_ndim = take("<ii", where)
        index_dims = dims_of(index_ndim, where)
        if (not dims or len(stored) != len(dims) or stored[1:] != dims[1:]
                or stored[0] > dims[0] or index_dims != stored[:1]
                or _DTYPES.get(index_flag) not in ("int32", "int64")):
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
        index_dtype = numpy.dtype(_DTYPES[index_flag]).newbyteorder("<")
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
    stored = [None if entry is None else
              StoredArray(source, key, *entry[:3]) if entry[3] is None else
              StoredRows(source, key, *entry)
              for key, entry in zip(keys, arrays)]
    fmt = (MXNET_ROW_SPARSE if any(isinstance(a, StoredRows) for a in stored)
           else MXNET_NP if np_shape else MXNET)
    return fmt, _named(name, keys, stored)


def _named(name: str, keys: list, arrays: list) -> dict:
    out = {}
    for key, array in zip(keys, arrays):
        if key in out:
            raise CheckpointError(name, f"corrupt: the key {key!r} appears twice")
        if array is None:
            raise CheckpointError(name, f"{key!r} holds an empty NDArray "
                                        "(no shape, no data)")
        out[key] = array
    return out


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
                set(_DTYPES.values())):
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
    view = memoryview(array).cast("B")
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


def _is_panic(err: BaseException) -> bool:
    """A panic of the package's Rust code: pyo3 raises PanicException, a
    BaseException (not an Exception), which must not escape as such."""
    return type(err).__name__ == "PanicException"


def _natural(key: str) -> list:
    """Sort key: digit runs as numbers ('2.weight' before '10.weight')."""
    parts = re.split(r"(\d+)", key)
    parts[1::2] = map(int, parts[1::2])
    return parts


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
        dtype = _ST_DTYPES.get(code)
        if dtype is None:
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
        dtype = numpy.dtype(dtype).newbyteorder("<")
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


# -- writing -------------------------------------------------------------

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


def _short_write(target: str, found: int, size: int) -> CheckpointError:
    if found < size:
        what = (f"{found:,} of the file's {size:,} bytes reached the disk (is "
                "it full, or a quota or file-size limit reached?)")
    else:
        what = f"the written file has {found:,} bytes where {size:,} were due"
    return CheckpointError(target, f"cannot write: {what}; the previous file, "
                                   "if any, is unchanged")


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
    try:
        back = read(temp)
    except CheckpointError as err:
        raise CheckpointError(target, f"cannot write: the written file does "
                                      f"not read back ({err.reason})") from None
    got = [(key, tuple(a.shape), a.dtype.name) for key, a in back.arrays.items()]
    if got != wanted:
        raise CheckpointError(target, "cannot write: the written file does not "
                                      "hold the arrays that were saved")


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
    except Exception as err:  # noqa: BLE001 - the package's own errors
        raise CheckpointError(target, f"cannot write: the written file does "
                                      f"not read back ({err})") from None
    if got != sorted(wanted):
        raise CheckpointError(target, "cannot write: the written file does not "
                                      "hold the arrays that were saved")


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


def _save_safetensors(temp: str, arrays: dict, metadata: dict | None,
                      progress: Progress | None) -> None:
    tensors = {}
    for key, value in arrays.items():
        tensors[key] = _host(value)
        if progress is not None:
            progress(tensors[key].nbytes)
    safetensors.numpy.save_file(tensors, temp, metadata=metadata or None)


def _replace(target: str, fill: Callable[[str], None]) -> None:
    """Let ``fill`` write a temporary file beside ``target``, then rename it.

    A symbolic link is followed: the file it points to is replaced, from a
    temporary file in that file's directory (a rename within one file
    system), and the link stays a link.
    """
    real = os.path.realpath(target) if os.path.islink(target) else target
    directory, base = os.path.split(os.path.abspath(real))
    if os.path.isdir(real):
        raise CheckpointError(target, "is a directory; give a file name")
    if not os.path.isdir(directory):
        raise CheckpointError(target, f"cannot write: the directory "
                                      f"{directory!r} does not exist")
    mode = _mode_of(target, real)
    remove_stale_temps(real)
    temp = os.path.join(directory, f".{base}{TEMP_TAG}{os.getpid()}."
                                   f"{secrets.token_hex(4)}")
    try:
        # Created here (the umask applies, as for a plain open), then filled.
        os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        if mode is not None:  # a replaced file keeps its permissions
            os.chmod(temp, mode)
        wanted = stat.S_IMODE(os.stat(temp).st_mode)
        fill(temp)
        # The safetensors package writes a file of its own (mode 0600) in
        # the temporary file's place; the target gets the mode chosen above.
        if stat.S_IMODE(os.stat(temp).st_mode) != wanted:
            os.chmod(temp, wanted)
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, real)
    except BaseException as err:
        try:
            os.unlink(temp)
        except OSError:
            pass
        if isinstance(err, Exception) and not isinstance(err, CheckpointError):
            raise CheckpointError(target, f"cannot write: {err}") from err
        raise
    _fsync_dir(directory)


def _mode_of(target: str, real: str) -> int | None:
    """The permission bits of an existing file ``real`` (None if there is
    none); ``target`` is how the user named it.

    A read-only target is refused: chmod 0444 is how a checkpoint is kept
    from being overwritten, and the rename of an atomic save would replace
    it even where ``open(target, 'w')`` fails.
    """
    try:
        found = os.stat(real)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise CheckpointError(target, f"cannot write: {err.strerror}") from None
    if not stat.S_ISREG(found.st_mode):
        raise CheckpointError(target, "cannot write: it exists and is not a "
                                      "regular file")
    if not found.st_mode & 0o222:
        raise CheckpointError(target, "cannot write: the file is read-only "
                                      "(chmod u+w it to replace it, or save "
                                      "under another name)")
    return stat.S_IMODE(found.st_mode)


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)  # makes the rename itself durable
    except OSError:
        pass
    finally:
        os.close(fd)


def stale_temps(target) -> list[str]:
    """Temporary files of earlier saves to ``target`` whose process is gone."""
    directory, base = os.path.split(os.path.abspath(file_name(target)))
    prefix = f".{base}{TEMP_TAG}"
    found = []
    try:
        names = os.listdir(directory)
    except OSError:
        return found
    for entry in names:
        if not entry.startswith(prefix):
            continue
        pid = entry[len(prefix):].partition(".")[0]
        if pid.isdigit() and not _alive(int(pid)):
            found.append(os.path.join(directory, entry))
    return found


def remove_stale_temps(target) -> None:
    for temp in stale_temps(target):
        try:
            os.unlink(temp)
        except OSError:
            pass


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True
