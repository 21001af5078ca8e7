"""Full garbage collections paused while a large sweep builds or runs.

A sweep of thousands of networks keeps millions of small objects alive (plans, scenarios,
records). CPython's cyclic collector walks every tracked object at each full (generation-2)
collection, so the time spent there grows with the number of networks already built: at
3,000 networks it was a third of a sweep's time on the driver. Young collections
(generations 0 and 1) still run as usual, so short-lived reference cycles are freed; only the
full walks wait until the block ends. The results do not depend on it: it changes when memory
is reclaimed, never what is computed.

Ray's driver also runs ``gc.collect()`` itself, from a thread, whenever the raylet asks (under
object-store pressure, every few seconds in a large sweep), and an explicit collection ignores
the thresholds. So the outermost block also freezes every object alive when it starts
(``gc.freeze``): the networks of a sweep are built by then, and a full collection inside the
block walks only what the block created. The objects are unfrozen when the block ends.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

# gc's third threshold counts young (generation-1) collections between two full ones; no sweep
# makes this many, so a full collection never starts inside the block.
_NEVER = 1 << 30
_depth = 0  # blocks open now; the outermost one freezes and unfreezes


@contextmanager
def no_full_collections() -> Iterator[None]:
    """Inside the block, only the young generations are collected (nests; restores on exit)."""
    global _depth
    before = gc.get_threshold()
    gc.set_threshold(before[0], before[1], _NEVER)
    if _depth == 0:
        gc.freeze()
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0:
            gc.unfreeze()
        gc.set_threshold(*before)


def without_full_collections(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator form of :func:`no_full_collections`."""

    @functools.wraps(fn)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        with no_full_collections():
            return fn(*args, **kwargs)

    return wrapped
