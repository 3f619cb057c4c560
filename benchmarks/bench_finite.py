"""Cost of mp.check_finite against one training step of the chapter's MLP.

Run in one environment:
``.nox/env-2-0-0b1/bin/python benchmarks/bench_finite.py``.
The network is the chapter's (Dense(256, relu), Dense(10)) on an input of
shape (2, 20), trained with an L2 loss and ``gluon.Trainer`` with SGD.

Two measurements, both as medians over interleaved repetitions (this
machine is noisy, so only ratios taken within one run are compared):

* isolated: a step that ends with ``mx.nd.waitall()``, then the check
  alone (nothing of the step is left for the check to wait for);
* in the loop: N steps that each end by reading the loss (as a loop that
  prints it does), with and without ``check_finite`` after every step;
  the extra time per step over the step's time.

For scale, the same figures for a host-side numpy check of every array
(what the check does only when something is not finite) and for
``mp.stats`` (full statistics, not meant for every step).  Results are
recorded in docs/performance.md.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import mxnet as mx
import numpy
from mxnet import autograd, gluon, np, npx
from mxnet.gluon import nn

import mxparams as mp
from mxparams import _zoo

# Shared with the tests (the library has no such helper).
TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))
from helpers import quiet_storage_log  # noqa: E402


def chapter_mlp(hidden: int = 256):
    net = nn.Sequential()
    net.add(nn.Dense(hidden, activation="relu"), nn.Dense(10))
    net.initialize()
    return net, (2, 20), 10


def resnet18():
    net = _zoo.build("resnet18_v1", "np", forward=False)
    net.initialize()  # random values: zeros would train nothing
    return net, (4, 3, 224, 224), 1000


def training_setup(net, shape, outputs, *, kvstore="device", seed=0):
    """The chapter's loop on ``net``: L2 loss, SGD through ``kvstore``
    (Gluon's default, or a kvstore object); returns step()."""
    mx.random.seed(seed)
    x = np.random.uniform(size=shape)
    y = np.random.uniform(size=(shape[0], outputs))
    net(x)
    trainer = gluon.Trainer(net.collect_params(), "sgd",
                            {"learning_rate": 0.01}, kvstore=kvstore)
    loss = gluon.loss.L2Loss()

    def step():
        with autograd.record():
            value = loss(net(x), y)
        value.backward()
        trainer.step(shape[0])
        return value

    return step


def host_check(net) -> bool:
    """Every array copied to the host and scanned by numpy."""
    return all(numpy.isfinite(a.asnumpy()).all()
               for p in mp.collect(net).values()
               for a in p.list_data() + (
                   p.list_grad() if p.grad_req != "null" else []))


def isolated(step, checks: dict, repeat: int) -> dict[str, float]:
    """Median seconds of a synced step and of each check, interleaved."""
    times = {"step": []} | {name: [] for name in checks}
    for _ in range(min(20, repeat)):  # warm-up
        step()
        mx.nd.waitall()
        for check in checks.values():
            check()
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        mx.nd.waitall()
        times["step"].append(time.perf_counter() - start)
        for name, check in checks.items():
            start = time.perf_counter()
            check()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def in_loop(step, check, steps: int, rounds: int) -> tuple[float, float]:
    """Median seconds per step of loops without and with ``check``."""
    plain, checked = [], []
    for _ in range(rounds):
        for sink, extra in ((plain, None), (checked, check)):
            start = time.perf_counter()
            for _ in range(steps):
                value = step()
                if extra is not None:
                    extra()
                float(value.sum())  # the loop reads the loss
            sink.append((time.perf_counter() - start) / steps)
    return statistics.median(plain), statistics.median(checked)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=1000)
    parser.add_argument("--quick", action="store_true",
                        help="skip resnet18_v1 (about a minute)")
    args = parser.parse_args()
    npx.set_np()
    quiet_storage_log()
    print(f"MXNet {mx.__version__}, numpy mode")

    cases = [("Dense(256, relu), Dense(10), input (2, 20)", chapter_mlp(256),
              args.repeat),
             ("Dense(4096, relu), Dense(10), input (2, 20)", chapter_mlp(4096),
              args.repeat)]
    if not args.quick:
        cases.append(("resnet18_v1, input (4, 3, 224, 224)", resnet18(),
                      max(5, args.repeat // 50)))
    for title, (net, shape, outputs), repeat in cases:
        step = training_setup(net, shape, outputs)
        size = sum(p.data().size for p in mp.collect(net).values())
        checks = {
            "mp.check_finite(net)": lambda: mp.check_finite(net),
            "mp.check_finite(net, grads=False)":
                lambda: mp.check_finite(net, grads=False),
            "host numpy check (data + grads)": lambda: host_check(net),
            "mp.stats(net, grads=True)": lambda: mp.stats(net, grads=True),
        }
        t = isolated(step, checks, repeat)
        print(f"\n{title}: {size:,} parameters, {repeat} repetitions")
        print(f"  {'call':36} {'us':>9} {'/ step':>8}")
        for name, secs in t.items():
            print(f"  {name:36} {secs * 1e6:9.1f} {secs / t['step']:7.3f}x")
        plain, checked = in_loop(step, lambda: mp.check_finite(net),
                                 steps=min(50, repeat),
                                 rounds=max(3, repeat // 50))
        print(f"  in the loop: {plain * 1e6:.1f} us per step, "
              f"{checked * 1e6:.1f} us with check_finite "
              f"(+{(checked / plain - 1) * 100:.1f}%)")


if __name__ == "__main__":
    main()
