"""A test launcher for MXNet's parameter server on 127.0.0.1 (not a product feature).

``run_cluster(script, workers=2)`` starts a scheduler, the servers and the
workers of MXNet's own distributed kvstore (ps-lite), configured with the
environment variables MXNet reads (``DMLC_ROLE``, ``DMLC_PS_ROOT_URI``,
``DMLC_PS_ROOT_PORT``, ``DMLC_NUM_SERVER``, ``DMLC_NUM_WORKER``; plus
``DMLC_NODE_HOST`` and ``DMLC_INTERFACE`` so that every node binds to the
loopback interface).  The scheduler and the servers are plain ``import
mxnet`` processes: MXNet starts a server or scheduler at import when
``DMLC_ROLE`` says so.  Each worker runs ``script`` with ``args``.

Every process gets its own process group and a private output file (a
full pipe would block it).  There is a hard time limit for the whole
cluster: when it passes, or when anything goes wrong, every process group
the launcher started is killed (SIGKILL) in a ``finally`` block, so no
process outlives the call.  On Linux the kernel also kills each of them
if the launcher dies first (``PR_SET_PDEATHSIG``), as a launcher killed
with SIGKILL runs no ``finally``.  A worker that exits with an error makes
the others wait in the kvstore's barriers; the launcher then kills the
cluster at once instead of waiting for the time limit.  (A Python worker
that raises does not exit by itself: at exit MXNet's kvstore waits for
every other worker, so worker programs leave with ``os._exit(1)`` on
failure, as tests/cluster_scenarios.py does.)
"""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

TIME_LIMIT = 90.0   # seconds for a whole cluster, start to finish
GRACE = 10.0        # for servers and scheduler to stop after the workers


@dataclass
class Worker:
    """What one worker process left behind."""
    index: int           # start order (the kvstore's rank is assigned by the scheduler)
    returncode: int
    stdout: str
    stderr: str

    def result(self):
        """The JSON object the worker printed last on stdout."""
        lines = [line for line in self.stdout.splitlines() if line.startswith("{")]
        if not lines:
            raise AssertionError(f"worker {self.index} printed no result; "
                                 f"stderr:\n{self.stderr[-3000:]}")
        return json.loads(lines[-1])


#: Process ids of the last cluster, for tests of the launcher itself.
LAST_PIDS: list[int] = []


class ClusterError(AssertionError):
    """The cluster failed or ran out of time; the message has every log tail."""


def _ephemeral_ports() -> range:
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range")
                        .read_text().split())
        return range(low, high + 1)
    except (OSError, ValueError):
        return range(32768, 61000)  # Linux's default


def free_port() -> int:
    """A free port for the scheduler, outside the ephemeral range.

    Every other node binds a port the system picks from the ephemeral
    range while the cluster starts; a port taken from that range and
    released (``bind(0)``) may be handed to one of them before the
    scheduler binds it, and ps-lite then fails ("Check failed:
    is_scheduler_" in a server, "init N first").
    """
    ephemeral = _ephemeral_ports()
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 32768)
        if port in ephemeral:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise ClusterError("no free port for the scheduler between 20000 and 32767")


#: Run in front of every process of the cluster: asks the kernel for
#: SIGKILL when the launcher dies (PR_SET_PDEATHSIG, kept across exec),
#: leaves if the launcher is already gone, then becomes the real command.
#: (A ``preexec_fn`` would run Python in a child forked from the
#: multi-threaded launcher; this runs in a fresh interpreter.)
TRAMPOLINE = """
import ctypes, os, signal, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
if os.getppid() != int(sys.argv[1]):
    os._exit(1)
os.execv(sys.argv[2], sys.argv[2:])
"""


def _env(role: str, port: int, workers: int, servers: int, extra: dict) -> dict:
    env = dict(os.environ)
    env.update({
        "DMLC_ROLE": role,
        "DMLC_PS_ROOT_URI": "127.0.0.1",
        "DMLC_PS_ROOT_PORT": str(port),
        "DMLC_NUM_SERVER": str(servers),
        "DMLC_NUM_WORKER": str(workers),
        "DMLC_NODE_HOST": "127.0.0.1",
        "DMLC_INTERFACE": "lo",
        "PS_VERBOSE": "0",
        "PYTHONUNBUFFERED": "1",
        # Two cores shared by a whole cluster: one thread per process.
        "OMP_NUM_THREADS": "1",
    })
    env.update(extra)
    return env


def run_cluster(script: str | Path, *args: str, workers: int = 2,
                servers: int = 1, time_limit: float = TIME_LIMIT,
                env: dict | None = None) -> list[Worker]:
    """Run ``script args`` on ``workers`` workers of a fresh cluster.

    Returns one :class:`Worker` per worker, in start order, when every
    process exited with status 0; raises :class:`ClusterError` (with the
    tail of every process's output) when one did not, or when the time
    limit passed.  No process started here survives the call.
    """
    port = free_port()
    procs: list[tuple[str, subprocess.Popen, object, object]] = []
    tmp = tempfile.TemporaryDirectory(prefix="mxparams-cluster-")

    def start(name: str, role: str, argv: list[str]) -> subprocess.Popen:
        out = open(Path(tmp.name) / f"{name}.out", "w+")
        err = open(Path(tmp.name) / f"{name}.err", "w+")
        if sys.platform == "linux":
            argv = [sys.executable, "-c", TRAMPOLINE, str(os.getpid()), *argv]
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                env=_env(role, port, workers, servers, env or {}),
                                start_new_session=True)
        procs.append((name, proc, out, err))
        LAST_PIDS.append(proc.pid)
        return proc

    def read(f) -> str:
        f.flush()
        f.seek(0)
        return f.read()

    def logs() -> str:
        parts = []
        for name, proc, out, err in procs:
            parts.append(f"--- {name} (exit {proc.poll()}) stdout:\n{read(out)[-2000:]}"
                         f"\n--- {name} stderr:\n{read(err)[-3000:]}")
        return "\n".join(parts)

    deadline = time.monotonic() + time_limit
    LAST_PIDS.clear()
    try:
        start("scheduler", "scheduler", [sys.executable, "-c", "import mxnet"])
        for i in range(servers):
            start(f"server{i}", "server", [sys.executable, "-c", "import mxnet"])
        started = [start(f"worker{i}", "worker",
                         [sys.executable, str(script), *args])
                   for i in range(workers)]
        others = [p for _, p, _, _ in procs if p not in started]
        while any(p.poll() is None for p in started):
            if any(p.poll() not in (None, 0) for p in started):
                raise ClusterError("a worker failed; the cluster was stopped\n"
                                   + logs())
            if any(p.poll() not in (None, 0) for p in others):
                raise ClusterError("the scheduler or a server failed while "
                                   "workers ran; the cluster was stopped\n"
                                   + logs())
            if time.monotonic() > deadline:
                raise ClusterError(f"the cluster ran out of time ({time_limit:.0f} s)"
                                   "; every process was killed\n" + logs())
            time.sleep(0.05)
        if any(p.returncode != 0 for p in started):
            raise ClusterError("a worker failed\n" + logs())
        # Servers and scheduler stop when the workers finalize the kvstore.
        stop = min(deadline, time.monotonic() + GRACE)
        while any(p.poll() is None for p in others) and time.monotonic() < stop:
            time.sleep(0.05)
        results = [Worker(i, p.returncode, read(procs[1 + servers + i][2]),
                          read(procs[1 + servers + i][3]))
                   for i, p in enumerate(started)]
        return results
    finally:
        for _, proc, _, _ in procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for _, proc, out, err in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            out.close()
            err.close()
        tmp.cleanup()
