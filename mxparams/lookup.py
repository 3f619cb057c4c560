"""Looking up one parameter: ``get``."""
from __future__ import annotations

from mxnet import gluon

from . import _compat
from .params import collect, not_found


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
    >>> get(net, "1.bais")
    Traceback (most recent call last):
    ...
    mxparams.errors.ParamNotFound: no parameter at path '1.bais' in HybridSequential. Did you mean '1.bias', '0.bias'?
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
