"""check_replicas(kvstore=) and sync_replicas across the workers of a cluster.

The cluster tests start a scheduler, one server and two workers of MXNet's
own parameter server on 127.0.0.1 (tests/cluster.py) and run a program of
tests/cluster_scenarios.py on every worker; each takes a few seconds.  They
run in numpy mode only: the worker programs choose their own mode, so a
second run in legacy nd mode would repeat the same cluster.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import mxnet as mx
import numpy
import pytest
from mxnet.gluon import nn

import mxparams as mp
from mxparams._table import fmt_float
from mxparams.distributed import _kvstore as K
from mxparams.distributed import workers as W

import cluster

SCENARIOS = Path(__file__).parent / "cluster_scenarios.py"
np_only = pytest.mark.parametrize("mode", ["np"], indirect=True)


def run(name, **kw):
    """Every worker's result, by rank."""
    results = [w.result() for w in cluster.run_cluster(SCENARIOS, name, **kw)]
    by_rank = {r.pop("rank"): r for r in results}
    assert sorted(by_rank) == [0, 1]
    return by_rank


def assert_all_gone():
    for pid in cluster.LAST_PIDS:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@np_only
def test_identical_workers_give_a_clean_report_on_every_rank():
    ranks = run("identical")
    assert ranks[0] == ranks[1]
    r = ranks[0]
    assert r["clean"] == "All workers equal (8 arrays on 2 workers against rank 0)"
    assert r["falsy"]
    assert r["grads"] == "All workers equal (14 arrays on 2 workers against rank 0)"
    # No Trainer: the servers sum, and the mean of equal values is the value.
    assert r["method"] == "mean" and r["unchanged"]
    assert r["sync"].endswith(
        "Set    8 parameters, 116 elements, on 2 workers\n"
        "Value  the mean of 2 workers (the servers sum pushes: they run no optimizer)")
    # A constant number of fresh keys per call, one after the other.
    first = K.KEY_FIRST
    assert r["keys"] == [list(range(first, first + 5)),
                         list(range(first + 5, first + 10)),
                         list(range(first + 10, first + 13))]
    assert_all_gone()


@np_only
def test_a_changed_parameter_is_found_by_path_on_every_rank():
    ranks = run("changed")
    keys = ["found", "rows", "fingerprints", "raised", "shapes", "missing",
            "refused", "lost", "kept"]
    assert {k: ranks[0][k] for k in keys} == {k: ranks[1][k] for k in keys}
    r = ranks[0]
    # Rank 1 set 2.bias[1:3] to 0.25 after an Adam step of the Trainer.
    bias = numpy.array(r["bias"], numpy.float32)
    expected = float(numpy.abs(numpy.float64(numpy.float32(0.25))
                               - bias[1:3].astype(numpy.float64)).max())
    assert r["rows"] == [["2.bias", "data", "rank 1", "rank 0", "values",
                          expected, 2, 4, 1, "ReplicaRow"]]
    assert r["type"] == "ReplicaReport"  # as without kvstore=
    diff = fmt_float(expected)
    assert r["found"] == (
        "Path    Kind  Workers           Max abs diff  Differing\n"
        "------  ----  ----------------  ------------  ---------\n"
        f"2.bias  data  rank 0 vs rank 1  {diff:>12}     2 of 4\n"
        "=======================================================\n"
        "Compared  2 arrays on 2 workers against rank 0")
    assert r["fingerprints"].splitlines()[2] == (
        "2.bias  data  rank 0 vs rank 1             ?    differs")
    assert r["raised"].startswith(
        f"workers differ in 1 place: '2.bias' (data): rank 0 vs rank 1, 2 of 4 "
        f"elements differ, max abs difference {diff}. ")
    assert r["shapes"] == (
        "Path      Kind  Workers           Max abs diff                         Differing\n"
        "--------  ----  ----------------  ------------  --------------------------------\n"
        "2.weight  data  rank 0 vs rank 1                (4, 8) float32 vs (3, 8) float32\n"
        "2.bias    data  rank 0 vs rank 1                    (4,) float32 vs (3,) float32\n"
        "================================================================================\n"
        "Compared        8 arrays on 2 workers against rank 0\n"
        "Only on rank 1  2 paths that rank 0 does not have")
    assert r["missing"].splitlines()[2:4] == [
        "3.weight  data  rank 0 vs rank 1                missing on rank 1",
        "3.bias    data  rank 0 vs rank 1                missing on rank 1"]
    assert r["refused"].startswith(
        "mp.sync_replicas: the selected parameters of rank 1 differ from rank "
        "0's in paths, shapes or dtypes, or are not initialized there; nothing "
        "was changed on any worker.")
    # Servers whose optimizer loses the flags (here SGD at learning rate 0)
    # make both calls fail on every rank instead of reporting nothing.
    for func, message in zip(["check_replicas", "sync_replicas"], r["lost"], strict=True):
        assert message.startswith(
            f"mp.{func}: the kvstore's servers run an optimizer that does not "
            "carry flags: a pushed 1 came back as 0, a 0 as 0 (a learning rate "
            "of 0, ")
    assert r["kept"]
    assert_all_gone()


@np_only
def test_data_parallel_training_keeps_weights_but_not_running_statistics():
    ranks = run("training")
    assert ranks[0] == ranks[1]
    r = ranks[0]
    # The Trainer keeps the weights equal (the servers update them); each
    # worker's BatchNorm keeps running statistics of its own data.
    assert r["before_paths"] == ["1.running_mean", "1.running_var"]
    assert r["weights"] == "All workers equal (6 arrays on 2 workers against rank 0)"
    # The servers run SGD on every push: rank 0's values, not the mean.
    assert r["method"] == "rank 0"
    assert r["sync"] == (
        "Path            Shape  Dtype\n"
        "--------------  -----  -------\n"
        "1.running_mean  (8,)   float32\n"
        "1.running_var   (8,)   float32\n"
        "==============================\n"
        "Set    2 parameters, 16 elements, on 2 workers\n"
        "Value  rank 0's values (the servers run the Trainer's optimizer on every push)")
    assert r["after"] == "All workers equal (8 arrays on 2 workers against rank 0)"
    # The Trainer trained on after the sync; the statistics drift apart again.
    assert r["again"] == ["1.running_mean", "1.running_var"]
    # mp.load refuses the parameters whose weights the servers keep, before
    # changing anything; strict=False loads only the running statistics.
    assert r["load_refused"].startswith(
        "cannot load into HybridSequential: a Trainer updates it on a "
        "distributed kvstore, whose servers keep the weights")
    assert "'0.weight', '0.bias', '1.gamma', '1.beta', ..." in r["load_refused"]
    assert r["load_partial"] == ["1.running_mean", "1.running_var"]
    assert r["load_unchanged"]
    assert_all_gone()


@np_only
def test_dist_async_compares_each_worker_with_rank_0_only():
    ranks = run("asynchronous")
    zero, one = ranks[0], ranks[1]
    assert zero["found"] == (
        "Nothing to compare here (2 arrays of rank 0, the reference; with "
        "dist_async each other worker reports its own comparison)")
    assert one["found"] == (
        "Path    Kind  Workers           Max abs diff  Differing\n"
        "------  ----  ----------------  ------------  ---------\n"
        "0.bias  data  rank 0 vs rank 1             ?    differs\n"
        "=======================================================\n"
        "Compared  2 arrays of rank 1 against rank 0; with dist_async each "
        "worker sees only its own")
    assert zero["method"] == one["method"] == "rank 0"
    assert zero["sync"] == one["sync"]
    assert zero["sync"].endswith("Value  rank 0's values (dist_async does not sum pushes)")
    assert one["after"].startswith("Equal to rank 0 (2 arrays of rank 1")
    assert zero["bias"] == one["bias"] == [0.0, 0.0, 0.0]
    assert_all_gone()


@np_only
def test_the_launcher_stops_the_cluster_when_a_worker_fails():
    # Stopped at once ("a worker failed"), not at the time limit ("ran out
    # of time"): rank 0 would wait in the kvstore forever.
    with pytest.raises(cluster.ClusterError, match="a worker failed; the cluster was stopped"):
        cluster.run_cluster(SCENARIOS, "failing")
    assert len(cluster.LAST_PIDS) == 4
    assert_all_gone()


@np_only
def test_the_launcher_kills_everything_at_its_time_limit():
    with pytest.raises(cluster.ClusterError, match=r"ran out of time \(4 s\)"):
        cluster.run_cluster(SCENARIOS, "hanging", time_limit=4)
    assert_all_gone()


LAUNCHER = """
import json, sys, threading, time
import cluster

def tell():
    while len(cluster.LAST_PIDS) < 4:
        time.sleep(0.05)
    with open(sys.argv[1], "w") as f:
        json.dump(cluster.LAST_PIDS, f)

threading.Thread(target=tell, daemon=True).start()
cluster.run_cluster(sys.argv[2], "hanging", time_limit=60)
"""


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan may wait for a reaper)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@np_only
def test_a_launcher_killed_outright_takes_its_cluster_with_it(tmp_path):
    told = tmp_path / "pids.json"
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(told),
                                 str(SCENARIOS)], cwd=Path(__file__).parent)
    try:
        deadline = time.monotonic() + 30
        while not told.exists() or not told.read_text():
            assert launcher.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        pids = json.loads(told.read_text())
        assert len(pids) == 4 and all(running(pid) for pid in pids)
        time.sleep(1)  # the cluster is starting up
    finally:
        launcher.kill()  # SIGKILL: no finally block runs in the launcher
        launcher.wait()
    deadline = time.monotonic() + 10
    while any(running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(running(pid) for pid in pids)


# --- in one process ------------------------------------------------------------

def small_net():
    net = nn.HybridSequential()
    net.add(nn.Dense(3, in_units=2), nn.BatchNorm(in_channels=3))
    net.initialize()
    return net


def test_one_worker_has_nothing_to_compare():
    kv = mx.kv.create("local")
    net = small_net()
    report = mp.check_replicas(net, kvstore=kv)
    assert not report and report.workers == 1 and report.keys == ()
    assert str(report) == "Only one worker: nothing to compare (6 arrays)"
    # One return type whatever kvstore= is.
    assert type(report) is type(mp.check_replicas(net)) is mp.ReplicaReport
    assert report.kvstore_type == "local"
    assert mp.check_replicas(net).kvstore_type is None
    synced = mp.sync_replicas(net, kvstore=kv, select=".*running_")
    assert synced.method == "none" and [r.path for r in synced.rows] == [
        "1.running_mean", "1.running_var"]
    assert str(synced) == "Only one worker: nothing to synchronize (2 parameters)"


def test_wrong_arguments_are_refused_before_any_exchange():
    net = small_net()
    kv = mx.kv.create("local")
    with pytest.raises(TypeError, match=r"not the string 'dist_sync': create it "
                                        r"with kv = mx.kv.create\('dist_sync'\)"):
        mp.check_replicas(net, kvstore="dist_sync")
    with pytest.raises(TypeError, match="must be an MXNet KVStore"):
        mp.sync_replicas(net, kvstore=3)
    with pytest.raises(TypeError, match="mp.sync_replicas expects a Gluon Block"):
        mp.sync_replicas(net[0].weight, kvstore=kv)
    with pytest.raises(ValueError, match="not a valid regular expression"):
        mp.sync_replicas(net, kvstore=kv, select="(")
    with pytest.raises(TypeError, match="values must be True or False"):
        mp.check_replicas(net, kvstore=kv, values="no")
    with pytest.raises(ValueError, match="values=False only applies with kvstore="):
        mp.check_replicas(net, values=False)
    with pytest.raises(TypeError):
        mp.sync_replicas(net, kv)  # options are keywords


def test_keys_are_fresh_per_call_and_run_out_clearly(monkeypatch):
    kv = mx.kv.create("local")
    assert K._take_keys(kv, 5, "check_replicas") == list(range(K.KEY_FIRST, K.KEY_FIRST + 5))
    assert K._take_keys(kv, 3, "sync_replicas")[0] == K.KEY_FIRST + 5
    other = mx.kv.create("local")  # each kvstore object counts on its own
    assert K._take_keys(other, 1, "check_replicas") == [K.KEY_FIRST]
    monkeypatch.setitem(K._next_key, kv, K.KEY_END - 4)
    with pytest.raises(RuntimeError, match="no fresh keys left"):
        K._take_keys(kv, 5, "check_replicas")
    # ps-lite picks a small key's server with key * 9973 in a C int.
    assert (K.KEY_END - 1) * 9973 < 2 ** 31


def test_encodings_round_trip_exactly():
    raw = bytes(range(256)) + b"\xff"
    assert K._from_pieces(K._to_pieces(raw), len(raw)) == raw
    assert K._to_pieces(raw).dtype == numpy.float32
    assert K._from_bits(K._to_bits(raw)) == raw


def test_fingerprints_see_every_bit_and_equal_values_alike():
    values = numpy.linspace(-1, 1, 64, dtype=numpy.float32)
    base = W._fingerprint(values)
    flat = values.view(numpy.uint32)
    for element in range(values.size):
        for bit in range(32):
            flipped = flat.copy()
            flipped[element] ^= numpy.uint32(1 << bit)
            assert W._fingerprint(flipped.view(numpy.float32)) != base
    # Equal values print equal: -0.0 and 0.0, NaNs of any payload.
    assert W._fingerprint(numpy.array([0.0, 1.0])) == W._fingerprint(numpy.array([-0.0, 1.0]))
    quiet = numpy.array([numpy.nan], numpy.float32)
    other = numpy.array([0x7FC00001], numpy.uint32).view(numpy.float32)
    assert W._fingerprint(quiet) == W._fingerprint(other)
