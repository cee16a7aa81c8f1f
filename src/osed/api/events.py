"""Live updates as server-sent events, fed from the bus: each configured feed (a topic pattern
and an event name) becomes a stream of ``id``, ``event`` and ``data`` records. An event that
belongs to a party (a transaction) reaches only principals who own that party's rows.

A client that reconnects with ``Last-Event-ID`` first gets the events after that id still kept
(the last ``keep``); a client that falls ``queue`` events behind is sent a ``lagged`` event and
closed, so one slow reader holds no memory of the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import StreamingResponse

from osed.api.auth import Caller
from osed.domain.access import READERS, permit
from osed.domain.envelope import Envelope
from osed.domain.identity import Principal
from osed.ports.bus import Bus, Subscription

HEARTBEAT_S = 15.0


def _public(_: str) -> str | None:
    return None


def last_level(topic: str) -> str | None:
    """The party of a topic that ends in it (``cts/<market>/transactions/<party>``)."""
    return topic.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class Feed:
    pattern: str
    kind: str
    party: Callable[[str], str | None] = field(default=_public)
    """Whose event a topic carries (None: everyone's)."""


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    kind: str
    party: str | None
    data: str

    def text(self) -> str:
        return f"id: {self.seq}\nevent: {self.kind}\ndata: {self.data}\n\n"


class _Listener:
    def __init__(self, principal: Principal, kinds: frozenset[str] | None, size: int) -> None:
        self.principal = principal
        self.kinds = kinds
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(size)
        self.lagged = False

    def wants(self, event: Event) -> bool:
        if self.kinds is not None and event.kind not in self.kinds:
            return False
        return event.party is None or self.principal.owns_party(event.party)

    def offer(self, event: Event) -> None:
        if self.lagged or not self.wants(event):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.lagged = True
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()  # room for the end marker
            self.queue.put_nowait(None)


class EventHub:
    def __init__(self, bus: Bus, feeds: list[Feed], *, keep: int = 1000, queue: int = 1000) -> None:
        self._bus = bus
        self.feeds = feeds
        self._kept: deque[Event] = deque(maxlen=keep)
        self._queue = queue
        self._listeners: set[_Listener] = set()
        self._subscriptions: list[Subscription] = []
        self._seq = 0

    @property
    def last_id(self) -> int:
        """The id of the last event published (0: none yet)."""
        return self._seq

    @property
    def kinds(self) -> list[str]:
        return sorted({feed.kind for feed in self.feeds})

    async def start(self) -> None:
        for feed in self.feeds:
            self._subscriptions.append(await self._bus.subscribe(feed.pattern, self._handler(feed)))

    async def stop(self) -> None:
        for subscription in self._subscriptions:
            await subscription.close()
        self._subscriptions.clear()
        for listener in list(self._listeners):
            with contextlib.suppress(asyncio.QueueFull):
                listener.queue.put_nowait(None)

    def _handler(self, feed: Feed) -> Callable[[Envelope], Any]:
        async def on_message(envelope: Envelope) -> None:
            self.publish(feed.kind, envelope.topic, envelope.payload, feed.party(envelope.topic))

        return on_message

    def publish(self, kind: str, topic: str, payload: bytes, party: str | None) -> Event:
        try:
            body: Any = json.loads(payload)
        except ValueError:
            body = payload.decode("utf-8", "replace")
        self._seq += 1
        data = json.dumps({"topic": topic, "body": body}, separators=(",", ":"), allow_nan=False)
        event = Event(self._seq, kind, party, data)
        self._kept.append(event)
        for listener in list(self._listeners):
            listener.offer(event)
        return event

    async def stream(
        self, principal: Principal, kinds: frozenset[str] | None, after: int | None
    ) -> AsyncIterator[str]:
        listener = _Listener(principal, kinds, self._queue)
        self._listeners.add(listener)
        try:
            yield ": osed events\n\n"
            if after is not None:
                for kept in list(self._kept):
                    if kept.seq > after and listener.wants(kept):
                        yield kept.text()
            while True:
                try:
                    event = await asyncio.wait_for(listener.queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if event is None:
                    if listener.lagged:
                        yield "event: lagged\ndata: {}\n\n"
                    return
                yield event.text()
        finally:
            self._listeners.discard(listener)


def create_router(hub: EventHub, *, caller: Caller, described: Any) -> APIRouter:
    router = APIRouter(tags=["events"])
    who = Depends(caller)
    answers = described({200: "a text/event-stream of the events the caller may see"})
    answers[200]["content"] = {"text/event-stream": {"schema": {"type": "string"}}}

    @router.get("/events", response_class=StreamingResponse, responses=answers)
    async def events(
        types: Annotated[
            list[str] | None, Query(max_length=16, description="only these kinds (docs/api.md)")
        ] = None,
        last_event_id: Annotated[
            int | None, Header(ge=0, description="continue after this event (a reconnect)")
        ] = None,
        principal: Principal = who,
    ) -> StreamingResponse:
        permit(principal, *READERS, to="follow events")
        kinds = None if not types else frozenset(types)
        return StreamingResponse(
            hub.stream(principal, kinds, last_event_id),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router
