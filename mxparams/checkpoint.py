"""Checkpoints that move between MXNet versions: ``save``, ``load``, ``inspect``.

``save`` writes the one file format that MXNet 1.x and 2.x load in either
array mode, or safetensors for other frameworks, keyed by structural path,
atomically.  ``load`` reads those, both versions' ``save_parameters`` files,
``export`` parameter files and safetensors files of any writer, checks
everything against the network first and changes nothing unless the whole
load succeeds.  The file formats themselves are in ``_checkpoint_file``.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Callable, NamedTuple, Union

import numpy

from mxnet import autograd, gluon

from . import _checkpoint_file as files
from . import _compat
from ._version import __version__
from ._arrays import difference
from ._table import (Column, Table, Tabular, fmt_bytes, fmt_float, fmt_int,
                     fmt_shape)
from .errors import (CheckpointError, CheckpointShapeMismatch, did_you_mean,
                     examples)
from .params import check_callable, check_checkpoint_call, shapes_agree, walk

_EXPORT_PREFIXES = ("arg:", "aux:")

#: What ``rename=`` of :func:`load` accepts: {file key: path or None}, or a
#: function of the file key giving the path (None drops the key).
Rename = Union[Mapping, Callable[[str], Union[str, None]], None]


# -- save ----------------------------------------------------------------

def save(block: gluon.Block, file, *, format: str | None = None) -> None:
    """Write the parameters of ``block`` to ``file``, portably and atomically.

    The file is keyed by structural path (``'0.weight'``).  By default it
    is MXNet's NDArray format without the numpy-shape flag: Gluon's own
    ``load_parameters`` reads it on MXNet 1.x and 2.x in numpy and legacy
    nd mode, and so does :func:`load`; tied parameters are stored under
    each of their paths, as ``save_parameters`` does.  A name ending in
    ``.safetensors`` (or ``format='safetensors'``) writes safetensors, the
    format other frameworks read: each Parameter once, under its first
    path, with metadata naming mxparams, the MXNet version, the array mode
    and the other paths of tied Parameters; dtypes are kept.
    ``format='mxnet'`` forces MXNet's format.  The file is written to a
    temporary file beside ``file`` and renamed over it, so an interrupted
    save leaves any previous file intact.  One copy of each parameter is
    saved (the first device's).

    >>> import os, tempfile
    >>> import mxparams as mp
    >>> from mxnet.gluon import nn
    >>> net = nn.HybridSequential()
    >>> net.add(nn.Dense(3, in_units=2))
    >>> net.initialize()
    >>> folder = tempfile.mkdtemp()
    >>> mp.save(net, os.path.join(folder, "dense.params"))
    >>> list(mp.inspect_checkpoint(os.path.join(folder, "dense.params")).keys())
    ['0.weight', '0.bias']
    >>> mp.save(net, os.path.join(folder, "dense.safetensors"))
    >>> from safetensors.numpy import load_file  # as other frameworks read it
    >>> sorted(load_file(os.path.join(folder, "dense.safetensors")))
    ['0.bias', '0.weight']
    """
    check_checkpoint_call("save", {"file": file})
    fmt = files.choose_format(file, format)
    params = walk(block, "save").params
    pending = [p for p, param in params.items() if _compat.is_pending(param)]
    unset = [p for p, param in params.items() if not _compat.is_initialized(param)
             and p not in pending]
    if pending or unset:
        reasons = []
        if unset:
            reasons.append(f"{len(unset)} not initialized ({examples(unset)}); "
                           "call net.initialize()")
        if pending:
            reasons.append(f"{len(pending)} with shapes not known yet "
                           f"({examples(pending)}); run one forward pass")
        raise RuntimeError(f"cannot save {type(block).__name__}: parameters "
                           + "; ".join(reasons))
    if fmt == "mxnet":
        files.write(file, {key: _compat.data_copies(param)[0]
                           for key, param in params.items()})
        return
    stored, tied, first_of = {}, {}, {}
    for key, param in params.items():
        first = first_of.setdefault(id(param), key)
        if first == key:
            stored[key] = _compat.data_copies(param)[0]
        else:  # other frameworks have no ties: store the Parameter once
            tied.setdefault(first, []).append(key)
    metadata = {files.META_WRITER: _version(),
                files.META_MXNET: _compat.MXNET_VERSION,
                files.META_MODE: _compat.current_mode(),
                files.META_KEYS: files.KEYS_PATHS}
    if tied:
        metadata[files.META_TIED] = json.dumps(tied, separators=(",", ":"))
    files.write(file, stored, format=fmt, metadata=metadata)


# -- load ----------------------------------------------------------------

class LoadReport(Tabular):
    """What :func:`load` did: ``loaded`` paths and ``skipped`` (name, reason).

    ``renamed`` maps file keys to the paths they were loaded into where
    they differ: keys renamed by ``rename=`` (also in ``by_rename``) and
    MXNet 1.x global names mapped to paths.  ``dropped`` lists the file
    keys ``rename=`` dropped.  Falsy when everything was loaded (with
    ``strict=True`` nothing is ever skipped: a problem raises instead);
    ``str()`` is a short text report.
    """

    def __init__(self, file: str, fmt: str, loaded: list, skipped: list,
                 renamed: dict, parameters: int, by_rename: dict | None = None,
                 dropped: list | None = None):
        self.file = file
        self.format = fmt
        self.loaded: list[str] = loaded
        self.skipped: list[tuple[str, str]] = skipped
        self.renamed: dict[str, str] = renamed
        self.by_rename: dict[str, str] = by_rename or {}
        self.dropped: list[str] = dropped or []
        self.parameters = parameters  # distinct Parameters in the network

    def __bool__(self) -> bool:
        return bool(self.skipped)

    def table(self) -> Table:
        footer = [("File", self.file),
                  ("Loaded", f"{len(self.loaded)} of {self.parameters} "
                             "parameters")]
        if self.by_rename:
            first = next(iter(self.by_rename.items()))
            n = len(self.by_rename)
            footer.append(("Renamed", f"{n} key{'s' if n != 1 else ''} by "
                                      f"rename=, e.g. {first[0]!r} -> "
                                      f"{first[1]!r}"))
        if self.dropped:
            footer.append(("Dropped", f"{len(self.dropped)} by rename=: "
                                      f"{examples(self.dropped)}"))
        names = {k: p for k, p in self.renamed.items() if k not in self.by_rename}
        if names:
            first = next(iter(names.items()))
            footer.append(("Keys", f"{len(names)} MXNet 1.x global names "
                                   f"mapped to paths, e.g. {first[0]!r} -> "
                                   f"{first[1]!r}"))
        return Table([Column("Skipped"), Column("Reason")], self.skipped,
                     footer, header=bool(self.skipped))


def _strip_export_prefixes(name: str, keys) -> dict[str, str]:
    """{key without 'arg:'/'aux:': key in file}; export files prefix every key."""
    keys = list(keys)
    if not keys or not all(k.startswith(_EXPORT_PREFIXES) for k in keys):
        return {k: k for k in keys}
    short = {k[4:]: k for k in keys}
    if len(short) != len(keys):
        raise CheckpointError(name, "corrupt export file: a name appears as "
                                    "both arg: and aux:")
    return short


def _view(raw: files.RawCheckpoint) -> tuple[dict, dict]:
    """The arrays of a file as a load sees them, and where each comes from.

    ({key: array}, {key: key in the file}): export prefixes dropped, and
    the tied paths a safetensors file stores once (META_TIED) added, each
    with the very array of the path it is stored under.
    """
    origin = _strip_export_prefixes(raw.path, raw.arrays)
    arrays = {short: raw.arrays[k] for short, k in origin.items()}
    for alias, key in raw.aliases.items():
        arrays[alias] = raw.arrays[key]
        origin[alias] = alias
    return arrays, origin


def _renamed(name: str, arrays: dict, origin: dict, rename: Rename
             ) -> tuple[dict, dict, dict, list]:
    """``rename=`` applied: (arrays, origin, {file key: path}, dropped keys).

    Checked whole before anything is loaded: a mapping may only name keys
    the file has, every new key is a non-empty str (or None: dropped), and
    no two keys may end up with the same name.
    """
    if isinstance(rename, Mapping):
        unknown = [k for k in rename if k not in arrays]
        if unknown:
            hint = did_you_mean(str(unknown[0]), [str(k) for k in arrays])
            raise ValueError(
                f"rename names {len(unknown)} key{'s' if len(unknown) != 1 else ''}"
                f" that {name!r} does not hold: {examples(unknown)}"
                + (f" ({hint})" if hint else "") + "; the keys are those "
                "mp.inspect_checkpoint lists (export files without their "
                "arg:/aux: prefix); to rename only the keys a file has, pass "
                "a function, e.g. lambda key: table.get(key, key)")
        new_of = lambda key: rename.get(key, key)  # noqa: E731
    elif callable(rename):
        new_of = rename
    else:
        raise TypeError(f"rename must be a mapping {{file key: path}} or a "
                        f"function key -> path (None drops the key), got "
                        f"{type(rename).__name__}")
    out, new_origin, by_rename, dropped, source = {}, {}, {}, [], {}
    for key, array in arrays.items():
        new = new_of(key)
        if new is None:
            dropped.append(origin[key])
            continue
        if not isinstance(new, str):
            raise TypeError(f"rename gave {type(new).__name__} {new!r} for "
                            f"the key {key!r}; give a path (str), or None to "
                            "drop the key")
        if not new:
            raise ValueError(f"rename gave an empty path for the key {key!r}; "
                             "give None to drop a key")
        if new in source:
            raise ValueError(f"rename gives the path {new!r} to two keys of "
                             f"{name!r}, {source[new]!r} and {key!r}; a path "
                             "takes the value of one key")
        source[new] = key
        out[new] = array
        new_origin[new] = origin[key]
        if new != key:
            by_rename[origin[key]] = new
    return out, new_origin, by_rename, dropped


class _Plan(NamedTuple):
    chosen: dict      # first path of a Parameter -> its file key (short)
    unexpected: list  # short file keys that fit no parameter
    ambiguous: list   # short file keys that fit several
    renamed: dict     # short file key -> path, for keys mapped by name
    conflicts: tuple = ()  # (path, first path): tied paths the file disagrees on


def _plan(keys: dict, arrays: dict, sites: dict) -> _Plan:
    """Which file key goes to which Parameter (``keys``: short -> file key).

    ``sites`` are the network's, from the walk; a Parameter reachable by
    several paths (tied) is one entry, under its first path.  Where the
    file holds several of a Parameter's paths, the first one's value is
    used and the others must hold the same values (NaN equal to NaN), or
    they are conflicts.
    """
    paths: dict[str, list[str]] = {}
    for site in sites.values():
        paths.setdefault(site.first, []).append(site.path)
    structural = (not keys or any(k in sites for k in keys)
                  or any("." in k for k in keys))
    if structural:
        chosen, conflicts = {}, []
        for first, tied in paths.items():
            found = [p for p in tied if p in keys]
            if found:
                chosen[first] = found[0]
                conflicts += [(p, found[0]) for p in found[1:]
                              if not _same(arrays[found[0]], arrays[p])]
        unexpected = [k for k in keys if k not in sites]
        return _Plan(chosen, unexpected, [], {}, conflicts)
    return _plan_by_names(keys, {k: a.shape for k, a in arrays.items()}, sites)


def _same(a, b) -> bool:
    if a is b:  # a tied path a safetensors file stores once
        return True
    return (a.shape == b.shape and a.dtype == b.dtype
            and not difference(a, b)[1])


def _plan_by_names(keys, shapes, sites) -> _Plan:
    """Map MXNet 1.x global names ('dense0_weight') to structural paths.

    On 1.x, names this very network carries are exact.  Otherwise a name
    is mapped only when its attribute ('weight') and shape fit exactly one
    Parameter and that Parameter fits only this name: then no other
    assignment is possible, whatever order the file has.
    """
    firsts = {s.first: s for s in sites.values() if s.first == s.path}
    by_name = {}
    for site in firsts.values():
        global_name = _compat.global_name(site.param)
        if global_name is not None:
            by_name.setdefault(global_name, site.path)
    if by_name and all(k in by_name for k in keys):
        mapping = {k: by_name[k] for k in keys}
        return _Plan({p: k for k, p in mapping.items()}, [], [], mapping)

    attrs = {site.attr for site in firsts.values()}
    groups: dict[str, tuple[list, list]] = {}
    for first, site in firsts.items():
        groups.setdefault(site.attr, ([], []))[0].append(first)
    unexpected = []
    for key in keys:
        parts = ((None, key) if key in attrs
                 else _compat.split_global_name(key, attrs))
        if parts is None:
            unexpected.append(key)
        else:
            groups[parts[1]][1].append(key)
    chosen, ambiguous = {}, []
    for attr, (candidates_, found) in groups.items():
        if len(candidates_) == 1 and len(found) == 1:
            chosen[candidates_[0]] = found[0]  # the only candidate either way
            continue
        fits = {k: [p for p in candidates_ if shapes_agree(
            firsts[p].shape, shapes[k])] for k in found}
        for key, candidates in fits.items():
            if not candidates:
                unexpected.append(key)
            elif len(candidates) == 1 and [k for k, c in fits.items()
                                           if candidates[0] in c] == [key]:
                chosen[candidates[0]] = key
            else:
                ambiguous.append(key)
    renamed = {k: first for first, k in chosen.items()}
    return _Plan(chosen, unexpected, ambiguous, renamed)


def load(block: gluon.Block, file, *, strict: bool = True,
         rename: Rename = None) -> LoadReport:
    """Load a checkpoint into ``block``; all or nothing.

    Reads :func:`save` files, Gluon's ``save_parameters`` files of MXNet
    1.x (numpy and nd mode) and 2.x (``.npz``), ``export`` parameter
    files (``arg:``/``aux:`` keys) and safetensors files, whichever program
    wrote them; the format is told by the file's first bytes, not its
    name.  Keys that are MXNet 1.x global names (``dense0_weight``) are
    mapped to structural paths when the mapping is certain (on 1.x: the
    network's own names; otherwise a unique attribute and shape), and
    refused otherwise.

    ``rename`` maps the file's keys to paths first, for files keyed
    another way (a PyTorch ``state_dict``): a mapping ``{file key: path}``
    (keys it does not name stay as they are) or a function ``key -> path``;
    None for a path drops the key.  Every format takes it; the report
    lists what was renamed and dropped.

    Everything is checked before anything changes: parameters missing from
    the file, keys in the file that the network lacks, shapes and dtypes.
    With ``strict=True`` any problem raises :class:`CheckpointError` and
    leaves the network untouched; ``strict=False`` loads the parameters
    that match and lists the others in the returned report (falsy when
    nothing was skipped).  A refusal that includes a shape conflict is a
    :class:`CheckpointShapeMismatch`, both a ``CheckpointError`` and a
    ``ShapeMismatch``.  Shapes not
    known yet (after ``initialize()``, before the first forward pass) are
    taken from the file, as Gluon's ``load_parameters`` does.  Every device
    copy of a parameter is set.

    >>> import os, tempfile
    >>> import mxparams as mp
    >>> from mxnet.gluon import nn
    >>> def mlp():
    ...     net = nn.HybridSequential()
    ...     net.add(nn.Dense(3, in_units=2), nn.Dense(1, in_units=3))
    ...     return net
    >>> net = mlp()
    >>> net.initialize()
    >>> path = os.path.join(tempfile.mkdtemp(), "mlp.params")
    >>> mp.save(net, path)
    >>> copy = mlp()
    >>> print(mp.load(copy, path))  # doctest: +ELLIPSIS
    File    ...mlp.params
    Loaded  4 of 4 parameters
    >>> bool((copy[0].weight.data() == net[0].weight.data()).all())
    True
    >>> bigger = mlp()
    >>> bigger.add(nn.Dense(1, in_units=1))
    >>> mp.load(bigger, path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mxparams.errors.CheckpointError: checkpoint '...mlp.params': cannot load into HybridSequential: missing from the file: '2.weight', '2.bias'. Nothing was loaded; strict=False loads the 4 parameters that match

    A file whose keys name the layers differently:

    >>> import numpy
    >>> from safetensors.numpy import save_file
    >>> other = os.path.join(tempfile.mkdtemp(), "other.safetensors")
    >>> save_file({"fc.weight": numpy.ones((3, 2), "float32"),
    ...            "fc.bias": numpy.zeros(3, "float32")}, other)
    >>> layer = nn.HybridSequential()
    >>> layer.add(nn.Dense(3, in_units=2))
    >>> print(mp.load(layer, other, rename=lambda key: key.replace("fc.", "0.")))  # doctest: +ELLIPSIS
    File     ...other.safetensors
    Loaded   2 of 2 parameters
    Renamed  2 keys by rename=, e.g. 'fc.bias' -> '0.bias'
    """
    check_checkpoint_call("load", {"file": file}, flags={"strict": strict})
    sites = walk(block, "load").sites()
    raw = files.read(file)
    name = raw.path
    arrays, origin = _view(raw)
    by_rename: dict[str, str] = {}
    dropped: list[str] = []
    if rename is not None:
        arrays, origin, by_rename, dropped = _renamed(name, arrays, origin,
                                                      rename)
    plan = _plan(origin, arrays, sites)

    # Everything is checked from the file's headers (and, for tied paths
    # the file holds twice, their values) before anything changes.
    skipped: list[tuple[str, str]] = []
    problems: dict[str, list[str]] = {}

    def refuse(what: str, reason: str, label: str | None = None) -> None:
        problems.setdefault(reason, []).append(label or what)
        skipped.append((what, reason))

    good = []
    for path_, site in sites.items():
        if site.first != path_:
            continue  # a tied Parameter is loaded once, under its first path
        param = site.param
        key = plan.chosen.get(path_)
        if key is None:
            refuse(path_, "no unambiguous key in the file" if plan.ambiguous
                   else "missing from the file")
            continue
        value = arrays[key]
        dtype = _compat.dtype_name(param)
        file_key = origin[key] if origin[key] in by_rename else key
        label = path_ if file_key == path_ else f"{path_} (file key {file_key!r})"
        if not shapes_agree(site.shape, value.shape):
            refuse(path_, f"shape {fmt_shape(tuple(value.shape))} in the file, "
                          f"{fmt_shape(site.shape)} in the network", label)
        elif value.dtype.name != dtype:
            refuse(path_, f"dtype {value.dtype.name} in the file, {dtype} in "
                          f"the network (cast one of them, e.g. net.cast("
                          f"'{value.dtype.name}'))", label)
        elif _compat.kvstore_keeps(param) == "distributed":
            refuse(path_, "a Trainer updates it on a distributed kvstore, "
                          "whose servers keep the weights (Gluon cannot reset "
                          "it: the next step would bring the old values "
                          "back); load before creating the Trainer", label)
        else:
            good.append((path_, param, value))
    for path_, first in plan.conflicts:
        refuse(path_, f"tied to {first!r} in the network, but the file holds "
                      "another value here")
    for key in plan.unexpected:
        if origin[key] in by_rename:  # the report also says where it came from
            refuse(f"{key} (file key {origin[key]!r})",
                   "in the file, not in the network", key)
        else:
            refuse(origin[key], "in the file, not in the network")
    for key in plan.ambiguous:
        refuse(origin[key], "in the file; its attribute and shape fit several "
                            "parameters")

    if strict and problems:
        error = (CheckpointShapeMismatch if any(r.startswith("shape ") for r in problems)
                 else CheckpointError)
        raise error(name, _refusal(block, problems, plan, len(good),
                                   foreign=bool(arrays) and not plan.chosen
                                   and not plan.ambiguous))
    # Every value is read now, before the first write: a file that another
    # process cuts or rewrites meanwhile then fails the load with nothing
    # changed.  Parameters without data get arrays of the file's values now
    # too, so that nothing the checks can foresee fails once copying has
    # begun.
    ready = [(path_, param, value, None if _compat.is_initialized(param)
              else _compat.as_array_of(param, value))
             for (path_, param, _), value in zip(
                 good, files.read_all([value for _, _, value in good]))]
    loaded = [path_ for path_, *_ in ready]
    # In-place writes are an error inside autograd.record() (compatibility §6).
    with autograd.pause():
        # Each value is let go once it is copied, so the memory held for
        # the file shrinks as the copies go in.
        ready.reverse()
        while ready:
            _, param, value, made = ready.pop()
            if made is None:
                _compat.set_values(param, value)
            else:
                _compat.load_init(param, made)
            del value, made
    renamed = dict(by_rename)
    renamed.update(plan.renamed)
    return LoadReport(name, raw.format, loaded, skipped,
                      renamed, sum(s.first == p for p, s in sites.items()),
                      by_rename, dropped)


def _refusal(block, problems: dict, plan: _Plan, matching: int,
             foreign: bool = False) -> str:
    parts = [f"{reason}: {examples(names)}" for reason, names in problems.items()]
    text = f"cannot load into {type(block).__name__}: " + "; ".join(parts) + "."
    if plan.ambiguous:
        text += (" The file is keyed by MXNet 1.x global names (an export or "
                 "collect_params().save), which depend on how many blocks the "
                 "saving process had built, and several parameters share an "
                 "attribute and shape, so their paths cannot be told apart. "
                 "Load it with MXNet 1.x into the network built the same way in "
                 "a fresh process (the names then match) and re-save it with "
                 "mp.save.")
    elif foreign:
        text += (" No key of the file is a path of this network: for a file "
                 "keyed another way (another framework's names), map its keys "
                 "to paths with rename= (docs/checkpoints.md).")
    which = "parameter that matches" if matching == 1 else "parameters that match"
    return text + f" Nothing was loaded; strict=False loads the {matching} {which}"


# -- inspect -------------------------------------------------------------

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
    stats = (None, None, None)
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

    def __init__(self, raw: files.RawCheckpoint,
                 progress: files.Progress | None = None):
        if not isinstance(raw, files.RawCheckpoint):
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
            self.entries.append(_entry(key, files.materialize(array)))
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
                 if k != files.META_TIED}
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


def inspect_checkpoint(file, *, progress: files.Progress | None = None
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
    return Inspection(files.read(file), progress)


#: The name of mxparams 0.1 (it shadowed the standard module on a star
#: import, so it is no longer in ``__all__``).
inspect = inspect_checkpoint


# -- comparing and converting files (the command line) --------------------

def normalized(raw: files.RawCheckpoint) -> dict:
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

    def __init__(self, a: files.RawCheckpoint, b: files.RawCheckpoint,
                 progress: files.Progress | None = None):
        for name, raw in (("a", a), ("b", b)):
            if not isinstance(raw, files.RawCheckpoint):
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


class Conversion(NamedTuple):
    """What :func:`convert` did."""
    source: files.RawCheckpoint
    arrays: int   # arrays written
    format: str   # the format written (as ``inspect`` names it)


def convert(src, dst, *, format: str | None = None,
            progress: files.Progress | None = None) -> Conversion:
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
    fmt = files.choose_format(dst, format)
    raw = files.read(src)
    arrays = normalized(raw)
    if fmt == "mxnet":
        files.write(dst, arrays, progress)
        return Conversion(raw, len(arrays), files.MXNET)
    stored = {k: v for k, v in arrays.items() if k not in raw.aliases}
    metadata = {files.META_WRITER: _version(), files.META_SOURCE: raw.format,
                files.META_KEYS: raw.metadata.get(files.META_KEYS)
                or _keys_kind(list(stored))}
    tied: dict[str, list[str]] = {}
    for alias, key in raw.aliases.items():
        tied.setdefault(key, []).append(alias)
    if tied:
        metadata[files.META_TIED] = json.dumps(tied, separators=(",", ":"))
    files.write(dst, stored, progress, format=fmt, metadata=metadata)
    return Conversion(raw, len(stored), files.SAFETENSORS)


def _version() -> str:
    return __version__


def _keys_kind(keys: list) -> str:
    """What the keys of a converted file are, for its metadata."""
    if keys and all("." not in k and _compat.split_global_name(k) is not None
                    for k in keys):
        return files.KEYS_NAMES
    return files.KEYS_SOURCE
