"""What every part of the checkpoint package shares: format names, the
metadata keys mxparams writes, the parsed file (:class:`RawCheckpoint`)
and its arrays, read when asked for (:class:`StoredArray`)."""


from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import NamedTuple

import numpy

from ..errors import CheckpointError
from ._source import Source

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
            self._source.readinto(self._offset, raw.data)
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
        self._source.readinto_many([p for p in ((self._offset, values.data),
                                                (at, index.data))
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


def file_name(path) -> str:
    """``path`` (str, bytes or os.PathLike) as a str, as ``open`` takes it."""
    try:
        return os.fsdecode(path)
    except TypeError:
        raise TypeError(f"a checkpoint path is a str, bytes or os.PathLike, "
                        f"got {type(path).__name__}") from None


def _named(name: str, keys: list, arrays: list) -> dict:
    out = {}
    for key, array in zip(keys, arrays, strict=True):
        if key in out:
            raise CheckpointError(name, f"corrupt: the key {key!r} appears twice")
        if array is None:
            raise CheckpointError(name, f"{key!r} holds an empty NDArray "
                                        "(no shape, no data)")
        out[key] = array
    return out


def _short_write(target: str, found: int, size: int) -> CheckpointError:
    if found < size:
        what = (f"{found:,} of the file's {size:,} bytes reached the disk (is "
                "it full, or a quota or file-size limit reached?)")
    else:
        what = f"the written file has {found:,} bytes where {size:,} were due"
    return CheckpointError(target, f"cannot write: {what}; the previous file, "
                                   "if any, is unchanged")


#: The dtypes of MXNet arrays by the flag its files store.
MXNET_DTYPES = {0: "float32", 1: "float64", 2: "float16", 3: "uint8", 4: "int32",
           5: "int8", 6: "int64", 7: "bool", 8: "int16", 9: "uint16",
           10: "uint32", 11: "uint64"}
