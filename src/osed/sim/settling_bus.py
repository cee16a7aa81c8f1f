"""An in-memory bus that can wait until nothing is left to deliver.

A simulation moves its clock only once every message the last step caused (the EDCs' requests,
the agents' answers, the answers' consequences) was handled, so that a run never depends on
how fast the machine was.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from osed.bus.memory import MemoryBroker, MemoryBus
from osed.domain.envelope import Envelope
from osed.ports.bus import Handler, Subscription


class _Drains(Protocol):
    async def drain(self) -> None: ...


class CountingBroker(MemoryBroker):
    """Counts what it routes: a drain pass during which nothing new was routed ends quiet."""

    def __init__(self) -> None:
        super().__init__()
        self.routed = 0

    def route(self, envelope: Envelope) -> None:
        self.routed += 1
        super().route(envelope)


class SettlingBus(MemoryBus):
    def __init__(self, broker: CountingBroker) -> None:
        super().__init__(broker)
        self._counting = broker
        self._all: list[_Drains] = []

    async def subscribe(
        self, pattern: str, handler: Handler, *, durable: str | None = None
    ) -> Subscription:
        subscription = await super().subscribe(pattern, handler, durable=durable)
        self._all.append(subscription)  # type: ignore[arg-type]  # the memory subscription
        return subscription

    async def settle(self, rounds: int = 10_000) -> None:
        """Return once every queue is empty and no handler is running: every subscription is
        drained until a whole pass routed nothing new."""
        for _ in range(rounds):
            before = self._counting.routed
            for subscription in list(self._all):
                await subscription.drain()
            await asyncio.sleep(0)
            if self._counting.routed == before:
                return
        raise RuntimeError("the bus did not settle: messages keep causing messages")
