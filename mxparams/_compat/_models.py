"""Networks made from files: an exported symbol as a ``SymbolBlock`` keyed
the same way on both lines, and parameters added to a plain block.

The same code on both lines; where Gluon differs it calls the line's shims
(``keep_symbol_names``, ``register_param``).
"""
from __future__ import annotations

import warnings

import mxnet as mx
from mxnet import gluon

from . import _line
from ._modes import current_mode


def load_symbol(fname: str):
    """The symbol in the JSON file ``fname``, of the current mode's kind
    (``SymbolBlock.imports`` makes the same choice on both lines)."""
    symbol = mx.sym.load(fname)
    return symbol.as_np_ndarray() if current_mode() == "np" else symbol


def symbol_block(symbol, input_names: list[str]) -> gluon.SymbolBlock:
    """A ``SymbolBlock`` of ``symbol`` with these data inputs, parameters
    not loaded, keyed by the symbol's variable names on both lines.

    The inputs carry no dtype, as in ``SymbolBlock.imports`` with a
    parameter file: the parameters take the file's dtypes, and Gluon
    warns "Cannot decide type for the following arguments" for every such
    input at construction (both lines).  The dtype is decided on purpose,
    so that warning says nothing here and would be an error under a strict
    warning filter: it alone is silenced.
    """
    inputs = [mx.sym.var(name) for name in input_names]
    if current_mode() == "np":
        inputs = [var.as_np_ndarray() for var in inputs]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Cannot decide type for the following",
                                UserWarning)
        block = _line.new_symbol_block(symbol, inputs)
    _line.keep_symbol_names(block)
    return block


def add_param(block: gluon.Block, key: str, param: gluon.Parameter) -> None:
    """Make ``param`` a parameter of ``block`` under ``key``, found by the
    structural walk, ``collect_params``, ``initialize`` and a ``Trainer``
    on both lines; the same Parameter under several keys or blocks is
    tied.  ``key`` is any text: it is not made an attribute, so no key can
    replace one of the block's own (``params``, ``forward``)."""
    block._reg_params[key] = param
    _line.register_param(block, param)
