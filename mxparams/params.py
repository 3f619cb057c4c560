"""Structural access to parameters: ``collect``, ``ParamDict``, ``select``."""
from __future__ import annotations

import html
import math
import numbers
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TypeAlias

import numpy
from mxnet import gluon

from . import _compat
from ._table import Column, Table, fmt_shape
from .errors import ParamNotFound, did_you_mean, examples, quoted_names

#: What ``select`` accepts: a regular expression matched from the start of
#: the path (``re.match``), a list of such (any may match), or a callable
#: ``f(path, param) -> bool``.
Select: TypeAlias = str | Sequence[str] | Callable[[str, gluon.Parameter], bool] | None


def _check_block(block: object, func: str) -> gluon.Block:
    if isinstance(block, gluon.Block):
        return block
    hint = ""
    if isinstance(block, gluon.Parameter):
        hint = " (got a single Parameter; pass the block that holds it)"
    elif isinstance(block, ParamDict):
        hint = " (got a ParamDict; pass the block it was collected from)"
    raise TypeError(f"mp.{func} expects a Gluon Block such as "
                    f"nn.HybridSequential, got {type(block).__name__}{hint}")


def matcher(select: Select) -> Callable[[str, gluon.Parameter], bool] | None:
    """Turn ``select`` into ``f(path, param) -> bool``; None selects all."""
    if select is None:
        return None
    if callable(select):
        return select
    patterns = [select] if isinstance(select, str) else select
    if not isinstance(patterns, (list, tuple)) or not all(
            isinstance(p, str) for p in patterns):
        raise TypeError(
            "select must be a regular expression (str), a list of them, or a "
            f"callable f(path, param) -> bool; got {type(select).__name__}")
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as err:
            raise ValueError(
                f"select: {pattern!r} is not a valid regular expression "
                f"({err}); to match a literal dot write '\\.', e.g. "
                "'0\\.weight'") from None
    if len(compiled) == 1:
        match = compiled[0].match
        return lambda path, _param: match(path) is not None
    return lambda path, _param: any(c.match(path) for c in compiled)


def elements(shape: tuple | None) -> int | None:
    """Number of scalars in ``shape``; None while any dimension is unknown."""
    if shape is None or None in shape:
        return None
    return math.prod(shape)


def shapes_agree(a: tuple | None, b: tuple | None) -> bool:
    """Shapes agree where both are known (None: a dimension not known yet).

    >>> shapes_agree((8, None), (8, 20)), shapes_agree((8, 4), (8, 5))
    (True, False)
    """
    if a is None or b is None:
        return True
    return len(a) == len(b) and all(x is None or y is None or x == y
                                    for x, y in zip(a, b, strict=True))


def check_count(value: object, name: str, func: str, meaning: str,
                optional: bool = False) -> None:
    """``value`` is an int of at least 1 (or None when ``optional``).

    A wrong type is a TypeError and a wrong value a ValueError, for every
    option of every function.

    >>> check_count(0, "depth", "summary", "block levels from 1", True)
    Traceback (most recent call last):
    ...
    ValueError: summary: depth counts block levels from 1, got 0
    """
    if value is None and optional:
        return
    check_int(value, name, func, meaning, optional)
    assert isinstance(value, numbers.Integral)  # check_int raised otherwise
    if value < 1:
        raise ValueError(f"{func}: {name} counts {meaning}, got {value}")


def check_int(value: object, name: str, func: str, meaning: str,
              optional: bool = False) -> None:
    """``value`` is an integer, Python's or numpy's, not a bool (or None
    when ``optional``).

    >>> check_int(1.5, "step", "Watch.record", "the training step", True)
    Traceback (most recent call last):
    ...
    TypeError: Watch.record: step must be an int (the training step) or None, got float 1.5
    """
    if value is None and optional:
        return
    if not isinstance(value, numbers.Integral) or isinstance(
            value, (bool, numpy.bool_)):
        raise TypeError(f"{func}: {name} must be an int ({meaning})"
                        + (" or None" if optional else "")
                        + f", got {type(value).__name__} {value!r}")


def check_str(value: object, name: str, func: str, meaning: str) -> None:
    """``value`` is a str (a name chosen from a list, checked after this).

    >>> check_str(["norm"], "field", "plot_watch", "a statistic such as 'norm'")
    Traceback (most recent call last):
    ...
    TypeError: plot_watch: field must be a str (a statistic such as 'norm'), got list ['norm']
    """
    if not isinstance(value, str):
        raise TypeError(f"{func}: {name} must be a str ({meaning}), got "
                        f"{type(value).__name__} {value!r}")


def check_flag(value: object, name: str, func: str) -> None:
    """``value`` is True or False: a truthy string or None would silently
    mean the opposite of what was meant (``strict="no"`` is true).

    >>> check_flag(None, "strict", "load")
    Traceback (most recent call last):
    ...
    TypeError: load: strict must be True or False, got NoneType None
    """
    if not isinstance(value, (bool, numpy.bool_)):
        raise TypeError(f"{func}: {name} must be True or False, got "
                        f"{type(value).__name__} {value!r}")


def check_callable(value: object, name: str, func: str, meaning: str,
                   optional: bool = False) -> None:
    """``value`` can be called (or is None when ``optional``).

    >>> check_callable(5, "progress", "inspect_checkpoint",  # doctest: +NORMALIZE_WHITESPACE
    ...                "progress(n) is called with the bytes read", True)
    Traceback (most recent call last):
    ...
    TypeError: inspect_checkpoint: progress must be a function or None
    (progress(n) is called with the bytes read), got int 5
    """
    if (value is None and optional) or callable(value):
        return
    raise TypeError(f"{func}: {name} must be a function"
                    + (" or None" if optional else "")
                    + f" ({meaning}), got {type(value).__name__} {value!r}")


def check_checkpoint_call(func: str, files: Mapping[str, object], *,
                          progress: object = None,
                          flags: Mapping[str, object] | None = None) -> None:
    """The arguments the checkpoint functions share, checked before any
    file is touched: each of ``files`` (argument name -> value) a path,
    ``progress`` None or a function, each of ``flags`` True or False.

    >>> check_checkpoint_call("load", {"file": 7})
    Traceback (most recent call last):
    ...
    TypeError: load: file: a checkpoint path is a str, bytes or os.PathLike, got int 7
    """
    for name, file in files.items():
        if not isinstance(file, (str, bytes, os.PathLike)):
            raise TypeError(f"{func}: {name}: a checkpoint path is a str, "
                            f"bytes or os.PathLike, got {type(file).__name__} "
                            f"{file!r}")
    check_callable(progress, "progress", func,
                   "progress(n) is called with each array's size in bytes",
                   optional=True)
    for name, value in (flags or {}).items():
        check_flag(value, name, func)


def check_depth(depth: object, func: str) -> None:
    """``depth`` is None or a block level counted from 1 (the children)."""
    check_count(depth, "depth", func,
                "block levels from 1, the network's children", optional=True)


def walk(block: object, func: str) -> _compat.Walk:
    """The structural walk of ``block``, after checking it is a Block."""
    return _compat.walk(_check_block(block, func))


class ParamDict(Mapping):
    """A read-only mapping from structural path to Gluon's own Parameter.

    Returned by :func:`collect`.  Iteration follows Gluon's traversal (a
    block's own parameters, then its children in registration order); the
    values are the very ``Parameter`` objects of the network, so changing
    one changes the network.  The text repr is the same on MXNet 1.x and
    2.x; Jupyter shows an HTML table.

    >>> from mxnet.gluon import nn
    >>> net = nn.HybridSequential()
    >>> net.add(nn.Dense(256, in_units=20), nn.Dense(10, in_units=256))
    >>> params = collect(net)
    >>> params
    ParamDict(
      0.weight  (256, 20)  float32
      0.bias    (256,)     float32
      1.weight  (10, 256)  float32
      1.bias    (10,)      float32
    )
    >>> params["1.bias"] is net[1].bias
    True
    """

    __slots__ = ("_params", "_walk", "_select", "_pool")

    def __init__(self, params: dict, walk: _compat.Walk, select: Select = None,
                 pool: Mapping | None = None):
        self._params = params  # owned, never copied
        self._walk = walk      # where the paths were found
        # What a selection chose from, so that an empty one can say what
        # it missed (the chapter's seed: collect_params('dense16.*') came
        # back empty after 1.x names drifted, and said nothing).
        self._select = select
        self._pool = walk.params if pool is None else pool

    def __getitem__(self, path: str) -> gluon.Parameter:
        # A key that is not a str is a KeyError (ParamNotFound), not the
        # TypeError mp.get raises: a Mapping answers every missing key
        # with KeyError, and Mapping.get, `in` and dict(params) rely on
        # that.  The message still says paths are strings.
        try:
            return self._params[path]
        except (KeyError, TypeError):
            raise not_found(path, self._params, self.owner_types(),
                            "this ParamDict") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and path in self._params

    def select(self, select: Select) -> ParamDict:
        """The entries that ``select`` matches, as a new ParamDict.

        >>> from mxnet.gluon import nn
        >>> net = nn.HybridSequential()
        >>> net.add(nn.Dense(3, in_units=2), nn.Dense(1, in_units=3))
        >>> list(collect(net).select(".*bias"))
        ['0.bias', '1.bias']
        """
        match = matcher(select)
        if match is None:
            return self
        return ParamDict({k: v for k, v in self._params.items() if match(k, v)},
                         self._walk, select, self._params)

    def unique(self) -> list[gluon.Parameter]:
        """Each Parameter object once, in first-seen order (tied ones once).

        >>> from mxnet.gluon import nn
        >>> shared = nn.Dense(2, in_units=2)
        >>> net = nn.HybridSequential()
        >>> net.add(shared, shared)
        >>> len(collect(net)), len(collect(net).unique())
        (4, 2)
        """
        return list({id(p): p for p in self._params.values()}.values())

    # -- what the walk knows of each path --------------------------------

    def sites(self) -> dict[str, _compat.Site]:
        """path -> :class:`~mxparams._compat.Site` (owner, attribute, shape...)."""
        everything = self._walk.sites()
        return {path: everything[path] for path in self._params}

    def owner_types(self) -> dict[str, str]:
        """path -> class name of the block that holds the parameter."""
        return {path: type(site.owner).__name__
                for path, site in self.sites().items()}

    def shapes(self) -> dict[str, tuple | None]:
        """Display shapes: unknown dims as None, identical on 1.x and 2.x."""
        return {path: site.shape for path, site in self.sites().items()}

    # -- display ---------------------------------------------------------

    def _table(self, header: bool) -> Table:
        shapes = self.shapes()
        rows = [(path, fmt_shape(shapes[path]), _compat.dtype_name(p))
                for path, p in self._params.items()]
        return Table([Column("Path"), Column("Shape"), Column("Dtype")], rows,
                     header=header)

    def empty_reason(self) -> list[str]:
        """Why a selection came back empty, with paths that do exist
        (no lines when it is not empty or nothing was selected).

        >>> from mxnet.gluon import nn
        >>> net = nn.HybridSequential()
        >>> net.add(nn.Dense(3, in_units=2), nn.Dense(1, in_units=3))
        >>> for line in collect(net, select="dense1_.*").empty_reason():
        ...     print(line)
        select='dense1_.*' matches none of the 4 paths
        the paths are structural, such as '0.weight', '0.bias', '1.weight', '1.bias'
        'dense1' looks like an MXNet 1.x name; those drift and are not paths
        """
        if self._params or self._select is None:
            return []
        if not self._pool:
            return [f"select={_describe(self._select)} had no parameters to "
                    "choose from"]
        lines = [f"select={_describe(self._select)} matches none of the "
                 f"{len(self._pool)} paths"]
        lines.append(f"the paths are structural, such as {examples(self._pool)}")
        patterns = ([self._select] if isinstance(self._select, str)
                    else self._select if isinstance(self._select, (list, tuple))
                    else [])
        for pattern in patterns:
            # 'dense16.*', 'dense0_weight': a Gluon class name and a counter,
            # the way MXNet 1.x names parameters.
            name = re.match(r"[a-z]+\d+_?(?:[a-z_]*[a-z])?", pattern)
            if name:
                lines.append(f"{name.group(0).rstrip('_')!r} looks like an MXNet "
                             "1.x name; those drift and are not paths")
                break
        return lines

    def __repr__(self) -> str:
        if not self._params:
            reason = self.empty_reason()
            if not reason:
                return "ParamDict()"
            return "ParamDict(\n" + "".join(f"  # {line}\n" for line in reason) + ")"
        body = self._table(header=False).to_text()
        return "ParamDict(\n" + "\n".join("  " + line for line in
                                          body.splitlines()) + "\n)"

    def _repr_html_(self) -> str:
        if not self._params:
            reason = "; ".join(html.escape(line) for line in self.empty_reason())
            return f"<p><code>ParamDict()</code>{': ' + reason if reason else ''}</p>"
        return self._table(header=True).to_html()


def _describe(select: Select) -> str:
    """``select`` as a message shows it: a pattern or list as written, a
    function by its name."""
    if callable(select):
        return f"<function {getattr(select, '__qualname__', type(select).__name__)}>"
    return repr(select)


def collect(block: gluon.Block, *, select: Select = None) -> ParamDict:
    """All parameters of ``block`` by structural path, optionally selected.

    The keys are exactly those Gluon's ``save_parameters`` writes, in the
    same order, on MXNet 1.x and 2.x alike; the values are Gluon's own
    ``Parameter`` objects.  ``select`` is a regular expression matched
    against the start of each path (``re.match``), a list of such, or a
    callable ``f(path, param) -> bool``.

    >>> from mxnet.gluon import nn
    >>> net = nn.HybridSequential()
    >>> net.add(nn.Dense(8, in_units=4), nn.Dense(2, in_units=8))
    >>> list(collect(net))
    ['0.weight', '0.bias', '1.weight', '1.bias']
    >>> list(collect(net, select=".*weight"))
    ['0.weight', '1.weight']
    >>> list(collect(net, select=["0", r"1\\.bias"]))
    ['0.weight', '0.bias', '1.bias']
    >>> list(collect(net, select=lambda path, p: p.shape[0] == 2))
    ['1.weight', '1.bias']
    """
    found = walk(block, "collect")
    params = found.params
    match = matcher(select)
    if match is not None:
        params = {k: v for k, v in params.items() if match(k, v)}
    return ParamDict(params, found, select)


def not_found(key: object, params: Mapping, owner_types: Mapping[str, str],
              where: str) -> ParamNotFound:
    """Build the error for a failed lookup of ``key`` among ``params``.

    ``params`` maps paths to Parameters, ``owner_types`` maps each path to the
    class name of the block that owns it, ``where`` describes what was
    searched ("HybridSequential", "this ParamDict").
    """
    if not isinstance(key, str):
        return ParamNotFound(
            f"parameter paths are strings such as '0.weight', got "
            f"{type(key).__name__} {key!r}")
    paths = list(params)
    if not paths:
        return ParamNotFound(f"no parameter at path {key!r}: {where} has no "
                             "parameters")

    owner = _compat.path_of_global_name(params, key)
    if owner is not None:
        return ParamNotFound(
            f"{key!r} is the MXNet 1.x name of the parameter at path "
            f"{owner!r}; the keys here are structural paths. Use "
            f"{owner!r} (the same on MXNet 1.x and 2.x), or look the name "
            "up with mp.get(block, name)")

    message = f"no parameter at path {key!r} in {where}"
    legacy = _compat.foreign_global_name(key)
    if legacy:
        cls, attr = legacy
        candidates = [p for p in paths if p.rpartition(".")[2] == attr
                      and owner_types.get(p, "").lower() == cls]
        candidates = candidates or [p for p in paths
                                    if p.rpartition(".")[2] == attr]
        hint = (f"{key!r} looks like an MXNet 1.x global name; MXNet "
                f"{_compat.MXNET_VERSION} has no global names (they depended "
                "on how many blocks the process had built). Parameters are "
                "found by structural path: child names joined by dots, e.g. "
                "'0.weight' or '1.0.bias'")
        if candidates:
            shown = candidates[:6] + (["..."] if len(candidates) > 6 else [])
            hint += f". Paths ending in {attr!r}"
            if owner_types.get(candidates[0], "").lower() == cls:
                hint += f" in {owner_types[candidates[0]]} layers"
            hint += ": " + ", ".join(shown)
        return ParamNotFound(f"{message}. {hint}")

    # Suggest paths only: they work on every version, names only on 1.x.
    hint = did_you_mean(key, paths)
    if hint:
        return ParamNotFound(f"{message}. D{hint[1:]}")
    shown = paths[:5]
    return ParamNotFound(
        f"{message}. It has {len(paths)} parameter paths, e.g. "
        f"{quoted_names(shown)}; list them all with mp.collect(block).keys()")
