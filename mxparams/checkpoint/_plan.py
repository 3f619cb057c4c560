"""Planning a load: which key of a file goes to which parameter.

A file's keys are structural paths (``mp.save``, ``save_parameters``), the
``arg:``/``aux:`` keys of an ``export``, or MXNet 1.x global names; they are
renamed as asked and matched with the network's paths before anything is
written, so a refused load changes nothing.
"""


from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple, TypeAlias

from .. import _compat
from .._arrays import difference
from ..errors import CheckpointError, did_you_mean, examples
from ..params import shapes_agree
from ._common import RawCheckpoint

_EXPORT_PREFIXES = ("arg:", "aux:")


#: What ``rename=`` of :func:`load` accepts: {file key: path or None}, or a
#: function of the file key giving the path (None drops the key).
Rename: TypeAlias = Mapping | Callable[[str], str | None] | None


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


def _view(raw: RawCheckpoint) -> tuple[dict, dict]:
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
    out, new_origin, by_rename, dropped = {}, {}, {}, []
    source: dict[str, str] = {}  # path -> the file key that gives it
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
    # (path, first path): tied paths the file disagrees on
    conflicts: Sequence[tuple[str, str]] = ()


def _plan(keys: dict, arrays: dict, sites: dict) -> _Plan:
    """Which file key goes to which Parameter (``keys``: short -> file key).

    ``sites`` are the network's, from the walk; a Parameter reachable by
    several paths (tied) is one entry, under its first path.  Where the
    file holds several of a Parameter's paths, the first one's value is
    used and the others must hold the same values (NaN equal to NaN), or
    they are conflicts.
    """
    paths = _compat.paths_by_parameter(sites)
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
    by_name: dict[str, str] = {}  # global name -> path
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
    for candidates_, found in groups.values():
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
