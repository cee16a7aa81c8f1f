"""Helpers for broker tests: collect what a handler got, wait for it without sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from osed.domain.envelope import Envelope
from osed.domain.time import ManualClock

WAIT_S = 15.0  # generous: a broker restart and a reconnect backoff fit in it
T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC))


def envelope(topic: str, seq: int, *, source: str = "meter-1", payload: bytes = b"{}") -> Envelope:
    return Envelope(topic=topic, source=source, seq=seq, payload=payload, event_time=T0)


class Collector:
    """A handler that records envelopes; ``wait_for(n)`` returns once n arrived."""

    def __init__(self) -> None:
        self.got: list[Envelope] = []
        self._changed = asyncio.Condition()

    async def __call__(self, envelope: Envelope) -> None:
        async with self._changed:
            self.got.append(envelope)
            self._changed.notify_all()

    async def wait_for(self, count: int) -> list[Envelope]:
        return await self.wait_until(lambda got: len(got) >= count)

    async def wait_until(self, done: Callable[[list[Envelope]], bool]) -> list[Envelope]:
        async with asyncio.timeout(WAIT_S), self._changed:
            await self._changed.wait_for(lambda: done(self.got))
        return self.got

    @property
    def keys(self) -> list[str]:
        return [e.key for e in self.got]
