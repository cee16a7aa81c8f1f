"""PubAcks without a broker: replies matched by token, timeouts, reconnection, closing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import nats.errors
import pytest
from nats.aio.msg import Msg

from osed.bus._nats_pubacks import (
    NoStreamError,
    PubAckRefusedError,
    PubAcks,
    PubAckTimeoutError,
    verify,
)

Callback = Callable[[Msg], Awaitable[None]]


class FakeClient:
    """What PubAcks uses of nats-py's Client; records publishes, replies on demand."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, str, dict[str, str] | None]] = []
        self.callbacks: dict[str, Callback] = {}

    def new_inbox(self) -> str:
        return "_INBOX.test"

    async def subscribe(self, subject: str, cb: Callback) -> None:
        self.callbacks[subject] = cb

    async def publish(
        self, subject: str, payload: bytes, reply: str, headers: dict[str, str] | None
    ) -> None:
        self.published.append((subject, payload, reply, headers))

    async def reply(
        self, index: int, data: bytes = b'{"stream":"S","seq":1}', **headers: str
    ) -> None:
        """Answer the ``index``-th publish as the broker would."""
        reply = self.published[index][2]
        (cb,) = self.callbacks.values()
        await cb(Msg(self, subject=reply, data=data, headers=headers or None))  # type: ignore[arg-type]


async def opened(client: FakeClient, timeout: float = 5.0) -> PubAcks:
    acks = PubAcks(client, timeout)  # type: ignore[arg-type]
    await acks.open()
    return acks


async def test_each_publish_gets_its_own_puback_in_any_order() -> None:
    client = FakeClient()
    acks = await opened(client)
    first = await acks.send("osed.a", b"1", {"Nats-Msg-Id": "k1"})
    second = await acks.send("osed.a", b"2", {"Nats-Msg-Id": "k2"})
    assert client.callbacks.keys() == {"_INBOX.test.*"}
    assert [p[2] for p in client.published] == ["_INBOX.test.1", "_INBOX.test.2"]
    assert client.published[0][3] == {"Nats-Msg-Id": "k1"}

    await client.reply(1, b'{"stream":"S","seq":2}')
    assert second.done()
    assert not first.done()
    await client.reply(0)
    assert (await first).data == b'{"stream":"S","seq":1}'


async def test_a_missing_puback_times_out_and_a_late_one_is_ignored() -> None:
    client = FakeClient()
    acks = await opened(client, timeout=0.05)
    sent = await acks.send("osed.a", b"1", None)
    with pytest.raises(PubAckTimeoutError):
        await asyncio.wait_for(sent, 2)
    await client.reply(0)  # after the timeout: nobody waits for it any more


async def test_a_reconnection_sends_the_waiting_publishes_again() -> None:
    client = FakeClient()
    acks = await opened(client)
    sent = [await acks.send("osed.a", b"x", None) for _ in range(3)]
    await client.reply(0)
    acks.resend_all()
    assert (await sent[0]).data
    for future in sent[1:]:
        with pytest.raises(PubAckTimeoutError):
            await future


async def test_closing_fails_the_waiting_publishes_and_refuses_new_ones() -> None:
    client = FakeClient()
    acks = await opened(client)
    sent = await acks.send("osed.a", b"x", None)
    acks.close()
    with pytest.raises(nats.errors.ConnectionClosedError):
        await sent
    with pytest.raises(nats.errors.ConnectionClosedError):
        await acks.send("osed.a", b"x", None)


async def test_settled_waits_for_the_publishes_in_flight() -> None:
    client = FakeClient()
    acks = await opened(client)
    sent = await acks.send("osed.a", b"x", None)
    asyncio.get_running_loop().call_later(0.02, lambda: asyncio.ensure_future(client.reply(0)))
    await acks.settled(5)
    assert sent.done()


async def test_a_cancelled_publisher_leaves_nothing_behind() -> None:
    client = FakeClient()
    acks = await opened(client, timeout=0.02)
    sent = await acks.send("osed.a", b"x", None)
    sent.cancel()
    await asyncio.sleep(0.1)  # the sweeper passes by
    assert not acks._waiting
    assert not acks._deadlines


def puback(data: bytes, **headers: str) -> Msg:
    return Msg(None, subject="_INBOX.test.1", data=data, headers=headers or None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "data",
    [
        b'{"stream":"S","seq":7}',
        b'{"stream":"S", "seq":2,"duplicate": true}',
        b'{"stream":"error","seq":3,"domain":"error"}',  # names are not the error key
    ],
)
def test_a_puback_says_stored(data: bytes) -> None:
    verify(puback(data))


def test_a_jetstream_error_is_refused_with_its_description() -> None:
    data = b'{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}'
    with pytest.raises(PubAckRefusedError, match="maximum messages exceeded"):
        verify(puback(data))


def test_no_responders_means_no_stream_takes_the_subject() -> None:
    with pytest.raises(NoStreamError):
        verify(puback(b"", Status="503"))
    with pytest.raises(PubAckRefusedError, match="status 408"):
        verify(puback(b"", Status="408"))
