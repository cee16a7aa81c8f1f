"""PullFeed without a broker: how much it asks for, when, and what closing hands back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg

from osed.bus._nats_pull import PullFeed

Callback = Callable[[Msg], Awaitable[None]]
NEXT = "$JS.API.CONSUMER.MSG.NEXT.S.C"


class FakeSubscription:
    def __init__(self) -> None:
        self.unsubscribed = False

    async def unsubscribe(self) -> None:
        self.unsubscribed = True


class FakeClient:
    """What PullFeed and Msg use of nats-py's Client."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, str]] = []
        self.cb: Callback | None = None
        self.sub = FakeSubscription()
        self.seq = 0

    def new_inbox(self) -> str:
        return "_INBOX.feed"

    async def subscribe(self, subject: str, cb: Callback) -> FakeSubscription:
        assert subject == "_INBOX.feed"
        self.cb = cb
        return self.sub

    async def publish(self, subject: str, payload: bytes = b"", reply: str = "") -> None:
        self.published.append((subject, payload, reply))

    @property
    def requests(self) -> list[dict[str, int]]:
        return [json.loads(p) for s, p, r in self.published if s == NEXT and r == "_INBOX.feed"]

    @property
    def acks(self) -> list[tuple[str, bytes]]:
        return [(s, p) for s, p, _ in self.published if s.startswith("$JS.ACK.")]

    async def deliver(self, count: int) -> None:
        assert self.cb is not None
        for _ in range(count):
            self.seq += 1
            reply = f"$JS.ACK.S.C.1.{self.seq}.{self.seq}.0.0"
            await self.cb(Msg(self, subject="osed.a", reply=reply, data=b"m"))  # type: ignore[arg-type]

    async def status(self, code: str, **headers: str) -> None:
        assert self.cb is not None
        status = Msg(self, subject="_INBOX.feed", data=b"", headers={"Status": code, **headers})  # type: ignore[arg-type]
        await self.cb(status)


async def opened(client: FakeClient, batch: int = 10, expires: float = 1.0) -> PullFeed:
    feed = PullFeed(client, "S", "C", batch=batch, expires=expires)  # type: ignore[arg-type]
    await feed.open()
    return feed


async def test_asks_for_a_batch_and_returns_what_arrived_in_order() -> None:
    client = FakeClient()
    feed = await opened(client)
    taking = asyncio.ensure_future(feed.take())
    await asyncio.sleep(0)
    assert client.requests == [{"batch": 10, "expires": 1_000_000_000}]
    await client.deliver(3)
    got = await taking
    assert [m.reply.split(".")[5] for m in got] == ["1", "2", "3"]


async def test_asks_again_while_the_caller_works_once_half_a_batch_came() -> None:
    client = FakeClient()
    feed = await opened(client)
    taking = asyncio.ensure_future(feed.take())
    await asyncio.sleep(0)
    await client.deliver(4)  # 6 still to come: enough
    await taking
    assert [r["batch"] for r in client.requests] == [10]
    await client.deliver(1)  # 5 to come: top up to 10
    assert len(await feed.take()) == 1
    assert [r["batch"] for r in client.requests] == [10, 5]


async def test_an_expired_request_is_no_longer_counted() -> None:
    client = FakeClient()
    feed = await opened(client, batch=4)
    taking = asyncio.ensure_future(feed.take())
    await asyncio.sleep(0)
    await client.deliver(1)
    await taking
    await client.status("408", **{"Nats-Pending-Messages": "3"})  # the rest will not come
    taking = asyncio.ensure_future(feed.take())
    await asyncio.sleep(0)
    assert [r["batch"] for r in client.requests] == [4, 4]
    await client.status("100")  # a heartbeat changes nothing
    await client.deliver(1)
    assert len(await taking) == 1


async def test_a_request_whose_408_was_lost_ends_with_its_expiry() -> None:
    client = FakeClient()
    feed = await opened(client, batch=4, expires=0.01)
    assert not await feed.take()  # nothing came
    await asyncio.sleep(0.6)  # expiry and grace
    await asyncio.wait_for(feed.take(), 1)
    assert len(client.requests) >= 2


async def test_a_reconnection_asks_again_at_once() -> None:
    client = FakeClient()
    feed = await opened(client)
    taking = asyncio.ensure_future(feed.take())
    await asyncio.sleep(0)
    feed.reset()  # also wakes the waiting take
    assert len(await taking) == 0
    taking = asyncio.ensure_future(feed.take())
    await asyncio.sleep(0)
    assert [r["batch"] for r in client.requests] == [10, 10]
    await client.status("409", Description="Consumer Deleted")
    await client.deliver(1)
    assert len(await taking) == 1


async def test_closing_waits_for_the_requests_then_hands_back_in_order() -> None:
    client = FakeClient()
    feed = await opened(client)
    taking = asyncio.ensure_future(feed.take())
    await asyncio.sleep(0)
    await client.deliver(2)
    unhandled = list(await taking)[1:]  # the caller handled the first one only
    await client.deliver(1)  # arrived, never taken
    closing = asyncio.ensure_future(feed.close(unhandled))
    await asyncio.sleep(0.05)
    assert not closing.done()  # 7 asked messages could still come: hand back nothing yet
    await client.deliver(1)
    await client.status("408", **{"Nats-Pending-Messages": "6"})
    await closing
    assert client.sub.unsubscribed
    assert client.acks == [(f"$JS.ACK.S.C.1.{seq}.{seq}.0.0", b"-NAK") for seq in (2, 3, 4)]
    requests = len(client.requests)
    assert len(await feed.take()) == 0  # closed: no more requests, no waiting
    assert len(client.requests) == requests


async def test_closing_without_the_408_waits_until_the_request_expired() -> None:
    client = FakeClient()
    feed = await opened(client, expires=0.05)
    assert not await feed.take()
    await asyncio.wait_for(feed.close(), 2)  # expiry and grace
    assert client.sub.unsubscribed
