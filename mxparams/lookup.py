"""Looking up one parameter or block by path: ``get``, ``get_block``."""
from __future__ import annotations

from mxnet import gluon

from . import _compat
from .errors import BlockNotFound, did_you_mean, quoted_names
from .params import collect, not_found, walk


def get(block: gluon.Block, path: str) -> gluon.Parameter:
    """The Parameter at structural path ``path`` (like ``'0.1.0.bias'``).

    On MXNet 1.x the process's global name (``'dense0_weight'``) is accepted
    too.  On 2.x such a name raises an error that explains structural paths
    and lists the likely ones.  Unknown names raise :class:`ParamNotFound`
    (a ``KeyError``) listing the closest paths; a ``path`` that is not a
    str raises ``TypeError``.

    >>> from mxnet.gluon import nn
    >>> net = nn.HybridSequential()
    >>> net.add(nn.Dense(8, in_units=4), nn.Dense(2, in_units=8))
    >>> get(net, "1.bias") is net[1].bias
    True
    >>> get(net, "1.bais")  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    mxparams.errors.ParamNotFound: no parameter at path '1.bais' in HybridSequential.
    Did you mean '1.bias', '0.bias'?
    """
    if not isinstance(path, str):
        raise TypeError(f"mp.get: path must be a str, a structural path such "
                        f"as '0.weight', got {type(path).__name__} {path!r}")
    params = collect(block)
    found = params._params.get(path)
    if found is not None:
        return found
    named = _compat.path_of_global_name(params, path)
    if named is not None:
        return params[named]
    raise not_found(path, params._params, params.owner_types(),
                    type(block).__name__)


def get_block(block: gluon.Block, path: str) -> gluon.Block:
    """The block at structural path ``path``; ``''`` is ``block`` itself.

    Block paths are parameter paths without the attribute: ``'1.0'`` is
    the first child of the second child, the block that owns
    ``'1.0.weight'``.  They are the names in ``mp.tree``'s first column
    and the same on MXNet 1.x and 2.x.  An unknown path raises
    :class:`BlockNotFound` (a ``KeyError``) with the closest paths; a
    ``path`` that is not a str raises ``TypeError``.

    >>> import mxparams as mp
    >>> from mxnet.gluon import nn
    >>> inner = nn.HybridSequential()
    >>> inner.add(nn.Dense(4, in_units=3))
    >>> net = nn.HybridSequential()
    >>> net.add(nn.Dense(3, in_units=2), inner)
    >>> mp.get_block(net, "1.0") is inner[0]
    True
    >>> mp.get_block(net, "1.0.weight")  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    mxparams.errors.BlockNotFound: no block at path '1.0.weight' in HybridSequential:
    it is a parameter path; get the parameter with mp.get(block, '1.0.weight'),
    its block with mp.get_block(block, '1.0')
    """
    if not isinstance(path, str):
        raise TypeError(f"mp.get_block: path must be a str, a structural path "
                        f"such as '0' or '1.0', got {type(path).__name__} "
                        f"{path!r}")
    found = walk(block, "get_block")
    node = found.nodes.get(path)
    if node is not None:
        return node.block
    where = f"no block at path {path!r} in {type(block).__name__}"
    if path in found.params:
        owner = path.rpartition(".")[0]
        raise BlockNotFound(f"{where}: it is a parameter path; get the "
                            f"parameter with mp.get(block, {path!r}), its "
                            f"block with mp.get_block(block, {owner!r})")
    paths = [p for p in found.nodes if p]
    if not paths:
        raise BlockNotFound(f"{where}: it has no child blocks")
    hint = did_you_mean(path, paths)
    if hint:
        raise BlockNotFound(f"{where}. D{hint[1:]}")
    raise BlockNotFound(f"{where}. It has {len(paths)} block paths, e.g. "
                        f"{quoted_names(paths[:5])}; list them with mp.tree(block)")
