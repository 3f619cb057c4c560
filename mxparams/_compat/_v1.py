"""MXNet 1.x: Gluon with ``ParameterDict``, global names and two array modes.

The same names as ``_v2.py``; ``__init__.py`` imports one of the two.  Each
fact carries the section of ``docs/compatibility.md`` where it was measured.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import mxnet as mx
from mxnet import gluon

# §2: every Parameter has a process-global name ('dense0_weight', counted
# per class) and each block a ParameterDict keyed by it.
GLOBAL_NAMES = True

# §10: 1.x runs in numpy mode and in legacy nd mode (several model-zoo
# networks only run in nd mode).
# Told by the nd-era Block constructor, ``Block(prefix=None, params=None)``,
# which went away in the same rewrite (2.x: ``Block()``).
ND_MODE_SUPPORTED = "prefix" in gluon.Block.__init__.__code__.co_varnames

# §4: convolution layers know their weight's input channels from
# ``in_channels`` at construction; nothing to fill in for display.
CONV_SHAPE_NEEDS_IN_CHANNELS = False
CONV_CLASS: type[Any] | None = None  # an MXNet class (MXNet has no stubs)

# §7: no ``Block.share_parameters``; tying is done on the structures that
# 1.x's own ``params=`` sharing ends up with (see ``share``).
SHARE_PARAMETERS = hasattr(gluon.Block, "share_parameters")

# §12: 1.x has no switch for flushing subnormals and leaves the Python
# thread alone.
SET_FLUSH_DENORMS: Callable[[bool], bool] | None = None


def after_cast(param: gluon.Parameter) -> None:
    """1.x's ``Parameter.cast`` keeps the symbol variable made for a
    hybridized graph, with the old dtype in it: a graph traced afterwards,
    and ``export``, still declare the old dtype (measured for
    ``mp.cast``; §5 has the other dtype difference).  2.x's own ``cast``
    drops the variable, so it is dropped here too; Gluon makes it again,
    with the new dtype, when a graph needs it."""
    param._var = None


def list_devices(param: gluon.Parameter) -> list:
    """§1: ``Parameter.list_ctx`` (2.x renamed it ``list_device``)."""
    return param.list_ctx()


def trainer_of(param: gluon.Parameter):
    """§6: the Trainer itself is kept in ``Parameter._trainer``."""
    return param._trainer


def global_name(param: gluon.Parameter) -> str | None:
    """The process-global name ('dense0_weight')."""
    return param.name


def path_of_global_name(params: Mapping[str, gluon.Parameter],
                        name: str) -> str | None:
    """The path whose Parameter carries the global name ``name``, or None."""
    for path, param in params.items():
        if param.name == name:
            return path
    return None


def foreign_global_name(name: str) -> tuple[str, str] | None:
    """None: on 1.x a global name is real (``path_of_global_name``)."""
    return None


def register_param(block: gluon.Block, param: gluon.Parameter) -> None:
    """§3: ``collect_params``, ``initialize`` and ``Trainer`` read the
    block's ParameterDict, keyed by the Parameter's name, not
    ``_reg_params``; the parameter goes there too.  (A parent merges its
    children's dicts by name, so names must differ across the network.)"""
    block._params._params[param.name] = param


def keep_symbol_names(block: gluon.SymbolBlock) -> None:
    """§3: a 1.x ``SymbolBlock`` keys its parameters by the symbol's
    variable names with their common prefix cut ('dense0_weight',
    'dense1_weight' -> '0_weight', '1_weight'); 2.x keeps the whole names,
    which are also the keys of the export's parameter file.  The whole
    names are put back: a 1.x block keeps them in its ParameterDict
    (prefix ''), which its forward pass reads, so only the keys change."""
    block._reg_params = dict(block.params.items())


def _symbol_block_takes_np_symbols() -> bool:
    """§3: whether ``SymbolBlock`` is made of numpy-mode symbols, as
    ``SymbolBlock.imports`` makes it in numpy mode from 1.7 on.  1.6.0
    groups the outputs into one symbol and then iterates over it, which a
    numpy symbol refuses ("_Symbol object has no attribute __iter__"); its
    ``imports`` loads legacy symbols in either mode, whose forward pass
    numpy mode then refuses.  Tried on a bare variable under a NameManager
    of its own: no block name of the process is used up."""
    var = mx.sym.var("data").as_np_ndarray()
    with mx.name.NameManager(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            gluon.SymbolBlock(var, [var])
        except AttributeError:
            return False
    return True


SYMBOL_BLOCK_TAKES_NP_SYMBOLS = _symbol_block_takes_np_symbols()


def new_symbol_block(outputs, inputs: list) -> gluon.SymbolBlock:
    """``gluon.SymbolBlock(outputs, inputs)``.  Of numpy symbols where Gluon
    refuses them (1.6.0, above), the block is made of their legacy twins,
    then its graph is given the numpy symbols back: a 1.7 block, whose
    forward pass takes and gives numpy arrays (the same keys: a variable's
    name is the same in both kinds)."""
    if SYMBOL_BLOCK_TAKES_NP_SYMBOLS or not isinstance(outputs, mx.sym.np._Symbol):
        return gluon.SymbolBlock(outputs, inputs)
    block = gluon.SymbolBlock(outputs.as_nd_ndarray(),
                              [var.as_nd_ndarray() for var in inputs])
    syms, out = block._cached_graph
    block._cached_graph = [var.as_np_ndarray() for var in syms], out.as_np_ndarray()
    return block


def new_constant(block: gluon.Block, name: str, value) -> gluon.Parameter:
    """§8: constants are made through the block's ParameterDict
    (``gluon.Constant(value)`` raises on 1.x)."""
    return block.params.get_constant(name, value)


def named_params(block: gluon.Block) -> dict | None:
    """§2: the block's ParameterDict entries by global name, which
    ``initialize`` and ``Trainer`` read (a copy, for a rollback)."""
    return dict(block._params._params)


def restore_named_params(block: gluon.Block, saved: dict | None) -> None:
    block._params._params.clear()
    block._params._params.update(saved or {})


def share(replacements: Iterable[tuple[gluon.Block, str, gluon.Parameter]]) -> None:
    """§7: the attribute, ``_reg_params`` and the block's ParameterDict
    (keyed by global name, read by ``initialize`` and ``Trainer``) get the
    new Parameter; 1.x forbids re-assigning a Parameter attribute, hence
    ``object.__setattr__``."""
    for owner, attr, new in replacements:
        old = owner._reg_params[attr]
        owner._reg_params[attr] = new
        object.__setattr__(owner, attr, new)
        owner._params._params.pop(old.name, None)
        owner._params._params[new.name] = new
