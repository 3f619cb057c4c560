"""Simulated CPUs: the libraries' own switches, and what each imitates.

A profile is a set of environment variables given to the notebook's
kernel.  Each imitates a machine readers have, through the switches of
the libraries MXNet computes with: oneDNN's instruction-set ceiling
(``DNNL_MAX_CPU_ISA``), OpenBLAS's kernel choice (``OPENBLAS_CORETYPE``),
MXNet's own switch for oneDNN (``MXNET_MKLDNN_ENABLED`` on 1.x,
``MXNET_ONEDNN_ENABLED`` on 2.x: both are set, each version reads its
own) and the thread counts of OpenMP and OpenBLAS.  A switch can do
nothing on a given host or MXNet (an ISA above the host's, a library
built without the choice); the check probes every profile before it
trusts it.
"""
from __future__ import annotations

import difflib
from typing import NamedTuple


class Profile(NamedTuple):
    """A simulated CPU: ``env`` for the kernel and what it imitates."""
    name: str
    env: dict[str, str]
    imitates: str


#: The documented profiles, by name (``--cpu NAME``; ``all`` is every one).
PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("default", {},
            "this machine as it is: every library picks its best kernels"),
    Profile("sse41", {"DNNL_MAX_CPU_ISA": "SSE41", "OPENBLAS_CORETYPE": "Nehalem"},
            "a CPU without AVX (Intel Nehalem, 2008; old or small cloud "
            "machines): oneDNN's SSE4.1 kernels, OpenBLAS's Nehalem kernels"),
    Profile("avx2", {"DNNL_MAX_CPU_ISA": "AVX2", "OPENBLAS_CORETYPE": "Haswell"},
            "a CPU with AVX2 but no AVX-512 (Intel Haswell to Comet Lake, AMD "
            "Zen 1-3: most laptops and desktops)"),
    Profile("no-onednn", {"MXNET_MKLDNN_ENABLED": "0", "MXNET_ONEDNN_ENABLED": "0",
                          "OMP_NUM_THREADS": "1"},
            "an MXNet without oneDNN (a build from source, other platforms): "
            "MXNet's own kernels and OpenBLAS, on one thread"),
    Profile("1-thread", {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                         "MKL_NUM_THREADS": "1"},
            "a machine with one core (a small CI runner, a container with "
            "one CPU): sums are split over one thread"),
)}


def parse_profile(text: str) -> Profile:
    """A profile by name, or a new one from ``NAME=VAR=VALUE,VAR=VALUE``.

    >>> parse_profile("sse41").env["DNNL_MAX_CPU_ISA"]
    'SSE41'
    >>> mine = parse_profile("mine=OMP_NUM_THREADS=3,OPENBLAS_CORETYPE=Zen")
    >>> mine.name, mine.env
    ('mine', {'OMP_NUM_THREADS': '3', 'OPENBLAS_CORETYPE': 'Zen'})
    >>> parse_profile("avx3")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown CPU profile 'avx3' (did you mean 'avx2'?); the profiles are ...
    """
    if "=" not in text:
        if text in PROFILES:
            return PROFILES[text]
        close = difflib.get_close_matches(text, [*PROFILES, "all"], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown CPU profile {text!r}{hint}; the profiles are "
                         f"{', '.join(PROFILES)} and all, or define one as "
                         "NAME=VAR=VALUE,...")
    name, _, spec = text.partition("=")
    env: dict[str, str] = {}
    for part in spec.split(","):
        var, eq, value = part.partition("=")
        if not eq or not var.strip() or not var.strip().isidentifier():
            raise ValueError(f"CPU profile {text!r}: {part!r} is not VAR=VALUE")
        env[var.strip()] = value
    if not name or name in PROFILES or name == "all":
        raise ValueError(f"CPU profile {text!r}: give the profile a new name "
                         "before the first '='")
    return Profile(name, env, "defined on the command line")
