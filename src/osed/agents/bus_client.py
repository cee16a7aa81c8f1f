"""A TEUA's Market Agent reached over the databus: request, await the reply with the same
``refId``, retry with the same request id on silence (the agent answers a retry from its
record, so a retry never trades twice)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from osed.agents import bus_topics
from osed.agents.bus_service import Publish, Subscribe
from osed.codec import cts as codec
from osed.domain.cts import (
    EiCanceledTender,
    EiCancelTender,
    EiCreatedTender,
    EiCreatedTransaction,
    EiCreateTender,
    EiCreateTransaction,
    EiReplyPosition,
    EiRequestPosition,
    EiResponse,
    Message,
)
from osed.domain.envelope import Envelope
from osed.domain.errors import ConflictError, UnavailableError, ValidationError
from osed.ports.bus import Subscription

T = TypeVar("T")
OnTransaction = Callable[[EiCreateTransaction], Awaitable[EiCreatedTransaction]]


class MarketUnavailableError(UnavailableError):
    """The Market Agent did not answer a request within the attempts allowed."""


class BusMarketClient:
    """Implements the TEUA's MarketAgentPort over the bus, for one party."""

    def __init__(
        self,
        *,
        market_id: str,
        party_id: str,
        source: str,
        publish: Publish,
        subscribe: Subscribe,
        timeout_s: float = 5.0,
        attempts: int = 3,
    ) -> None:
        self.market_id = market_id
        self.party_id = party_id
        self.source = source
        self._publish = publish
        self._subscribe = subscribe
        self.timeout_s = timeout_s
        self.attempts = attempts
        self._pending: dict[str, asyncio.Future[Message]] = {}
        self._subscriptions: list[Subscription] = []
        self._on_transaction: OnTransaction | None = None

    async def start(self, on_transaction: OnTransaction) -> None:
        self._on_transaction = on_transaction
        market = self.market_id
        self._subscriptions = [
            await self._subscribe(
                bus_topics.replies(market, self.source), self._on_reply, f"{self.source}-replies"
            ),
            await self._subscribe(
                bus_topics.transactions(market, self.party_id),
                self._on_transaction_message,
                f"{self.source}-transactions",
            ),
        ]

    async def stop(self) -> None:
        for subscription in self._subscriptions:
            await subscription.close()
        self._subscriptions.clear()

    async def create_tender(self, request: EiCreateTender) -> EiCreatedTender:
        return _expect(EiCreatedTender, await self._call(request.request_id, request))

    async def cancel_tender(self, request: EiCancelTender) -> EiCanceledTender:
        return _expect(EiCanceledTender, await self._call(request.request_id, request))

    async def request_position(self, request: EiRequestPosition) -> EiReplyPosition:
        return _expect(EiReplyPosition, await self._call(request.request_id, request))

    async def _call(self, request_id: str, request: Message) -> Message:
        frame = codec.dumps(request)
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            for _ in range(self.attempts):
                await self._publish(bus_topics.requests(self.market_id), frame)
                try:
                    return await asyncio.wait_for(asyncio.shield(future), self.timeout_s)
                except TimeoutError:
                    continue
            raise MarketUnavailableError(
                f"no answer to {request_id} after {self.attempts} attempts"
            )
        finally:
            self._pending.pop(request_id, None)

    async def _on_reply(self, envelope: Envelope) -> None:
        try:
            message = codec.loads(envelope.payload)
        except ValidationError:
            return  # not ours to answer; the request will be retried
        future = self._pending.get(_ref_id(message))
        if future is not None and not future.done():
            future.set_result(message)

    async def _on_transaction_message(self, envelope: Envelope) -> None:
        try:
            message = codec.loads(envelope.payload)
        except ValidationError:
            return
        if isinstance(message, EiCreateTransaction) and self._on_transaction is not None:
            confirmation = await self._on_transaction(message)
            await self._publish(bus_topics.confirmations(self.market_id), codec.dumps(confirmation))


def _ref_id(message: Message) -> str:
    if isinstance(message, EiResponse):
        return message.ref_id
    response = getattr(message, "response", None)
    return response.ref_id if isinstance(response, EiResponse) else ""


def _expect(kind: type[T], message: Message) -> T:
    if isinstance(message, kind):
        return message
    if isinstance(message, EiResponse):
        raise ConflictError(
            f"request refused ({message.response_code}): {message.response_description}"
        )
    raise ConflictError(f"expected {kind.__name__}, got {type(message).__name__}")
