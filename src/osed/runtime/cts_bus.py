"""How CTS traffic uses the databus: which messages need the reliable layer, and which not.

Requests and replies travel at least once on the plain bus: a lost request or reply is made
good by the client's retry with the same request id, which the Market Agent answers from its
record. Transactions must reach their party exactly once, so each party's transaction topic
has its own reliable source (an outbox, per-source sequencing and replay): one source per topic
keeps each consumer's sequence free of other parties' numbers.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable

from osed.bus.reliable import Consumer, Outbox, PositionStore, Publisher
from osed.domain.envelope import Envelope
from osed.domain.time import Clock
from osed.ports.bus import Bus, Subscription

OutboxFactory = Callable[[str], Outbox]


class CtsBusLink:
    """``publish``/``subscribe`` callables for the Market Agent service and its clients."""

    def __init__(
        self,
        bus: Bus,
        *,
        source: str,
        clock: Clock,
        outbox_for: OutboxFactory | None = None,
        positions: PositionStore | None = None,
    ) -> None:
        self.bus = bus
        self.source = source
        self.clock = clock
        self._outbox_for = outbox_for
        self._positions = positions
        self._seq = itertools.count(1)
        self._publishers: dict[str, Publisher] = {}
        self._consumers: list[Consumer] = []

    async def publish(self, topic: str, payload: bytes) -> None:
        if _is_transaction(topic):
            publisher = await self._publisher_for(topic)
            await publisher.publish(topic, payload)
            return
        envelope = Envelope(topic, self.source, next(self._seq), payload, self.clock.now())
        await self.bus.publish(envelope)

    async def subscribe(
        self, pattern: str, handler: Callable[[Envelope], Awaitable[None]], name: str
    ) -> Subscription:
        if _is_transaction(pattern):
            consumer = Consumer(
                self.bus,
                name,
                pattern,
                handler,
                positions=self._positions,
                durable=True,
                clock=self.clock,
            )
            await consumer.start()
            self._consumers.append(consumer)
            return consumer
        return await self.bus.subscribe(pattern, handler, durable=name)

    async def close(self) -> None:
        for publisher in self._publishers.values():
            await publisher.close()
        self._publishers.clear()

    async def _publisher_for(self, topic: str) -> Publisher:
        publisher = self._publishers.get(topic)
        if publisher is None:
            source = transaction_source(topic)
            outbox = self._outbox_for(source) if self._outbox_for is not None else None
            publisher = Publisher(self.bus, source, outbox, clock=self.clock)
            await publisher.start()
            self._publishers[topic] = publisher
        return publisher


def transaction_source(topic: str) -> str:
    """``cts/<market>/transactions/<party>`` is published by source ``<market>-tx-<party>``."""
    _, market, _, party = topic.split("/", 3)
    return f"{market}-tx-{party}"


def _is_transaction(topic: str) -> bool:
    parts = topic.split("/")
    return len(parts) == 4 and parts[0] == "cts" and parts[2] == "transactions"
