"""mxparams leaves Python's garbage collector as the process set it.

Pausing the collector is process-wide: a pause that turns it back on
afterwards undoes a ``gc.disable()`` another thread made in the meantime.
mxparams does not pause it (docs/performance.md measures what a pause
bought).  A block with a traversal of its own, as fused RNN layers and
NLP-toolkit encoders have, is asked for its keys in the middle of every
walk: there the tests look at the collector and let another thread act.
"""
import gc
import threading

import pytest
from mxnet.gluon import nn

import mxparams as mp


class Hook(nn.HybridSequential):
    """Dense layers whose container calls ``during()`` whenever its
    parameters are collected."""

    def __init__(self, during, layers=50):
        super().__init__()
        for _ in range(layers):
            self.add(nn.Dense(2, in_units=2))
        self._during = during

    def _collect_params_with_prefix(self, *args, **kwargs):
        self._during()
        return super()._collect_params_with_prefix(*args, **kwargs)


def net_with(during):
    net = Hook(during)
    net.initialize()
    return net


CALLS = {
    "collect": mp.collect,
    "summary text": lambda net: str(mp.summary(net)),
    "summary html": lambda net: mp.summary(net)._repr_html_(),
    "tree text": lambda net: str(mp.tree(net)),
    "stats": lambda net: str(mp.stats(net, grads=True)),
    "check_finite": mp.check_finite,
    "Watch.record": lambda net: mp.Watch(net).record(),
}


@pytest.fixture
def collector():
    """The collector on at the start, and on again at the end, whatever
    the test did with it."""
    gc.enable()
    yield
    gc.enable()


@pytest.mark.parametrize("call", CALLS)
def test_the_collector_runs_as_the_caller_left_it(collector, call):
    seen = []
    net = net_with(lambda: seen.append(gc.isenabled()))
    CALLS[call](net)
    assert seen and set(seen) == {True}  # not paused in the middle
    assert gc.isenabled()
    gc.disable()
    before = len(seen)
    CALLS[call](net)
    assert set(seen[before:]) == {False} and not gc.isenabled()


@pytest.mark.parametrize("call", CALLS)
def test_another_threads_disable_during_a_call_holds(collector, call):
    def other_thread_disables_the_collector():
        done = threading.Event()

        def run():
            gc.disable()
            done.set()
        threading.Thread(target=run).start()
        assert done.wait(30)

    net = net_with(lambda: None)
    net._during = other_thread_disables_the_collector
    CALLS[call](net)
    assert not gc.isenabled()  # the other thread's setting stands
