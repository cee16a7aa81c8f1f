"""Group commit: the requests of concurrent callers answered in batches, one durable write each.

A caller's request waits in a queue; the first request of a batch schedules the batch to run
on the event loop's next turn, by which time every caller that was ready has queued its own.
:meth:`MarketAgent.handle_many` then executes them in arrival order, makes the trace durable
once and only then hands back the replies, so no caller ever holds a reply to a request that a
crash could make the agent forget, and a crash before that write loses only requests that got
no reply (their callers retry them).
"""

from __future__ import annotations

import asyncio

from osed.agents.market_agent import MarketAgent, Reply, Request

MAX_BATCH = 4096
"""Requests per durable write at most: bounds how long the first of a batch waits."""


class GroupCommit:
    def __init__(self, agent: MarketAgent, *, max_batch: int = MAX_BATCH) -> None:
        self.agent = agent
        self.max_batch = max_batch
        self._queue: list[tuple[Request, asyncio.Future[Reply]]] = []
        self._scheduled = False
        self.batches = 0
        """Batches answered so far (each one durable write at most)."""

    async def handle(self, request: Request) -> Reply:
        """The reply to ``request``, once the write that holds its trace row is durable."""
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[Reply] = loop.create_future()
        self._queue.append((request, reply))
        if len(self._queue) >= self.max_batch:
            self._answer()
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._answer)
        return await reply

    def _answer(self) -> None:
        self._scheduled = False
        batch, self._queue = self._queue, []
        if not batch:
            return
        self.batches += 1
        outcomes = self.agent.handle_many([request for request, _ in batch])
        for (_, reply), outcome in zip(batch, outcomes, strict=True):
            if reply.done():  # its caller stopped waiting
                continue
            if isinstance(outcome, Exception):
                reply.set_exception(outcome)
            else:
                reply.set_result(outcome)
