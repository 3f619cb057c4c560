"""Wrong argument types are refused at the boundary, naming the argument.

Every public function and method, called with an argument of the wrong
type: a str for an int, an int for a str or a function, None or a truthy
str for a flag, a bool or float for an int, a Block for a Parameter.
Each gives a TypeError (a wrong value: ValueError) that names the
function and the argument, before anything is read or changed, instead
of a raw error from deep inside (or a value accepted now that breaks the
next call).
"""
import inspect
import os

import mxnet as mx
import numpy
import pytest
from mxnet.gluon import nn

import mxparams as mp
from mxparams.checkpoint import convert


class Slot:
    """Stands for an object built per test (tests run once per array mode)."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


NET, PARAM, WATCH, FILE, OUT, RAW = map(Slot, ["NET", "PARAM", "WATCH", "FILE",
                                               "OUT", "RAW"])


@pytest.fixture
def slots(tmp_path):
    net = nn.HybridSequential()
    net.add(nn.Dense(2, in_units=2))
    net.initialize()
    file = str(tmp_path / "a.params")
    mp.save(net, file)
    watch = mp.Watch(net, grads=False)
    watch.record(0)
    from mxparams.checkpoint import _file
    return {NET: net, PARAM: net[0].weight, WATCH: watch, FILE: file,
            OUT: str(tmp_path / "out.params"), RAW: _file.read(file)}


def record(watch, step):
    watch.record(step)


def series(watch, *args, **kwargs):
    return watch.series(*args, **kwargs)


# (function, positional arguments, keyword arguments, exception, argument
# named, text of the message)
CASES = [
    # flags: a truthy str or None would silently mean True or False
    (mp.stats, [NET], {"grads": "no"}, TypeError, "grads",
     "stats: grads must be True or False, got str 'no'"),
    (mp.Stats, [NET], {"grads": None}, TypeError, "grads",
     "stats: grads must be True or False, got NoneType None"),
    (mp.Watch, [NET], {"grads": 1}, TypeError, "grads",
     "Watch: grads must be True or False, got int 1"),
    (mp.check_finite, [NET], {"grads": "yes"}, TypeError, "grads",
     "check_finite: grads must be True or False"),
    (mp.check_finite, [NET], {"raise_error": None}, TypeError, "raise_error",
     "check_finite: raise_error must be True or False, got NoneType None"),
    (mp.check_replicas, [NET], {"grads": "x"}, TypeError, "grads",
     "check_replicas: grads must be True or False"),
    (mp.check_replicas, [NET], {"raise_error": 0}, TypeError, "raise_error",
     "check_replicas: raise_error must be True or False, got int 0"),
    (mp.plot_hist, [NET], {"grads": "no"}, TypeError, "grads",
     "plot_hist: grads must be True or False"),
    (mp.initialize, [NET], {"force_reinit": "no"}, TypeError, "force_reinit",
     "initialize: force_reinit must be True or False"),
    (mp.load, [NET, FILE], {"strict": None}, TypeError, "strict",
     "load: strict must be True or False, got NoneType None"),
    (mp.load, [NET, FILE], {"strict": "false"}, TypeError, "strict",
     "load: strict must be True or False, got str 'false'"),
    # integers
    (record, [WATCH, "x"], {}, TypeError, "step",
     "Watch.record: step must be an int (the training step) or None, got str 'x'"),
    (record, [WATCH, 1.5], {}, TypeError, "step",
     "Watch.record: step must be an int (the training step) or None, got float 1.5"),
    (record, [WATCH, True], {}, TypeError, "step",
     "Watch.record: step must be an int (the training step) or None, got bool True"),
    (mp.summary, [NET], {"depth": "2"}, TypeError, "depth",
     "summary: depth must be an int"),
    (mp.tree, [NET], {"depth": True}, TypeError, "depth",
     "tree: depth must be an int"),
    (mp.tree, [NET], {"params": "yes"}, TypeError, "params",
     "tree: params must be True or False, got str 'yes'"),
    (mp.plot_hist, [NET], {"bins": 2.0}, TypeError, "bins",
     "plot_hist: bins must be an int (histogram bins, from 1), got float 2.0"),
    # functions
    (mp.inspect_checkpoint, [FILE], {"progress": 5}, TypeError, "progress",
     "inspect_checkpoint: progress must be a function or None"),
    (mp.inspect_checkpoint, [FILE], {"progress": "bar"}, TypeError, "progress",
     "inspect_checkpoint: progress must be a function or None"),
    (convert, [FILE, OUT], {"progress": 5}, TypeError, "progress",
     "convert: progress must be a function or None"),
    (mp.Inspection, [RAW], {"progress": 5}, TypeError, "progress",
     "Inspection: progress must be a function or None"),
    (mp.Comparison, [RAW, RAW], {"progress": 5}, TypeError, "progress",
     "Comparison: progress must be a function or None"),
    (mp.load, [NET, FILE], {"rename": 5}, TypeError, "rename",
     "rename must be a mapping {file key: path} or a function"),
    (mp.collect, [NET], {"select": 5}, TypeError, "select",
     "select must be a regular expression (str), a list of them, or a callable"),
    # files
    (mp.save, [NET, None], {}, TypeError, "file",
     "save: file: a checkpoint path is a str, bytes or os.PathLike, got "
     "NoneType None"),
    (mp.load, [NET, 5], {}, TypeError, "file",
     "load: file: a checkpoint path is a str, bytes or os.PathLike, got int 5"),
    (mp.inspect_checkpoint, [NET], {}, TypeError, "file",
     "inspect_checkpoint: file: a checkpoint path is a str, bytes or "
     "os.PathLike, got HybridSequential"),
    (convert, [FILE, 5], {}, TypeError, "dst",
     "convert: dst: a checkpoint path is a str, bytes or os.PathLike, got int 5"),
    (mp.Inspection, [FILE], {}, TypeError, "raw",
     "mp.Inspection: raw must be a checkpoint read by mxparams, got str"),
    (mp.Comparison, [RAW, FILE], {}, TypeError, "b",
     "mp.Comparison: b must be a checkpoint read by mxparams, got str"),
    # names and choices
    (series, [WATCH, "weight"], {"field": ["norm"]}, TypeError, "field",
     "Watch.series: field must be a str (a statistic such as 'norm'), got list"),
    (series, [WATCH, "weight"], {"kind": 1}, TypeError, "kind",
     "Watch.series: kind must be a str ('data' or 'grad'), got int 1"),
    (series, [WATCH, 0], {}, TypeError, "path",
     "Watch.series: path must be a str (a structural path such as "
     "'0.weight'), got int 0"),
    (mp.get, [NET, 3], {}, TypeError, "path",
     "mp.get: path must be a str, a structural path such as '0.weight', got "
     "int 3"),
    (mp.get, [NET, None], {}, TypeError, "path",
     "mp.get: path must be a str, a structural path such as '0.weight', got "
     "NoneType None"),
    (mp.plot_watch, [WATCH], {"field": 2}, TypeError, "field",
     "plot_watch: field must be a str (a statistic such as 'norm'), got int 2"),
    (mp.constant, [NET, 5, numpy.ones(2)], {}, TypeError, "name",
     "constant name must be a str (a Python identifier), got int 5"),
    # devices
    (mp.initialize, [NET], {"device": "cpu"}, TypeError, "device",
     "initialize: device must be a device such as mx.cpu() or mx.gpu(0), or "
     "a list of them, got str 'cpu'"),
    (mp.initialize, [NET], {"ctx": [mx.cpu(), 0]}, TypeError, "ctx",
     "initialize: ctx must be a device such as mx.cpu()"),
    # a Block where a Parameter is wanted, and the other way round
    (mp.set_data, [NET, numpy.ones(2)], {}, TypeError, "Parameter",
     "set_data takes a Gluon Parameter"),
    (mp.summary, [PARAM], {}, TypeError, "Block",
     "mp.summary expects a Gluon Block such as nn.HybridSequential, got "
     "Parameter (got a single Parameter; pass the block that holds it)"),
]


def _id(case):
    func, args, kwargs = case[:3]
    shown = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{getattr(func, '__name__', func)}({', '.join(shown)})"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_wrong_types_are_named(slots, case):
    func, args, kwargs, error, argument, text = case
    args = [slots.get(a, a) if isinstance(a, Slot) else a for a in args]
    before = os.listdir(os.path.dirname(slots[FILE]))
    with pytest.raises(error) as info:
        func(*args, **kwargs)
    message = str(info.value)
    assert text in message
    assert argument in message
    assert os.listdir(os.path.dirname(slots[FILE])) == before  # nothing written


def test_a_refused_step_records_nothing_and_the_next_record_works(slots, mode):
    watch = slots[WATCH]
    with pytest.raises(TypeError):
        watch.record("x")
    watch.record()  # was a raw TypeError: 'x' + 1
    watch.record(numpy.int64(7))  # numpy's integers are steps, stored as int
    assert [r.step for r in watch.rows if r.path == "0.weight"] == [0, 1, 7]
    assert type(watch.rows[-1].step) is int
    assert watch.series("0.weight", "norm")[0] == [0, 1, 7]



@pytest.mark.parametrize("cls", [mp.Summary, mp.Tree, mp.Stats, mp.Watch])
def test_class_options_are_keywords_only_like_the_functions(slots, cls):
    # Summary(net, ".*bias") read the pattern as select, Tree(net, 2) the
    # depth; like summary() and tree(), every option is a keyword.
    with pytest.raises(TypeError, match="positional argument"):
        cls(slots[NET], None)
    params = inspect.signature(cls).parameters.values()
    assert [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD] == ["block"]
