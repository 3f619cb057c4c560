"""What a checkpoint file holds, without a network: ``inspect_checkpoint``
(a table of its arrays and their statistics) and ``diff`` (two files
compared array by array).
"""


from __future__ import annotations

import math
from typing import NamedTuple

import numpy

from .._arrays import difference
from .._table import Column, Table, Tabular, fmt_bytes, fmt_float, fmt_int, fmt_shape
from ..params import check_callable, check_checkpoint_call
from ._common import META_TIED, Progress, RawCheckpoint, materialize
from ._file import read
from ._plan import _view


class FileArray(NamedTuple):
    """One array of a checkpoint file, with statistics in float64."""
    key: str
    shape: tuple
    dtype: str
    elements: int
    nbytes: int
    min: float | None    # None for an empty array
    max: float | None
    mean: float | None


def _entry(key: str, array: numpy.ndarray) -> FileArray:
    stats: tuple[float | None, float | None, float | None] = (None, None, None)
    if array.size:
        stats = (float(array.min()), float(array.max()),
                 float(array.mean(dtype=numpy.float64)))
    return FileArray(key, tuple(array.shape), array.dtype.name, int(array.size),
                 int(array.nbytes), *stats)


class Inspection(Tabular):
    """The arrays of a checkpoint file: shapes, dtypes, sizes, statistics.

    ``entries`` lists them in file order; ``str()`` is a text table and
    ``_repr_html_()`` the same table for Jupyter.
    """

    def __init__(self, raw: RawCheckpoint,
                 progress: Progress | None = None):
        if not isinstance(raw, RawCheckpoint):
            raise TypeError(f"mp.Inspection: raw must be a checkpoint read by "
                            f"mxparams, got {type(raw).__name__} {raw!r}; for "
                            "a file, call mp.inspect_checkpoint(file)")
        check_callable(progress, "progress", "Inspection",
                       "progress(n) is called with each array's size in bytes",
                       optional=True)
        self.file = raw.path
        self.format = raw.format
        self.size = raw.size
        #: A safetensors file's metadata (text to text; {} for MXNet's formats).
        self.metadata: dict[str, str] = dict(raw.metadata)
        #: Paths a safetensors file stores once: {stored key: [other paths]}.
        self.tied: dict[str, list[str]] = {}
        for alias, key in raw.aliases.items():
            self.tied.setdefault(key, []).append(alias)
        self.entries: list[FileArray] = []
        for key, array in raw.arrays.items():
            # One tensor at a time: a safetensors tensor is read here.
            self.entries.append(_entry(key, materialize(array)))
            if progress is not None:
                progress(array.nbytes)
        self.elements = sum(e.elements for e in self.entries)
        self.nbytes = sum(e.nbytes for e in self.entries)

    def keys(self) -> list[str]:
        return [e.key for e in self.entries]

    def table(self) -> Table:
        columns = [Column("Path"), Column("Shape"), Column("Dtype"),
                   Column("Elements", right=True), Column("Bytes", right=True),
                   Column("Min", right=True), Column("Max", right=True),
                   Column("Mean", right=True)]
        rows = [(e.key, fmt_shape(e.shape), e.dtype, fmt_int(e.elements),
                 fmt_int(e.nbytes), fmt_float(e.min, 6), fmt_float(e.max, 6),
                 fmt_float(e.mean, 6)) for e in self.entries]
        n = len(self.entries)
        footer = [("File", self.file), ("Format", self.format),
                  ("Arrays", f"{n} array{'s' if n != 1 else ''}, "
                             f"{self.elements:,} elements"),
                  ("Data", fmt_bytes(self.nbytes)),
                  ("File size", fmt_bytes(self.size))]
        if self.tied:
            pairs = [f"{alias!r} -> {key!r}" for key, aliases in self.tied.items()
                     for alias in aliases]
            footer.append(("Tied", f"{len(pairs)} path{'s' if len(pairs) != 1 else ''}"
                                   " stored under another: " + ", ".join(pairs[:4])
                                   + (", ..." if len(pairs) > 4 else "")))
        shown = {k: v for k, v in sorted(self.metadata.items())
                 if k != META_TIED}
        if shown:
            footer.append(("Metadata", ", ".join(
                f"{k}={v if len(v) <= 60 else v[:57] + '...'}"
                for k, v in shown.items())))
        return Table(columns, rows, footer)

    def to_dict(self) -> dict:
        """Plain data for JSON (RFC 8259): NaN and Inf as "nan", "inf", "-inf"."""
        num = json_number
        return {"file": self.file, "format": self.format, "size": self.size,
                "elements": self.elements, "bytes": self.nbytes,
                "metadata": self.metadata, "tied": self.tied,
                "arrays": [{"path": e.key, "shape": list(e.shape),
                            "dtype": e.dtype, "elements": e.elements,
                            "bytes": e.nbytes, "min": num(e.min),
                            "max": num(e.max), "mean": num(e.mean)}
                           for e in self.entries]}


def inspect_checkpoint(file, *, progress: Progress | None = None
                       ) -> Inspection:
    """A table of the arrays in a checkpoint file, like ``summary`` for a net.

    Any format :func:`load` reads; one row per array in file order (for
    safetensors, which keeps no order, natural order: '2.weight' before
    '10.weight'): path (the file's key), shape, dtype, elements, bytes,
    and min/max/mean computed in float64.  The file is read array by
    array (never mapped: see docs/checkpoints.md, "How the files are
    read"); ``progress(n)`` is called with each array's size in bytes.
    A safetensors file's metadata and the paths it stores once for tied
    parameters are in ``metadata`` and ``tied``.

    >>> import os, tempfile
    >>> import mxparams as mp
    >>> from mxnet import init
    >>> from mxnet.gluon import nn
    >>> layer = nn.Dense(2, in_units=3)
    >>> layer.initialize(init.One())
    >>> path = os.path.join(tempfile.mkdtemp(), "dense.params")
    >>> mp.save(layer, path)
    >>> print(mp.inspect_checkpoint(path))  # doctest: +ELLIPSIS
    Path    Shape   Dtype    Elements  Bytes  Min  Max  Mean
    ------  ------  -------  --------  -----  ---  ---  ----
    weight  (2, 3)  float32         6     24    1    1     1
    bias    (2,)    float32         2      8    0    0     0
    ========================================================
    File       ...dense.params
    Format     MXNet NDArray list (portable: MXNet 1.x and 2.x, both modes)
    Arrays     2 arrays, 8 elements
    Data       32 bytes
    File size  162 bytes
    >>> st_path = os.path.join(os.path.dirname(path), "dense.safetensors")
    >>> mp.save(layer, st_path)
    >>> info = mp.inspect_checkpoint(st_path)
    >>> [e.key for e in info.entries], sorted(info.metadata), info.tied
    (['bias', 'weight'], ['mxparams', 'mxparams.array_mode', 'mxparams.keys', 'mxparams.mxnet'], {})
    """
    check_checkpoint_call("inspect_checkpoint", {"file": file}, progress=progress)
    return Inspection(read(file), progress)


#: The name of mxparams 0.1 (it shadowed the standard module on a star
#: import, so it is no longer in ``__all__``).
inspect = inspect_checkpoint


def normalized(raw: RawCheckpoint) -> dict:
    """{key: array} of a file as a load sees it: without 'arg:'/'aux:', and
    with the tied paths a safetensors file stores once."""
    return _view(raw)[0]


def json_number(x: float | None):
    """``x`` for JSON (RFC 8259 has no NaN or Infinity): finite numbers and
    None as they are, the others as the strings "nan", "inf" and "-inf"."""
    if x is None or math.isfinite(x):
        return x
    return "nan" if x != x else ("inf" if x > 0 else "-inf")


class Comparison(Tabular):
    """Differences between two checkpoint files, by key; falsy when equal.

    Values compare in float64; NaN equals NaN, and a NaN facing a number
    is a difference of NaN.
    """

    def __init__(self, a: RawCheckpoint, b: RawCheckpoint,
                 progress: Progress | None = None):
        for name, raw in (("a", a), ("b", b)):
            if not isinstance(raw, RawCheckpoint):
                raise TypeError(f"mp.Comparison: {name} must be a checkpoint "
                                f"read by mxparams, got {type(raw).__name__} "
                                f"{raw!r}; compare two files with "
                                "`mxparams diff A B`")
        check_callable(progress, "progress", "Comparison",
                       "progress(n) is called with the bytes compared",
                       optional=True)
        self.a, self.b = a.path, b.path
        left, right = normalized(a), normalized(b)
        self.removed = [k for k in left if k not in right]
        self.added = [k for k in right if k not in left]
        self.changed: list[tuple[str, str, str]] = []
        self.values: list[tuple[str, float]] = []
        self.same = 0
        for key in left:
            if key not in right:
                continue
            x, y = left[key], right[key]
            if x.shape != y.shape or x.dtype != y.dtype:
                self.changed.append((key, _describe(x), _describe(y)))
                continue
            diff, count = difference(x, y)
            if progress is not None:
                progress(x.nbytes + y.nbytes)
            if not count:
                self.same += 1
            else:
                self.values.append((key, diff))
        self._right = right
        self._left = left

    @property
    def equal(self) -> bool:
        return not (self.removed or self.added or self.changed or self.values)

    def __bool__(self) -> bool:
        return not self.equal

    def table(self) -> Table:
        rows = [("removed", k, _describe(self._left[k]), "") for k in self.removed]
        rows += [("added", k, "", _describe(self._right[k])) for k in self.added]
        rows += [("changed", k, x, y) for k, x, y in self.changed]
        rows += [("values", k, "max abs difference", fmt_float(d, digits=6))
                 for k, d in self.values]
        footer = [("A", self.a), ("B", self.b),
                  ("Result", "equal" if self.equal else
                   f"{len(self.removed)} removed, {len(self.added)} added, "
                   f"{len(self.changed)} shape/dtype changed, "
                   f"{len(self.values)} values changed, {self.same} equal")]
        return Table([Column("Change"), Column("Path"), Column("A"),
                      Column("B")], rows, footer, header=bool(rows))

    def to_dict(self) -> dict:
        def entry(k, arrays):
            return {"shape": list(arrays[k].shape), "dtype": arrays[k].dtype.name}
        return {"a": self.a, "b": self.b, "equal": self.equal,
                "removed": self.removed, "added": self.added,
                "changed": [{"path": k, "a": entry(k, self._left),
                             "b": entry(k, self._right)}
                            for k, _, _ in self.changed],
                "values": [{"path": k, "max_abs_diff": json_number(d)}
                           for k, d in self.values],
                "equal_arrays": self.same}


def _describe(array: numpy.ndarray) -> str:
    return f"{fmt_shape(tuple(array.shape))} {array.dtype.name}"


def diff(a, b, *, progress: Progress | None = None) -> Comparison:
    """Compare two checkpoint files array by array, without a network.

    Any formats :func:`load` reads, in any mix; keys as the files store
    them (tied paths a safetensors file keeps once count as stored).  The
    result is falsy when the files hold the same arrays; it lists the keys
    only one file has, the keys whose shape or dtype changed, and the
    largest absolute difference of each array whose values changed
    (compared in float64).  ``progress(n)`` is told the bytes compared.
    The command line's ``mxparams diff A B`` prints the same table.

    >>> import os, tempfile
    >>> import mxparams as mp
    >>> from mxnet import init
    >>> from mxnet.gluon import nn
    >>> layer = nn.Dense(2, in_units=3)
    >>> layer.initialize(init.One())
    >>> folder = tempfile.mkdtemp()
    >>> mp.save(layer, os.path.join(folder, "a.params"))
    >>> mp.save(layer, os.path.join(folder, "a.safetensors"))
    >>> bool(mp.diff(os.path.join(folder, "a.params"),
    ...              os.path.join(folder, "a.safetensors")))
    False
    >>> layer.bias.set_data(layer.bias.data() + 0.5)
    >>> mp.save(layer, os.path.join(folder, "b.params"))
    >>> print(mp.diff(os.path.join(folder, "a.params"),
    ...               os.path.join(folder, "b.params")))  # doctest: +ELLIPSIS
    Change  Path  A                   B
    ------  ----  ------------------  ---
    values  bias  max abs difference  0.5
    =...
    A       ...a.params
    B       ...b.params
    Result  0 removed, 0 added, 0 shape/dtype changed, 1 values changed, 1 equal
    """
    check_checkpoint_call("diff", {"a": a, "b": b}, progress=progress)
    return Comparison(read(a), read(b), progress)
