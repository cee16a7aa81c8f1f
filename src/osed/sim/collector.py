"""Fewer passes of the cyclic garbage collector while a run builds much long-lived state."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

RELAXED_THRESHOLD = 100_000
"""Allocations between young-generation passes (Python's default is 700)."""


@contextmanager
def relaxed_collection(threshold: int = RELAXED_THRESHOLD) -> Iterator[None]:
    """Collect rarely, not never: a run of many small objects that mostly live on (books,
    reply caches, journals) makes each default pass rescan them for cycles they do not
    form, which cost the market demo about a quarter of its CPU time. Reference cycles
    (asyncio futures, exceptions) are still collected, only in larger batches."""
    before = gc.get_threshold()
    gc.set_threshold(threshold, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


@contextmanager
def collection_deferred() -> Iterator[None]:
    """No collector pass inside, one on the way out: for a bounded run whose state is freed
    by reference counting when it ends (it holds no reference cycle of its own), so that
    the cycles made meanwhile are few. Even a pass every 100,000 allocations rescans the
    young objects a run keeps, only to find almost nothing (the market demo: 0.35 s for
    fewer than a thousand objects)."""
    try:
        with collection_paused():
            yield
    finally:
        gc.collect()


@contextmanager
def collection_paused() -> Iterator[None]:
    """No collector pass inside and none on the way out: for work whose objects are freed by
    reference counting as it goes (a verification's blocks of rows), which may run in a
    process holding much else that a closing pass would rescan."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
