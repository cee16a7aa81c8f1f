"""A Market Agent in another process, as the platform API reaches it: CTS requests for any
party sent on the bus and their replies awaited; reads of its open tenders, quotes, intervals
and book as queries (:mod:`osed.agents.market_queries`); transactions and positions from the
ledger store it writes.

It listens to its own replies and answers only: it never receives a party's transactions,
so it confirms none on a party's behalf (the parties' own clients do that). A request or
query not answered in time raises :class:`~osed.agents.bus_client.MarketUnavailableError`
(the API answers 503); a request is sent again with the same request id before that, which
the agent answers from its record, so nothing is done twice.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from typing import Any, TypeVar

from osed.agents import bus_topics, market_queries
from osed.agents.bus_client import MarketUnavailableError
from osed.agents.bus_service import Publish, Subscribe
from osed.agents.market_agent import Reply, Request
from osed.agents.market_queries import MarketTerms, Query
from osed.agents.market_state import OpenQuote, OpenTender
from osed.codec import cts as codec
from osed.domain.cts import EiResponse, Message
from osed.domain.envelope import Envelope
from osed.domain.errors import Problem, ValidationError
from osed.domain.time import Interval
from osed.markets.protocol import BookSnapshot
from osed.ports.bus import Subscription
from osed.ports.ledger import LedgerStore

T = TypeVar("T")


class RemoteMarket:
    """One market served by a Market Agent elsewhere on the bus. ``source`` is this client's
    bus address (unique per process: replies and answers come to it)."""

    def __init__(
        self,
        *,
        market_id: str,
        ledger: LedgerStore,
        source: str,
        publish: Publish,
        subscribe: Subscribe,
        timeout_s: float = 5.0,
        attempts: int = 2,
    ) -> None:
        self.market_id = market_id
        self.ledger = ledger
        self.source = source
        self.timeout_s = timeout_s
        self.attempts = attempts
        self._publish = publish
        self._subscribe = subscribe
        self._replies: dict[str, asyncio.Future[Message]] = {}
        self._answers: dict[str, asyncio.Future[market_queries.Answer]] = {}
        self._subscriptions: list[Subscription] = []
        self._terms: MarketTerms | None = None
        self._queries = itertools.count(1)
        self._prefix = uuid.uuid4().hex[:12]

    async def start(self) -> None:
        market = self.market_id
        self._subscriptions = [
            await self._subscribe(
                bus_topics.replies(market, self.source), self._on_reply, f"{self.source}-replies"
            ),
            await self._subscribe(
                bus_topics.answers(market, self.source), self._on_answer, f"{self.source}-answers"
            ),
        ]

    async def stop(self) -> None:
        for subscription in self._subscriptions:
            await subscription.close()
        self._subscriptions.clear()

    def ready(self) -> bool:
        return bool(self._subscriptions)

    # ------------------------------------------------------------------ requests
    async def serve(self, request: Request) -> Reply:
        """The agent's reply; the transactions it made reach their parties from the agent
        (the reply carries none: they are read from the ledger)."""
        frame = codec.dumps(request)
        message = await self._await(
            self._replies, request.request_id, bus_topics.requests(self.market_id), frame
        )
        return Reply(message)

    # ------------------------------------------------------------------ reads
    async def terms(self) -> MarketTerms:
        """Asked once, then kept: a market's terms do not change while it runs."""
        if self._terms is None:
            self._terms = market_queries.decode_terms(await self._ask(market_queries.TERMS))
        return self._terms

    async def open_tenders(self) -> list[OpenTender]:
        return market_queries.decode_tenders(await self._ask(market_queries.OPEN_TENDERS))

    async def open_parts(self, tender_id: str) -> list[OpenTender]:
        found = await self._ask(market_queries.OPEN_PARTS, tender_id=tender_id)
        return market_queries.decode_tenders(found)

    async def open_quotes(self) -> list[OpenQuote]:
        return market_queries.decode_quotes(await self._ask(market_queries.OPEN_QUOTES))

    async def open_intervals(self) -> list[Interval]:
        return market_queries.decode_intervals(await self._ask(market_queries.OPEN_INTERVALS))

    async def book(self, instrument: str) -> BookSnapshot:
        return market_queries.decode_book(await self._ask(market_queries.BOOK, interval=instrument))

    async def _ask(self, kind: str, **fields: str) -> Any:
        query = Query(f"{self._prefix}-{next(self._queries)}", kind, **fields)
        found = await self._await(
            self._answers, query.query_id, bus_topics.queries(self.market_id), query.dumps()
        )
        if found.error is not None:
            problem = Problem("$", "refused_by_market", found.error)
            raise ValidationError([problem], subject=f"market query {kind}")
        return found.value

    async def _await(
        self, pending: dict[str, asyncio.Future[T]], key: str, topic: str, frame: bytes
    ) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        pending[key] = future
        try:
            for _ in range(self.attempts):
                await self._publish(topic, frame)
                try:
                    return await asyncio.wait_for(asyncio.shield(future), self.timeout_s)
                except TimeoutError:
                    continue
            raise MarketUnavailableError(
                f"market {self.market_id!r}: no answer to {key} within "
                f"{self.attempts} x {self.timeout_s:g} s (is its Market Agent running?)"
            )
        finally:
            pending.pop(key, None)

    async def _on_reply(self, envelope: Envelope) -> None:
        try:
            message = codec.loads(envelope.payload)
        except ValidationError:
            return  # not a reply this client can use; the request is sent again
        _settle(self._replies, _ref_id(message), message)

    async def _on_answer(self, envelope: Envelope) -> None:
        found = market_queries.parse_answer(envelope.payload)
        if found is not None:
            _settle(self._answers, found.ref_id, found)


def _settle(pending: dict[str, asyncio.Future[T]], key: str, value: T) -> None:
    future = pending.get(key)
    if future is not None and not future.done():
        future.set_result(value)


def _ref_id(message: Message) -> str:
    if isinstance(message, EiResponse):
        return message.ref_id
    response = getattr(message, "response", None)
    return response.ref_id if isinstance(response, EiResponse) else ""
