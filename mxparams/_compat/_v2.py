"""MXNet 2.x: Gluon without ``ParameterDict`` or global names, numpy mode only.

The same names as ``_v1.py``; ``__init__.py`` imports one of the two.  Each
fact carries the section of ``docs/compatibility.md`` where it was measured.
"""
from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import mxnet as mx
from mxnet import gluon

from ._names import split_global_name

# §2: a Parameter's name is only its attribute ('weight', not unique) and
# the ParameterDict is gone.
GLOBAL_NAMES = False

# §10: Gluon 2 is numpy-only: its Block rejects legacy mx.nd inputs and
# builds mx.np parameters even after reset_np.
# Told by the nd-era Block constructor, ``Block(prefix=None, params=None)``,
# which went away in the same rewrite (2.x: ``Block()``).
ND_MODE_SUPPORTED = "prefix" in gluon.Block.__init__.__code__.co_varnames

# §4: convolution layers pre-infer their weight shape from kernel and
# channels only (``_Conv.pre_infer``) and leave the input-channel
# dimension unknown until the first forward pass even when
# ``in_channels`` was given.  For display it is filled in from the layer's
# settings (``_params.display_shape``); the Parameter is never touched.
# An MXNet class (MXNet has no stubs): isinstance() narrows to Any.
CONV_CLASS: type[Any] | None = getattr(gluon.nn.conv_layers, "_Conv", None)
CONV_SHAPE_NEEDS_IN_CHANNELS = (CONV_CLASS is not None
                                and hasattr(CONV_CLASS, "pre_infer"))

# §7: blocks are tied after construction with Block.share_parameters.
SHARE_PARAMETERS = hasattr(gluon.Block, "share_parameters")

# §12: MXNet 2 flushes subnormal numbers to zero (FTZ/DAZ) on the threads
# that run its operators (the Python thread with NaiveEngine) and has this
# switch to turn it off per thread.
SET_FLUSH_DENORMS: Callable[[bool], bool] | None = getattr(mx.util, "set_flush_denorms", None)


def after_cast(param: gluon.Parameter) -> None:
    """Nothing: 2.x's ``Parameter.cast`` drops the symbol variable that
    holds the old dtype itself (1.x keeps it, see ``_v1.after_cast``)."""


def list_devices(param: gluon.Parameter) -> list:
    """§1: ``Parameter.list_device`` (``list_ctx`` warns on 2.x)."""
    return param.list_device()


def trainer_of(param: gluon.Parameter):
    """§6: the Trainer is kept as a weak reference."""
    ref = param._trainer
    return ref() if ref is not None else None


def global_name(param: gluon.Parameter) -> str | None:
    """None: 2.x parameters have no global names."""
    return None


def path_of_global_name(params: Mapping[str, gluon.Parameter],
                        name: str) -> str | None:
    """None: 2.x parameters have no global names."""
    return None


def foreign_global_name(name: str) -> tuple[str, str] | None:
    """(block class, attribute) of a 1.x-style name ('dense0_weight'),
    which on 2.x can only come from 1.x code or output; None otherwise."""
    parts = split_global_name(name)
    if parts is None:
        return None
    prefix, attr = parts
    return re.sub(r"\d+$", "", prefix.rpartition("_")[2]), attr


def register_param(block: gluon.Block, param: gluon.Parameter) -> None:
    """Nothing: 2.x reads a block's parameters from ``_reg_params`` alone
    (1.x also from its ParameterDict, see ``_v1.register_param``)."""


def keep_symbol_names(block: gluon.SymbolBlock) -> None:
    """Nothing: a 2.x ``SymbolBlock`` keys its parameters by the symbol's
    whole variable names (1.x cuts their common prefix, see
    ``_v1.keep_symbol_names``)."""


def new_symbol_block(outputs, inputs: list) -> gluon.SymbolBlock:
    """``gluon.SymbolBlock(outputs, inputs)``: 2.x takes numpy symbols (1.6.0
    does not, see ``_v1.new_symbol_block``)."""
    return gluon.SymbolBlock(outputs, inputs)


def new_constant(block: gluon.Block, name: str, value) -> gluon.Parameter:
    """§8: ``gluon.Constant(value)`` (``Constant(name, value)`` raises)."""
    # Gluon registers the constant's initializer under 'Constant_<id>'.
    # Once an earlier Constant is freed its id is reused and MXNet warns
    # that the new one overrides the dead one's registration: harmless, but
    # an error where warnings are (1.x puts the parameter's unique name into
    # it and never collides).
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", r".*registered with name constant_\d+ is", UserWarning)
        return gluon.Constant(value)


def named_params(block: gluon.Block) -> dict | None:
    """None: there is no ParameterDict to save for a rollback."""
    return None


def restore_named_params(block: gluon.Block, saved: dict | None) -> None:
    pass


def share(replacements: Iterable[tuple[gluon.Block, str, gluon.Parameter]]) -> None:
    """§7: the owner's own ``share_parameters({attribute: parameter})``,
    keyed relative to the block it is called on, so blocks with keys of
    their own (a ``SymbolBlock``'s '0.weight', a fused RNN) tie too."""
    by_owner: dict[int, tuple[gluon.Block, dict]] = {}
    for owner, attr, new in replacements:
        by_owner.setdefault(id(owner), (owner, {}))[1][attr] = new
    for owner, mapping in by_owner.values():
        owner.share_parameters(mapping)
