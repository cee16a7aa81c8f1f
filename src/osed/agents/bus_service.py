"""The Market Agent served over the databus."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from osed.agents import bus_topics, market_queries
from osed.agents.gates import ClearLate, next_boundary, overdue
from osed.agents.market_agent import MarketAgent, Notification, Reply, Request
from osed.codec import cts as codec
from osed.domain.cts import EiCreatedTransaction
from osed.domain.envelope import Envelope
from osed.domain.errors import OsedError, ValidationError
from osed.domain.time import Interval
from osed.ports.bus import Subscription

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes], Awaitable[None]]
Subscribe = Callable[[str, Callable[[Envelope], Awaitable[None]], str], Awaitable[Subscription]]


class MarketAgentService:
    """Answers CTS requests from the bus and, for a call market, clears each interval at its
    gate closure (``gate_closure`` before the interval starts).

    Before it takes requests, :meth:`start` settles what a crash or a stop left behind: it
    sends the transactions of recovered clearings the trace does not show as sent (intervals
    not ended yet), then, for a call market, it clears late or expires the intervals whose
    gate closed while it was down (:mod:`osed.agents.gates`), in time order, and only then
    resumes the schedule with the first gate still open. :meth:`stop` writes a snapshot of the
    agent's state, so that the next start replays nothing.
    """

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
        await self._send_unsent()
        since = self.agent.clock.now()
        call_market = not self.agent.market.continuous
        if call_market:
            await self._settle_overdue(since)
        self._subscriptions.append(
            await self._subscribe(bus_topics.requests(market), self._on_request, self.name)
        )
        self._subscriptions.append(
            await self._subscribe(
                bus_topics.confirmations(market), self._on_confirmation, f"{self.name}-confirm"
            )
        )
        self._subscriptions.append(
            await self._subscribe(bus_topics.queries(market), self._on_query, f"{self.name}-query")
        )
        if call_market:
            self._clearing = asyncio.create_task(self._clear_at_gates(since))
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
        if self.agent.steps_since_snapshot:
            try:
                self.agent.snapshot()
            except OsedError:
                log.exception("the snapshot at stop failed; the next start replays more")
        self.agent.ledger.flush()

    def ready(self) -> bool:
        return self._running

    async def serve(self, request: Request) -> Reply:
        """Answer a request that came another way than the bus (the platform API): the
        transactions it makes go to their parties on the bus, as for a request on the bus."""
        reply = self.agent.handle(request)
        await self._notify(reply.notifications)
        return reply

    async def _on_request(self, envelope: Envelope) -> None:
        answer, notifications = self.agent.handle_wire(envelope.payload)
        await self._publish(bus_topics.replies(self.agent.market_id, envelope.source), answer)
        await self._notify(notifications)

    async def _on_query(self, envelope: Envelope) -> None:
        """A read of the agent's open tenders, quotes, intervals, book or terms: answered to
        the asker alone, not traced (it changes nothing)."""
        query_id, answer = market_queries.answer(self.agent, envelope.payload)
        log.debug("query %s of %s answered", query_id, envelope.source)
        await self._publish(bus_topics.answers(self.agent.market_id, envelope.source), answer)

    async def _on_confirmation(self, envelope: Envelope) -> None:
        try:
            message = codec.loads(envelope.payload)
        except ValidationError:
            return  # a confirmation is informational; a malformed one changes nothing
        if isinstance(message, EiCreatedTransaction):
            self.agent.acknowledge(message, envelope.payload)

    async def _notify(self, notifications: tuple[Notification, ...]) -> None:
        for notification in notifications:
            topic = bus_topics.transactions(self.agent.market_id, notification.party)
            await self._publish(topic, codec.dumps(notification.message))

    async def clear(self, interval: Interval) -> None:
        report = self.agent.clear(interval)
        await self._send(report.clearing_id, report.notifications)

    async def _send(self, clearing_id: str, notifications: tuple[Notification, ...]) -> None:
        if notifications:
            await self._notify(notifications)
            self.agent.transactions_sent(clearing_id)

    async def _send_unsent(self) -> None:
        """A crash between a clearing's ledger commit and the record of its transactions
        being sent leaves the parties maybe without them: send them (again)."""
        now = self.agent.clock.now()
        for unsent in self.agent.unsent_transactions():
            if unsent.interval.end > now:  # ended: the ledger and positions tell the rest
                log.warning("sending the transactions of %s again", unsent.clearing_id)
                await self._send(unsent.clearing_id, unsent.notifications)

    async def _settle_overdue(self, now: datetime) -> None:
        """Clear late, or expire, the intervals whose gate closed while the agent was down."""
        actions = overdue(
            self.agent.open_intervals(),
            cleared=self.agent.is_cleared,
            now=now,
            gate_closure=self.gate_closure,
        )
        for action in actions:
            if isinstance(action, ClearLate):
                log.warning("clearing %s late: its gate closed while down", action.interval.key())
                await self.clear(action.interval)
            else:
                expired = self.agent.expire(action.interval, action.reason)
                log.warning(
                    "expired %d open tenders of %s without clearing it (%s)",
                    len(expired),
                    action.interval.key(),
                    action.reason,
                )

    async def _clear_at_gates(self, since: datetime) -> None:
        """Clear each interval once its gate has closed, on the injected clock, from the first
        one whose gate was still open at ``since`` (the ones closed by then were settled at
        start)."""
        next_start = next_boundary(since + self.gate_closure, self.interval)
        if next_start - self.gate_closure <= since:
            next_start += self.interval
        while True:
            while self.agent.clock.now() >= next_start - self.gate_closure:
                try:
                    await self.clear(Interval(next_start, self.interval))
                except OsedError:
                    # The clearing is traced: a restart records it and sends its transactions.
                    log.exception("clearing %s failed", next_start.isoformat())
                next_start += self.interval
            await asyncio.sleep(self.poll.total_seconds())
