"""Row-sparse parameters: 1.x's SparseEmbedding, and the files it saves.

A ``contrib.nn.SparseEmbedding`` (MXNet 1.x, legacy nd mode, trained
through a Trainer's kvstore) stores its weight as a ``row_sparse`` array.
Gluon's ``list_data()`` refuses such a parameter, and ``save_parameters``
writes it as a row-sparse record (the rows it stores and their indices);
every function of mxparams reads and writes it whole, without MXNet's
"Storage fallback detected" on fd 2.  The file format is read on every
version: the records are made here byte for byte and checked against
MXNet's own loader.
"""
from __future__ import annotations

import os
import struct

import mxnet as mx
import numpy
import pytest
from mxnet import autograd, gluon
from mxnet.gluon import nn

import mxparams as mp
from mxparams import _compat
from mxparams.checkpoint import _common

from helpers import MXNET_STORAGE_MANAGER_LINE, without_mxnet_log

ROWS = numpy.arange(8, dtype=numpy.float32).reshape(2, 4) + 1
INDEX = [1, 4]


def dense_record(values: numpy.ndarray) -> bytes:
    """One dense NDArray record of MXNet's list format (float32)."""
    return (struct.pack("<Iii", 0xF993FAC9, 0, values.ndim)
            + struct.pack(f"<{values.ndim}q", *values.shape)
            + struct.pack("<iii", 1, 0, 0) + values.astype("<f4").tobytes())


def sparse_record(shape, rows: numpy.ndarray, index, stored=None,
                  index_flag=6) -> bytes:
    """A row_sparse record, as 1.x's NDArray::Save writes it: storage
    shape, shape, device, dtype, the index's dtype and shape, the stored
    rows, the indices."""
    stored = stored or rows.shape
    return (struct.pack("<Iii", 0xF993FAC9, 1, len(stored))
            + struct.pack(f"<{len(stored)}q", *stored)
            + struct.pack("<i", len(shape)) + struct.pack(f"<{len(shape)}q", *shape)
            + struct.pack("<iii", 1, 0, 0)
            + struct.pack("<ii", index_flag, 1) + struct.pack("<q", len(index))
            + rows.astype("<f4").tobytes()
            + numpy.asarray(index, dtype="<i8" if index_flag == 6 else "<i4").tobytes())


def list_file(path, records: dict) -> None:
    names = b"".join(struct.pack("<Q", len(k.encode())) + k.encode() for k in records)
    with open(path, "wb") as f:
        f.write(struct.pack("<QQQ", 0x112, 0, len(records)))
        f.write(b"".join(records.values()))
        f.write(struct.pack("<Q", len(records)) + names)


def whole() -> numpy.ndarray:
    array = numpy.zeros((6, 4), numpy.float32)
    array[INDEX] = ROWS
    return array


def test_row_sparse_records_are_read_whole(tmp_path):
    path = str(tmp_path / "sparse.params")
    list_file(path, {"0.weight": sparse_record((6, 4), ROWS, INDEX),
                     "1.bias": dense_record(numpy.ones(2))})
    # MXNet's own loader reads these bytes the same (in nd shape semantics,
    # where it allows sparse arrays on either version).
    with mx.util.np_array(False), mx.util.np_shape(False):
        theirs = mx.nd.load(path)
    assert theirs["0.weight"].stype == "row_sparse"
    assert (theirs["0.weight"].asnumpy() == whole()).all()
    found = mp.inspect_checkpoint(path)
    assert found.format == _common.MXNET_ROW_SPARSE
    assert [(e.key, e.shape, e.max, e.mean) for e in found.entries] == [
        ("0.weight", (6, 4), 8.0, float(whole().mean())), ("1.bias", (2,), 1.0, 1.0)]
    net = nn.HybridSequential()  # a dense embedding takes the whole weight
    net.add(nn.Embedding(6, 4), nn.Dense(2, in_units=4))
    net.initialize()
    mp.load(net, path, strict=False)
    assert (net[0].weight.data().asnumpy() == whole()).all()
    assert (net[1].bias.data().asnumpy() == 1).all()


@pytest.mark.parametrize("damage, message", [
    ("vast", r"row-sparse, 2 rows stored of shape \(1000000000000, 4\)"),
    ("index", "row indices of '0.weight' are not increasing rows"),
    ("order", "row indices of '0.weight' are not increasing rows"),
    ("rows", r"is row-sparse with rows \(2, 5\)"),
    ("index-dtype", "row indices .* of dtype code 0"),
])
def test_damaged_row_sparse_records_are_refused(tmp_path, damage, message):
    path = str(tmp_path / "sparse.params")
    index = {"index": [1, 6], "order": [4, 1]}.get(damage, INDEX)
    record = sparse_record((10**12 if damage == "vast" else 6, 4), ROWS, index,
                           stored=(2, 5) if damage == "rows" else None,
                           index_flag=0 if damage == "index-dtype" else 6)
    list_file(path, {"0.weight": record})
    net = nn.HybridSequential()
    net.add(nn.Embedding(6, 4))
    net.initialize()
    before = net[0].weight.data().asnumpy()
    with pytest.raises(mp.CheckpointError, match=message):
        mp.load(net, path)
    assert (net[0].weight.data().asnumpy() == before).all()
    with pytest.raises(mp.CheckpointError, match=message):
        mp.inspect_checkpoint(path)


def sparse_net():
    """SparseEmbedding then Dense, trained one step (its weight needs a
    Trainer); the weight set to values that tell the rows apart."""
    net = nn.Sequential()
    net.add(mx.gluon.contrib.nn.SparseEmbedding(6, 4), nn.Dense(2, in_units=8))
    net.initialize()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    with autograd.record():
        out = net(mx.nd.array([[1, 2], [3, 4]]))
    out.backward()
    trainer.step(2)
    mx.nd.waitall()
    return net, trainer


def test_sparse_embedding_through_every_function(tmp_path, capfd, mode):
    if not hasattr(gluon.contrib, "nn"):
        # MXNet 2 has no SparseEmbedding (Gluon 2 is numpy-only).
        assert _compat.MODES == ("np",)
        return
    if mode == "np":
        # 1.x numpy mode cannot make a row-sparse array.
        with pytest.raises(ValueError, match="does not support stype = row_sparse"):
            sparse_net()
        return
    net, _ = sparse_net()
    weight = net[0].weight
    gluon_file = str(tmp_path / "gluon.params")
    net.save_parameters(gluon_file)
    capfd.readouterr()  # what building and Gluon printed is not ours
    # What Gluon saves: the Trainer's kvstore keeps the weight (updated by
    # the step); the parameter holds only the rows its last forward pass
    # pulled, before the update.
    with mx.util.np_array(False), mx.util.np_shape(False):
        held = mx.nd.load(gluon_file)["0.weight"].asnumpy()
    assert not (weight._data[0].asnumpy() == held).all()
    assert mp.collect(net)["0.weight"] is weight
    assert "0.weight" in str(mp.summary(net)) and mp.tree(net).total == 6 * 4 + 18
    row = mp.stats(net).rows[0]
    assert (row.path, row.max) == ("0.weight", float(held.max()))
    assert not mp.check_finite(net, raise_error=False)
    assert not mp.check_replicas(net)
    watch = mp.Watch(net, grads=False)
    watch.record()
    assert watch.rows[0].norm == row.norm
    assert len(mp.plot_hist(net).axes) == 3
    ours = str(tmp_path / "ours.params")
    mp.save(net, ours)  # whole: every version loads it
    assert mp.inspect_checkpoint(ours).format == _common.MXNET
    mp.set_data(weight, numpy.zeros((6, 4)))
    assert (weight._data[0].asnumpy() == 0).all()
    for path in (ours, gluon_file):
        mp.set_data(weight, numpy.zeros((6, 4)))
        mp.load(net, path)
        assert (weight._data[0].asnumpy() == held).all(), path
        assert weight._data[0].stype == "row_sparse"
    mp.initialize(net, mx.init.Constant(0.5), select="0")
    assert (weight._data[0].asnumpy() == 0.5).all()
    mp.set_data(weight, numpy.full((6, 4), numpy.nan))
    with pytest.raises(mp.NonFiniteError, match=r"'0\.weight' \(data\): 24 NaN"):
        mp.check_finite(net, grads=False)
    out, err = capfd.readouterr()
    assert without_mxnet_log(err, MXNET_STORAGE_MANAGER_LINE) == ""
    assert os.path.exists(ours)
