"""Tied (shared) parameters: ``tie`` and ``tied_groups``.

Tying makes one block use another's very Parameter objects (same object,
same array, one gradient that sums both uses).  Gluon 2 does it with
``share_parameters``; Gluon 1.x only at construction (``params=``).  ``tie``
works on already-built blocks on both, through ``_compat.share``.
"""
from __future__ import annotations

import warnings

from mxnet import gluon

from . import _compat
from ._table import fmt_shape
from .errors import ShapeMismatch, examples
from .params import _check_block, blocks, shapes_agree


def _hybridized(root: gluon.Block) -> bool:
    return any(getattr(b, "_active", False) for b in blocks(root).values())


def _clear_cached_graphs(root: gluon.Block) -> None:
    for block in blocks(root).values():
        if hasattr(block, "_clear_cached_op"):
            block._clear_cached_op()


def tie(dst: gluon.Block, src: gluon.Block, *,
        root: gluon.Block | None = None) -> gluon.Block:
    """Make ``dst`` use ``src``'s Parameter objects; return ``dst``.

    Every path of ``dst`` that also exists in ``src`` is tied (nested blocks
    included): afterwards ``dst`` holds the very same Parameter, so its
    data is ``src``'s and the gradients of both uses add up.  Everything is
    checked before anything changes: the blocks must have paths in common,
    with equal dtypes and shapes that agree where known (a dimension still
    unknown before the first forward pass agrees with anything).

    Returning ``dst`` gives a version-stable form of the 1.x idiom
    ``nn.Dense(8, params=shared.params)``:

    >>> import mxparams as mp
    >>> from mxnet.gluon import nn
    >>> shared = nn.Dense(8, activation="relu")
    >>> net = nn.Sequential()
    >>> net.add(nn.Dense(8, activation="relu"), shared,
    ...         mp.tie(nn.Dense(8, activation="relu"), shared), nn.Dense(10))
    >>> net[2].weight is net[1].weight
    True
    >>> mp.tied_groups(net)
    [['1.weight', '2.weight'], ['1.bias', '2.bias']]

    A hybridized network that has already run keeps using its cached graph,
    which still holds the old Parameters (Gluon does not notice).  Pass
    that network as ``root`` and its cached graphs are dropped, so the next
    call traces the tied network; without ``root``, tying a hybridized
    block warns.
    """
    _check_block(dst, "tie")
    _check_block(src, "tie")
    if root is not None:
        _check_block(root, "tie")
    mine = _compat.structural_params(dst)
    theirs = _compat.structural_params(src)
    common = [p for p in mine if p in theirs]
    if not common:
        raise ValueError(
            f"cannot tie {type(dst).__name__} to {type(src).__name__}: they "
            f"have no parameter path in common ({type(dst).__name__} has "
            f"{examples(mine)}; {type(src).__name__} has "
            f"{examples(theirs)}). tie(dst, src) shares the parameters found "
            "at the same path in both, so pass blocks of the same structure")
    dst_blocks, src_blocks = blocks(dst), blocks(src)
    shapes, dtypes = [], []
    for path in common:
        owner, _, attr = path.rpartition(".")
        a = _compat.display_shape(dst_blocks[owner], attr, mine[path])
        b = _compat.display_shape(src_blocks[owner], attr, theirs[path])
        if not shapes_agree(a, b):
            shapes.append(f"{path!r}: expected {fmt_shape(b)} (as in "
                          f"{type(src).__name__}), got {fmt_shape(a)}")
        da, db = _compat.dtype_name(mine[path]), _compat.dtype_name(theirs[path])
        if da != db:
            dtypes.append(f"{path!r}: {db} in {type(src).__name__}, {da} in "
                          f"{type(dst).__name__}")
    if shapes:
        raise ShapeMismatch(
            "cannot tie: shapes differ at " + "; ".join(shapes)
            + ". Nothing was changed")
    if dtypes:
        raise TypeError("cannot tie: dtypes differ at " + "; ".join(dtypes)
                        + ". Cast one block first (block.cast(dtype)); "
                        "nothing was changed")

    hybridized = _hybridized(dst) or _hybridized(src)
    _compat.share(dst, {path: theirs[path] for path in common
                        if mine[path] is not theirs[path]})
    # A cached graph holds the Parameters it was traced with (COMPAT §8).
    _clear_cached_graphs(dst)
    _clear_cached_graphs(src)
    if root is not None:
        _clear_cached_graphs(root)
    elif hybridized:
        warnings.warn(
            f"tied a hybridized {type(dst).__name__}: a network containing it "
            "that has already run keeps the old parameters in its cached "
            "graph. Pass that network as mp.tie(..., root=net), or call "
            "net.hybridize() again", UserWarning, stacklevel=2)
    return dst


def tied_groups(block: gluon.Block) -> list[list[str]]:
    """Paths that share one Parameter object, one list per shared Parameter.

    Lists are in order of first appearance; a parameter used at one path
    only is not listed.

    >>> import mxparams as mp
    >>> from mxnet.gluon import nn
    >>> net = nn.Sequential()
    >>> layer = nn.Dense(4)
    >>> net.add(layer, nn.Dense(4), layer)
    >>> mp.tied_groups(net)
    [['0.weight', '2.weight'], ['0.bias', '2.bias']]
    """
    _check_block(block, "tied_groups")
    groups: dict[int, list[str]] = {}
    for path, param in _compat.structural_params(block).items():
        groups.setdefault(id(param), []).append(path)
    return [paths for paths in groups.values() if len(paths) > 1]
