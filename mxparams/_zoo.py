"""Building Gluon model-zoo networks (for the command line, tests, benchmarks)."""
from __future__ import annotations

import mxnet as mx
from mxnet import gluon

from . import _compat


def names() -> list[str]:
    """Every network ``get_model`` knows.

    Gluon keeps the table inside ``get_model``; its error for an unknown
    name lists them, one per line, so ask it rather than copy the table.
    """
    from mxnet.gluon.model_zoo import vision
    try:
        vision.get_model("")
    except ValueError as err:
        return [line.strip() for line in str(err).splitlines()[1:]]
    return []


def input_shape(name: str) -> tuple[int, ...]:
    """The input the network was designed for (Inception v3 wants 299)."""
    side = 299 if name.startswith("inception") else 224
    return (1, 3, side, side)


def check_name(name: str) -> None:
    """A ValueError with the closest names if ``get_model`` does not know ``name``."""
    known = names()
    if name.lower() not in known:
        from .errors import did_you_mean
        hint = did_you_mean(name.lower(), known, cutoff=0.6)
        raise ValueError(f"unknown model-zoo network {name!r}"
                         + (f"; {hint}" if hint else ""))


def get(name: str) -> gluon.Block:
    """``get_model(name, pretrained=False)`` in the current array mode."""
    from mxnet.gluon.model_zoo import vision
    check_name(name)
    return vision.get_model(name, pretrained=False)


def build(name: str, mode: str = "np", forward: bool = True) -> gluon.Block:
    """``get_model(name, pretrained=False)`` in array ``mode``, initialized
    with zeros and run once on ones (so every deferred shape is known) if
    ``forward``.
    """
    check_name(name)  # before the mode changes
    _compat.set_mode(mode)
    net = get(name)
    if forward:
        # Zeros: the tables need shapes, not values, and drawing random
        # numbers for VGG's 138M parameters takes seconds.
        net.initialize(mx.init.Zero())
        x = _compat.ones(input_shape(name))
        net(x).wait_to_read()
    return net


def build_any_mode(name: str, forward: bool = True) -> tuple[gluon.Block, str]:
    """Build in numpy mode, or in legacy nd mode where only that works.

    Several 1.x networks (DenseNet, Inception v3, SqueezeNet, MobileNetV2)
    use legacy operators that reject numpy arrays (compatibility §10).
    """
    try:
        return build(name, "np", forward), "np"
    except TypeError as err:  # 'legacy operator which can only accept...'
        if "nd" not in _compat.MODES or "legacy" not in str(err):
            raise
    return build(name, "nd", forward), "nd"
