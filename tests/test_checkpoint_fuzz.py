"""Damaged files: only CheckpointError, and the network unchanged after it.

Seeded mutations (truncations, flipped bytes, overwritten header fields,
inserted and deleted bytes) of real files of each format: MXNet's
NDArray list (portable and "np shape"), 2.0's npz, a 1.x export, and
safetensors (mp.save's; the safetensors package parses it and its errors,
a panic of its Rust code included, must become CheckpointError).
Loading either succeeds (a flipped data byte is just another value) or
raises CheckpointError with every parameter bit-identical to before.
How long the cases take is measured by benchmarks/bench_checkpoint_fuzz.py,
not asserted here (a slow machine is not a failure).
"""
import random
import struct
from pathlib import Path

import pytest

import mxparams as mp

from ckpt_common import compat_net, fill, same, values

FIXTURES = Path(__file__).parent / "fixtures" / "checkpoints"
BASES = ["1.9.1-mp_save.params", "1.9.1-save_parameters-np.params",
         "2.0.0b1-save_parameters-np.params", "1.9.1-export-0000.params",
         "2.0.0b1-mp_save.safetensors"]
CASES = 1000  # per base file and mode: 5,000 files


def mutate(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    kind = rng.random()
    if kind < 0.3:
        return bytes(data[:rng.randrange(len(data))])
    if kind < 0.6:
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif kind < 0.75:  # a header or count field: the first 64 bytes
        pos = rng.randrange(min(64, len(data) - 8))
        data[pos:pos + 8] = struct.pack("<Q", rng.choice(
            [0, 1, 2**31, 2**32 - 1, 2**63, rng.getrandbits(64)]))
    elif kind < 0.85:
        data.insert(rng.randrange(len(data)), rng.randrange(256))
    elif kind < 0.95:
        del data[rng.randrange(len(data))]
    else:
        data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    return bytes(data)


@pytest.mark.parametrize("base", BASES)
def test_damaged_files_raise_only_checkpoint_error(tmp_path, base):
    rng = random.Random(f"mxparams-{base}")
    original = (FIXTURES / base).read_bytes()
    target = tmp_path / "damaged.params"
    net = fill(compat_net(), seed=9)
    before = values(net)
    outcomes = {"loaded": 0, "refused": 0}
    for _ in range(CASES):
        target.write_bytes(mutate(original, rng))
        try:
            mp.inspect_checkpoint(target)
        except mp.CheckpointError:
            pass
        try:
            mp.load(net, target)
        except mp.CheckpointError as err:
            assert str(err).startswith(f"checkpoint {str(target)!r}: ")
            assert same(values(net), before), "a failed load changed the net"
            outcomes["refused"] += 1
        else:
            outcomes["loaded"] += 1
            fill(net, seed=9)  # a successful load may change values
    assert outcomes["refused"] > CASES // 2 and outcomes["loaded"] > 0, outcomes
