"""``convert``: a checkpoint of any format read, written as safetensors
(for other frameworks) or as MXNet's portable NDArray list.
"""


from __future__ import annotations

import json
from typing import NamedTuple

from .. import _compat
from .._version import __version__
from ..params import check_checkpoint_call
from ._common import (
    KEYS_NAMES,
    KEYS_SOURCE,
    META_KEYS,
    META_SOURCE,
    META_TIED,
    META_WRITER,
    MXNET,
    SAFETENSORS,
    Progress,
    RawCheckpoint,
)
from ._file import choose_format, read, write
from .inspection import normalized


class Conversion(NamedTuple):
    """What :func:`convert` did."""
    source: RawCheckpoint
    arrays: int   # arrays written
    format: str   # the format written (as ``inspect`` names it)


def convert(src, dst, *, format: str | None = None,
            progress: Progress | None = None) -> Conversion:
    """Re-write any readable checkpoint as MXNet's portable format or safetensors.

    The format is chosen as by :func:`save` (by the name of ``dst``, or
    ``format=``).  ``arg:``/``aux:`` prefixes of export files are dropped
    (the keys of ``save_parameters``); other keys are kept as they are, and
    a safetensors output records in its metadata what they are (structural
    paths, or MXNet 1.x global names that :func:`load` maps later).  The
    tied paths of a safetensors input stay tied in a safetensors output and
    are stored under each path in MXNet's format.

    >>> import os, tempfile
    >>> import mxparams as mp
    >>> from mxnet.gluon import nn
    >>> from mxparams.checkpoint import convert
    >>> layer = nn.Dense(2, in_units=3)
    >>> layer.initialize()
    >>> folder = tempfile.mkdtemp()
    >>> mp.save(layer, os.path.join(folder, "dense.params"))
    >>> done = convert(os.path.join(folder, "dense.params"),
    ...                os.path.join(folder, "dense.safetensors"))
    >>> done.arrays, done.format.split(" (")[0]
    (2, 'safetensors')
    >>> meta = mp.inspect_checkpoint(os.path.join(folder, "dense.safetensors")).metadata
    >>> meta["mxparams.keys"].split(" (")[0], meta["mxparams.converted_from"].split(" (")[0]
    ('as in the source file', 'MXNet NDArray list')
    """
    check_checkpoint_call("convert", {"src": src, "dst": dst}, progress=progress)
    fmt = choose_format(dst, format)
    raw = read(src)
    arrays = normalized(raw)
    if fmt == "mxnet":
        write(dst, arrays, progress)
        return Conversion(raw, len(arrays), MXNET)
    stored = {k: v for k, v in arrays.items() if k not in raw.aliases}
    metadata = {META_WRITER: __version__, META_SOURCE: raw.format,
                META_KEYS: raw.metadata.get(META_KEYS)
                or _keys_kind(list(stored))}
    tied: dict[str, list[str]] = {}
    for alias, key in raw.aliases.items():
        tied.setdefault(key, []).append(alias)
    if tied:
        metadata[META_TIED] = json.dumps(tied, separators=(",", ":"))
    write(dst, stored, progress, format=fmt, metadata=metadata)
    return Conversion(raw, len(stored), SAFETENSORS)


def _keys_kind(keys: list) -> str:
    """What the keys of a converted file are, for its metadata."""
    if keys and all("." not in k and _compat.split_global_name(k) is not None
                    for k in keys):
        return KEYS_NAMES
    return KEYS_SOURCE
