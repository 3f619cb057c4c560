"""Pausing Python's cyclic garbage collector while a walk or table is built.

Why: CPython starts a collection after every ~700 new container objects,
and now and then a full one that visits every live object, MXNet's
included.  A walk or a table allocates a few containers per parameter and
frees none until it is done, so on a large network the full collections
it triggers find nothing to free and grow with the network: the cost of
``str(mp.summary(net))`` grew 12.7x from 500 to 5,000 layers with the
collector on and 10.0x with it paused (docs/performance.md).  The same
technique as Mercurial's ``util.nogc``; what these functions build holds
no reference cycles, so nothing is left for the collector afterwards.
"""
from __future__ import annotations

import functools
import gc
from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable)


def paused(func: F) -> F:
    """Run ``func`` with the collector paused; the caller's setting (on or
    off, as left by another thread or the user) is restored afterwards."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if not gc.isenabled():  # paused by an outer call or by the user
            return func(*args, **kwargs)
        gc.disable()
        try:
            return func(*args, **kwargs)
        finally:
            gc.enable()
    return wrapper  # type: ignore[return-value]
