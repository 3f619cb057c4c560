"""Unusual Gluon structures: what real networks contain besides Dense layers.

Each entry builds a small network that stresses the structural walk in one
way: fused RNN layers (1.9.1 registers ``_unfused.*`` keys that name no
child block), recurrent cells and their wrappers, ``SymbolBlock`` imports
(keys with no child, ``Parameter.shape`` left None), a block that replaces
Gluon's traversal with keys of its own (as NLP toolkits' attention cells
do), concatenating containers, normalization layers with running
statistics, tied embeddings and a block registered twice.  The same
builder works on MXNet 1.9.1 (numpy and nd mode) and 2.0; where a class
moved between versions, both places are tried.

``build(name)`` returns the network ready to use: initialized and, where
the shapes need it, run once on a fixed input.  Calling it twice gives two
networks of the same structure (for tie and load).
"""
import os
import tempfile
import warnings
import weakref

import mxnet as mx
from mxnet import gluon
from mxnet.gluon import nn, rnn

from mxparams import _compat

import helpers
from helpers import initialize, uniform


def _first(*places):
    """The first class that exists, e.g. a contrib class that moved."""
    for module, name in places:
        found = getattr(module, name, None)
        if found is not None:
            return found
    raise AssertionError(f"none of {places} exists")


def _contrib(kind):
    try:
        if kind == "nn":
            from mxnet.gluon.contrib import nn as module
        else:
            from mxnet.gluon.contrib import rnn as module
    except ImportError:  # 2.0 moved them into gluon.nn / gluon.rnn
        return None
    return module


def concatenating(hybrid):
    """1.9.1 ``contrib.nn.(Hybrid)Concurrent`` is 2.0's ``nn.(Hybrid)Concatenate``."""
    cnn = _contrib("nn")
    if hybrid:
        return _first((cnn, "HybridConcurrent"), (nn, "HybridConcatenate"))
    return _first((cnn, "Concurrent"), (nn, "Concatenate"))


def _forward(net, *shape):
    initialize(net)
    net(uniform(*shape)).wait_to_read()
    return net


def _ready(net):
    initialize(net)
    return net


class AttentionCell(nn.HybridBlock):
    """Keys of its own, like NLP toolkits' multi-head attention cells.

    Its parameters ``query_weight``, ``key_weight`` and ``value_weight`` are
    saved as ``proj_query.weight``, ... (for files of an older release),
    which name no child block; its child ``out`` keeps Gluon's keys.
    """

    def __init__(self, units=4):
        super().__init__()
        for name in ("query", "key", "value"):
            helpers.add_param(self, f"{name}_weight", shape=(units, units))
        self.out = nn.Dense(units, in_units=units)

    def _collect_params_with_prefix(self, prefix="", select=None):
        if prefix:
            prefix += "."
        ret = {prefix + "proj_" + key.replace("_", "."): value
               for key, value in self._reg_params.items()}
        for name, child in self._children.items():
            if isinstance(child, weakref.ref):  # how 2.x holds children
                child = child()
            ret.update(child._collect_params_with_prefix(prefix + name))
        return ret


class Encoder(nn.Block):
    """An attention cell and a fused LSTM inside an ordinary block."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.attention = AttentionCell(4)
        self.rnn = rnn.LSTM(3, input_size=4, bidirectional=True)


class TiedLanguageModel(nn.Block):
    """The decoder's weight is the embedding's (tied embeddings)."""

    def __init__(self, vocab=12, units=5):
        super().__init__()
        self.embedding = nn.Embedding(vocab, units)
        self.decoder = nn.Dense(vocab, in_units=units)
        from mxparams import tie
        tie(self.decoder, self.embedding)


_EXPORTED = {}


def _export() -> str:
    """A two-layer network exported once per process and array mode.

    Built inside a fresh ``NameManager``: on 1.x the exported variable
    names (and so a SymbolBlock's keys) come from the process-wide block
    counters, which then start at 0 ('dense0_weight', ...).
    """
    mode = _compat.current_mode()
    if mode not in _EXPORTED:
        with mx.name.NameManager():
            source = nn.HybridSequential()
            source.add(nn.Dense(4, in_units=3), nn.Dense(2, in_units=4))
        initialize(source)
        source.hybridize()
        source(uniform(1, 3)).wait_to_read()
        prefix = os.path.join(tempfile.mkdtemp(), "exported")
        source.export(prefix)
        _EXPORTED[mode] = prefix
    return _EXPORTED[mode]


def _symbol_block(forward):
    """The exported network imported back as a SymbolBlock.

    In numpy mode, MXNet 1.7 and later import numpy symbols; 1.6.0's
    ``imports`` loads legacy symbols in either mode, whose forward pass
    numpy mode then refuses ("Block's output ndarrays/symbols must be of
    type `mxnet.numpy.ndarray`").  There the block's graph is given the
    numpy symbols, as 1.7's ``imports`` has it (the same keys).
    """
    prefix = _export()
    with warnings.catch_warnings():  # 2.0: "Loading symbol saved by ..."
        warnings.simplefilter("ignore")
        block = gluon.SymbolBlock.imports(prefix + "-symbol.json", ["data"],
                                          prefix + "-0000.params")
    syms, out = block._cached_graph
    if _compat.current_mode() == "np" and not isinstance(out, mx.sym.np._Symbol):
        block._cached_graph = [s.as_np_ndarray() for s in syms], out.as_np_ndarray()
    if forward:
        block(uniform(2, 3)).wait_to_read()
    return block


def _cells():
    cell = rnn.SequentialRNNCell()
    cell.add(rnn.LSTMCell(4, input_size=3))
    cell.add(rnn.ResidualCell(rnn.GRUCell(4, input_size=4)))
    cell.add(rnn.ZoneoutCell(rnn.RNNCell(4, input_size=4)))
    cell.add(rnn.DropoutCell(0.5))
    return _ready(cell)


def _bidirectional_cell():
    return _ready(rnn.BidirectionalCell(rnn.LSTMCell(3, input_size=2),
                                        rnn.LSTMCell(3, input_size=2)))


def _contrib_cells():
    crnn = _contrib("rnn")
    lstmp = _first((crnn, "LSTMPCell"), (rnn, "LSTMPCell"))
    dropout = _first((crnn, "VariationalDropoutCell"),
                     (rnn, "VariationalDropoutCell"))
    conv = _first((crnn, "Conv2DLSTMCell"), (rnn, "Conv2DLSTMCell"))
    cell = rnn.HybridSequentialRNNCell()
    cell.add(dropout(lstmp(6, 3, input_size=4)))
    outer = nn.Sequential()
    outer.add(cell, conv((2, 5, 5), 3, 3, 3))
    return _ready(outer)


def _concatenating():
    net = nn.HybridSequential()
    branches = concatenating(hybrid=True)(axis=1)
    branches.add(nn.Dense(3, in_units=4), nn.Dense(2, in_units=4))
    plain = concatenating(hybrid=False)(axis=1)
    plain.add(nn.Dense(1, in_units=4))
    net.add(branches)
    outer = nn.Sequential()
    outer.add(net, plain)
    return _ready(outer)


def _normalization():
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, in_channels=2), nn.BatchNorm(), nn.LayerNorm(),
            nn.Conv2DTranspose(2, 3))
    _forward(net, 2, 2, 6, 6)
    # 1.9.1 runs the next two in nd mode only, 1.6.0 PReLU too: built, not
    # run (GroupNorm's shape stays unknown: it takes in_channels on 2.0
    # only; PReLU's one alpha is known without a forward pass).
    sync = _first((_contrib("nn"), "SyncBatchNorm"), (nn, "SyncBatchNorm"))
    outer = nn.Sequential()
    outer.add(net, sync(in_channels=2, num_devices=1), nn.GroupNorm(2), nn.PReLU())
    return _ready(outer)


def _reused_block():
    shared = nn.Dense(3, in_units=3)
    inner = nn.HybridSequential()
    inner.add(shared, nn.Dense(3, in_units=3))
    net = nn.HybridSequential()
    net.add(shared, inner, shared)
    return _ready(net)


def _deep():
    """40 nested containers around one Dense."""
    net = top = nn.HybridSequential()
    for _ in range(40):
        inner = nn.HybridSequential()
        net.add(inner)
        net = inner
    net.add(nn.Dense(2, in_units=2))
    return _ready(top)


CORPUS = {
    "lstm": lambda: _ready(rnn.LSTM(5, input_size=3)),
    "lstm_2layers_bidirectional": lambda: _ready(
        rnn.LSTM(5, num_layers=2, bidirectional=True, input_size=3)),
    "gru_2layers": lambda: _ready(rnn.GRU(4, num_layers=2, input_size=3)),
    "rnn_relu_bidirectional": lambda: _ready(
        rnn.RNN(4, activation="relu", bidirectional=True, input_size=3)),
    # Not run: without oneDNN (MXNET_ONEDNN_ENABLED=0) the fused RNN kernel
    # of both versions fails, so no test runs one forward.
    "lstm_deferred": lambda: _ready(rnn.LSTM(4, num_layers=2)),
    "rnn_cells": _cells,
    "bidirectional_cell": _bidirectional_cell,
    "contrib_cells": _contrib_cells,
    "symbolblock": lambda: _symbol_block(forward=False),
    "symbolblock_after_forward": lambda: _symbol_block(forward=True),
    "attention_cell": lambda: _ready(AttentionCell()),
    "encoder": lambda: _ready(Encoder()),
    "concatenating": _concatenating,
    "normalization": _normalization,
    "tied_embeddings": lambda: _ready(TiedLanguageModel()),
    "reused_block": _reused_block,
    "deep": _deep,
}


def build(name):
    return CORPUS[name]()


def gluon_params(net) -> dict:
    """Gluon's own traversal: the ground truth every check compares with."""
    return net._collect_params_with_prefix()
