"""The Market Agent served over the databus."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from osed.agents import bus_topics
from osed.agents.market_agent import MarketAgent, Notification
from osed.codec import cts as codec
from osed.domain.cts import EiCreatedTransaction
from osed.domain.envelope import Envelope
from osed.domain.errors import ValidationError
from osed.domain.time import Interval
from osed.ports.bus import Subscription

Publish = Callable[[str, bytes], Awaitable[None]]
Subscribe = Callable[[str, Callable[[Envelope], Awaitable[None]], str], Awaitable[Subscription]]


class MarketAgentService:
    """Answers CTS requests from the bus and, for a call market, clears each interval at its
    gate closure (``gate_closure`` before the interval starts)."""

    name = "market-agent"

    def __init__(
        self,
        *,
        agent: MarketAgent,
        publish: Publish,
        subscribe: Subscribe,
        interval: timedelta,
        gate_closure: timedelta = timedelta(minutes=5),
        poll: timedelta = timedelta(seconds=1),
    ) -> None:
        self.agent = agent
        self._publish = publish
        self._subscribe = subscribe
        self.interval = interval
        self.gate_closure = gate_closure
        self.poll = poll
        self._subscriptions: list[Subscription] = []
        self._clearing: asyncio.Task[None] | None = None
        self._running = False

    async def start(self) -> None:
        market = self.agent.market_id
        self._subscriptions.append(
            await self._subscribe(bus_topics.requests(market), self._on_request, self.name)
        )
        self._subscriptions.append(
            await self._subscribe(
                bus_topics.confirmations(market), self._on_confirmation, f"{self.name}-confirm"
            )
        )
        if not self.agent.market.continuous:
            self._clearing = asyncio.create_task(self._clear_at_gates())
        self._running = True

    async def stop(self) -> None:
        self._running = False
        if self._clearing is not None:
            self._clearing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clearing
        for subscription in self._subscriptions:
            await subscription.close()
        self._subscriptions.clear()
        self.agent.ledger.flush()

    def ready(self) -> bool:
        return self._running

    async def _on_request(self, envelope: Envelope) -> None:
        answer, notifications = self.agent.handle_wire(envelope.payload)
        await self._publish(bus_topics.replies(self.agent.market_id, envelope.source), answer)
        await self._notify(notifications)

    async def _on_confirmation(self, envelope: Envelope) -> None:
        try:
            message = codec.loads(envelope.payload)
        except ValidationError:
            return  # a confirmation is informational; a malformed one changes nothing
        if isinstance(message, EiCreatedTransaction):
            self.agent.acknowledge(message)

    async def _notify(self, notifications: tuple[Notification, ...]) -> None:
        for notification in notifications:
            topic = bus_topics.transactions(self.agent.market_id, notification.party)
            await self._publish(topic, codec.dumps(notification.message))

    async def clear(self, interval: Interval) -> None:
        report = self.agent.clear(interval)
        await self._notify(report.notifications)

    async def _clear_at_gates(self) -> None:
        """Clear each interval once its gate has closed, on the injected clock. The first one
        is the first interval whose gate was still open when the service started."""
        next_start = next_boundary(self.agent.clock.now() + self.gate_closure, self.interval)
        while True:
            while self.agent.clock.now() >= next_start - self.gate_closure:
                await self.clear(Interval(next_start, self.interval))
                next_start += self.interval
            await asyncio.sleep(self.poll.total_seconds())


def next_boundary(instant: datetime, step: timedelta) -> datetime:
    """The first multiple of ``step`` since the Unix epoch at or after ``instant``."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    steps = -((epoch - instant) // step)  # ceiling division on timedeltas
    return epoch + steps * step
