"""Random sequences of API calls, some made to fail: a failure changes nothing.

hypothesis' stateful testing drives one network and a directory of
checkpoint files through initialize, set_data, tie, save and load, with
failures injected at random places (an initializer that raises at some
path, a value of the wrong shape or range, a tie to a block of another
shape or one interrupted midway, a damaged or mismatched file, a
read-only target).  After every failure the network's values, shapes,
initialization state and ties, and every file's bytes, must be what they
were before the call.
"""
import mxnet as mx
import numpy
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from mxnet.gluon import nn
from test_all_or_nothing import FailingAt, assert_same, state

import mxparams as mp
from mxparams import _compat
from mxparams.checkpoint import _common, _file

from helpers import initialize as gluon_initialize

PATHS = ["0.weight", "0.bias", "1.gamma", "1.beta", "1.running_mean",
         "1.running_var", "2.weight", "2.bias", "3.weight", "3.bias"]
WEIGHTS = ["0.weight", "2.weight", "3.weight"]


def network():
    net = nn.HybridSequential()
    net.add(nn.Dense(4, in_units=3), nn.BatchNorm(in_channels=4),
            nn.Dense(4, in_units=4), nn.Dense(4, in_units=4))
    return net


class Workflow(RuleBasedStateMachine):
    @initialize()
    def start(self):
        import tempfile
        from pathlib import Path
        self.dir = Path(tempfile.mkdtemp())
        self.net = network()
        gluon_initialize(self.net)
        self.saved = []

    def files(self):
        return {p.name: p.read_bytes() for p in sorted(self.dir.iterdir())}

    def must_fail(self, call, error, kind):
        before, files = state(self.net), self.files()
        with pytest.raises(error):
            call()
        assert_same(before, state(self.net))
        assert self.files() == files
        FAILED_KINDS.add(kind)

    def may_fail(self, call, error):
        """A call that is refused in some states (then it changed nothing)."""
        before, files = state(self.net), self.files()
        try:
            call()
        except error:
            assert_same(before, state(self.net))
            assert self.files() == files

    @rule(path=st.sampled_from(WEIGHTS), fail=st.booleans(),
          builtin=st.sampled_from(["xavier", "normal", "ones"]))
    def reinitialize(self, path, fail, builtin):
        # A tied weight is initialized at its first path only.
        first = {r.path: r.tied_to or r.path for r in mp.summary(self.net).rows}
        if fail:
            self.must_fail(lambda: mp.initialize(self.net, FailingAt(first[path])),
                           RuntimeError, "initializer raises")
        else:
            mp.initialize(self.net, builtin, select=r".*weight")

    @rule(path=st.sampled_from(PATHS),
          how=st.sampled_from(["ok", "shape", "complex", "overflow"]))
    def set_value(self, path, how):
        param = mp.get(self.net, path)
        shape = tuple(param.shape)
        if how == "ok":
            mp.set_data(param, numpy.full(shape, len(path) * 0.5))
        elif how == "shape":
            self.must_fail(lambda: mp.set_data(param, numpy.zeros(shape + (1,))),
                           mp.ShapeMismatch, "set_data shape")
        elif how == "complex":
            self.must_fail(lambda: mp.set_data(
                param, numpy.zeros(shape, dtype=complex)), TypeError,
                "set_data dtype")
        else:
            self.must_fail(lambda: mp.set_data(param, numpy.full(shape, 1e300)),
                           ValueError, "set_data range")

    @rule(how=st.sampled_from(["ok", "shape", "interrupted"]))
    def tie_layers(self, how):
        if how == "ok":
            mp.tie(self.net[3], self.net[2])
        elif how == "shape":
            other = nn.Dense(5, in_units=4)
            gluon_initialize(other)
            self.must_fail(lambda: mp.tie(self.net[3], other), mp.ShapeMismatch,
                           "tie shape")
        elif mp.collect(self.net)["3.weight"] is not mp.collect(self.net)["2.weight"]:
            real = _compat.share

            def half(replacements):
                real(list(replacements)[:1])
                raise RuntimeError("interrupted")
            _compat.share = half
            try:
                self.must_fail(lambda: mp.tie(self.net[3], self.net[2]),
                               RuntimeError, "tie interrupted")
            finally:
                _compat.share = real

    @rule(name=st.sampled_from(["a.params", "b.params"]),
          locked=st.booleans())
    def save(self, name, locked):
        target = self.dir / name
        if locked and target.exists():
            target.chmod(0o444)
            try:
                self.must_fail(lambda: mp.save(self.net, target),
                               mp.CheckpointError, "save read-only")
            finally:
                target.chmod(0o644)
            return
        mp.save(self.net, target)
        self.saved.append(name)

    @rule(data=st.data(), how=st.sampled_from(["ok", "cut", "shape"]))
    def load(self, data, how):
        if not self.saved:
            return
        name = data.draw(st.sampled_from(sorted(set(self.saved))))
        source = self.dir / name
        if how == "ok":
            # A file saved before a tie holds two values for the tied paths.
            self.may_fail(lambda: mp.load(self.net, source), mp.CheckpointError)
            return
        damaged = self.dir / "damaged.params"
        if how == "cut":
            raw = source.read_bytes()
            damaged.write_bytes(raw[:data.draw(st.integers(1, len(raw) - 1))])
        else:  # a file whose entry at one path has another shape
            path = data.draw(st.sampled_from(PATHS))
            arrays = _arrays_of(source)
            arrays[path] = numpy.zeros(arrays[path].shape + (2,), numpy.float32)
            mx.nd.save(str(damaged), {k: mx.nd.array(v) for k, v in arrays.items()})
        self.must_fail(lambda: mp.load(self.net, damaged), mp.CheckpointError,
                       f"load {how}")
        damaged.unlink()

    @invariant()
    def still_runs(self):
        if hasattr(self, "net"):
            x = mx.np.ones((2, 3)) if _compat.current_mode() == "np" else mx.nd.ones((2, 3))
            self.net(x).wait_to_read()


FAILED_KINDS: set[str] = set()


def _arrays_of(path):
    return {key: _common.materialize(array)
            for key, array in _file.read(path).arrays.items()}


Workflow.TestCase.settings = settings(
    max_examples=120, stateful_step_count=15, deadline=None, derandomize=True,
    database=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_workflow(mode):
    FAILED_KINDS.clear()
    Workflow.TestCase("runTest").runTest()
    # Every kind of failure was made to happen, and checked, at least once.
    assert FAILED_KINDS == {
        "initializer raises", "set_data shape", "set_data dtype",
        "set_data range", "tie shape", "tie interrupted", "save read-only",
        "load cut", "load shape"}, FAILED_KINDS
