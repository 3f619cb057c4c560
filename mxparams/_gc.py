"""No longer pauses Python's cyclic garbage collector: ``paused`` returns
the function unchanged.

mxparams used to turn the collector off around a walk or a table and back
on afterwards.  The setting is process-wide, so turning it back on undid a
``gc.disable()`` that another thread made in the meantime (issue 22,
point 10).  Measured on realistic networks the pause bought little
(docs/performance.md, "The garbage collector"), so mxparams leaves the
collector as the process set it.  This module stays only while
``tree.py`` still decorates ``Tree.__init__`` with ``paused``; delete it
together with that decorator.
"""
from __future__ import annotations

from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable)


def paused(func: F) -> F:
    """``func`` itself: the collector is left as the caller set it."""
    return func
