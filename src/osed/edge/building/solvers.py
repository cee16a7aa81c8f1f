"""The threads on which building agents solve their models.

HiGHS releases the interpreter lock while it solves, so the agents of one process (``osed run
buildings``) answer a grid function's round on every core at once, and the event loop (bus,
gateways, control cycles) keeps running while they do. One pool serves every agent of a
process; an agent keeps its own models, so no two threads ever touch the same HiGHS instance
(each agent holds a lock around its solves).
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class SolverPool:
    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="osed-solver")

    async def run(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(work, *args, **kwargs))

    def close(self) -> None:
        self._executor.shutdown(wait=True)


@functools.cache
def shared_pool() -> SolverPool:
    """The process' pool, one thread per core, for agents not given one of their own."""
    return SolverPool()
