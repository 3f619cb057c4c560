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
from .errors import DTypeMismatch, ShapeMismatch, examples
from .params import shapes_agree, walk


def _blocks(found: _compat.Walk) -> list[gluon.Block]:
    return [node.block for node in found.nodes.values()]


def tie(dst: gluon.Block, src: gluon.Block, *,
        root: gluon.Block | None = None) -> gluon.Block:
    """Make ``dst`` use ``src``'s Parameter objects; return ``dst``.

    Every path of ``dst`` that also exists in ``src`` is tied (nested blocks
    included): afterwards ``dst`` holds the very same Parameter, so its
    data is ``src``'s and the gradients of both uses add up.  Everything is
    checked before anything changes: the blocks must have paths in common,
    with equal dtypes and shapes that agree where known (a dimension still
    unknown before the first forward pass agrees with anything): shapes
    that differ raise :class:`mp.ShapeMismatch`, dtypes that differ
    :class:`mp.DTypeMismatch`, both :class:`mp.Mismatch` errors.

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
    mine = walk(dst, "tie")
    theirs = walk(src, "tie")
    around = walk(root, "tie") if root is not None else None
    common = [p for p in mine.params if p in theirs.params]
    if not common:
        raise ValueError(
            f"cannot tie {type(dst).__name__} to {type(src).__name__}: they "
            f"have no parameter path in common ({type(dst).__name__} has "
            f"{examples(mine.params)}; {type(src).__name__} has "
            f"{examples(theirs.params)}). tie(dst, src) shares the parameters "
            "found at the same path in both, so pass blocks of the same "
            "structure")
    my_sites, their_sites = mine.sites(), theirs.sites()
    shapes, dtypes = [], []
    for path in common:
        a, b = my_sites[path], their_sites[path]
        if not shapes_agree(a.shape, b.shape):
            shapes.append(f"{path!r}: expected {fmt_shape(b.shape)} (as in "
                          f"{type(src).__name__}), got {fmt_shape(a.shape)}")
        da, db = _compat.dtype_name(a.param), _compat.dtype_name(b.param)
        if da != db:
            dtypes.append(f"{path!r}: {db} in {type(src).__name__}, {da} in "
                          f"{type(dst).__name__}")
    if shapes:
        raise ShapeMismatch(
            "cannot tie: shapes differ at " + "; ".join(shapes)
            + ". Nothing was changed")
    if dtypes:
        raise DTypeMismatch("cannot tie: dtypes differ at " + "; ".join(dtypes)
                        + ". Cast one block first (block.cast(dtype)); "
                        "nothing was changed")

    touched = _blocks(mine) + _blocks(theirs)
    hybridized = any(_compat.is_hybridized(b) for b in touched)
    replace = [(my_sites[p].owner, my_sites[p].attr, their_sites[p].param)
               for p in common if my_sites[p].param is not their_sites[p].param]
    with _compat.rollback(blocks={id(o): o for o, _, _ in replace}.values()):
        _compat.share(replace)
    # A cached graph holds the Parameters it was traced with
    # (compatibility §7): every block that may hold one is re-traced.
    for block in touched + (_blocks(around) if around is not None else []):
        _compat.drop_cached_graph(block)
    if around is None and hybridized:
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
    groups = _compat.paths_by_parameter(walk(block, "tied_groups").sites())
    return [paths for paths in groups.values() if len(paths) > 1]
