"""NatsBus on a real nats-server with JetStream: round trip, subjects, durable consumers,
kill -9, Nats-Msg-Id de-duplication, dead letters, many messages in flight."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

import nats
import pytest

from osed.bus.nats import NatsBus, NatsUnavailableError
from osed.domain.envelope import Envelope
from osed.domain.errors import ConfigurationError, ValidationError
from tests.integration.bus.support import WAIT_S, Collector, clock, envelope
from tests.services.brokers import Broker, free_port

BusMaker = Callable[..., Awaitable[NatsBus]]


def url(broker: Broker) -> str:
    return f"nats://{broker.host}:{broker.port}"


@pytest.fixture
async def make_bus(nats_server: Broker) -> AsyncIterator[BusMaker]:
    started: list[NatsBus] = []

    async def make(**options: object) -> NatsBus:
        bus = NatsBus(url(nats_server), stream="OSED", clock=clock(), **options)  # type: ignore[arg-type]
        await bus.start()
        started.append(bus)
        return bus

    yield make
    for bus in started:
        await bus.stop()


async def stored_messages(broker: Broker) -> int:
    nc = await nats.connect(url(broker))
    try:
        info = await nc.jetstream().stream_info("OSED")
        return info.state.messages
    finally:
        await nc.close()


async def test_round_trip_keeps_every_field(make_bus: BusMaker) -> None:
    bus = await make_bus()
    got = Collector()
    await bus.subscribe("grid/+/raw", got)
    sent = replace(
        envelope("grid/f1/raw", 7, payload=b"\x00binary\nwith newline\xff"),
        content_type="application/octet-stream",
        key="custom-key-7",
    )
    await bus.publish(sent)
    (received,) = await got.wait_for(1)
    assert received == sent.received(clock().now())


async def test_wildcards_follow_mqtt(make_bus: BusMaker) -> None:
    bus = await make_bus()
    one_level, rest = Collector(), Collector()
    await bus.subscribe("a/+/c", one_level)
    await bus.subscribe("a/#", rest, durable="rest")
    for seq, topic in enumerate(["a/b/c", "a/b/d", "a", "a/b/c/d", "x/b/c", "a/z/c"], start=1):
        await bus.publish(envelope(topic, seq))
    await one_level.wait_for(2)
    await rest.wait_for(5)
    assert [e.topic for e in one_level.got] == ["a/b/c", "a/z/c"]
    assert [e.topic for e in rest.got] == ["a/b/c", "a/b/d", "a", "a/b/c/d", "a/z/c"]


@pytest.mark.parametrize("topic", ["a.b/c", "a/b*", "a/>", "a/b c", "a//b"])
async def test_topics_that_would_change_meaning_are_rejected(
    make_bus: BusMaker, topic: str
) -> None:
    bus = await make_bus()
    with pytest.raises(ValidationError, match="bad_nats_token"):
        await bus.publish(envelope(topic, 1))
    with pytest.raises(ValidationError, match="bad_nats_token"):
        await bus.subscribe(topic, Collector())


async def test_durable_subscription_gets_what_was_published_while_away(
    make_bus: BusMaker,
) -> None:
    bus = await make_bus()
    first = Collector()
    subscription = await bus.subscribe("m/#", first, durable="ledger")
    await bus.publish(envelope("m/x", 1))
    await first.wait_for(1)
    await subscription.close()

    for seq in (2, 3, 4):
        await bus.publish(envelope("m/x", seq))
    again = Collector()
    await bus.subscribe("m/#", again, durable="ledger")
    await again.wait_for(3)
    assert [e.seq for e in again.got] == [2, 3, 4]


async def test_a_durable_name_keeps_its_filter(make_bus: BusMaker) -> None:
    bus = await make_bus()
    subscription = await bus.subscribe("m/#", Collector(), durable="ledger")
    await subscription.close()
    with pytest.raises(ConfigurationError, match="filters"):
        await bus.subscribe("other/#", Collector(), durable="ledger")


async def test_failed_handler_means_redelivery(make_bus: BusMaker) -> None:
    bus = await make_bus()
    attempts: list[Envelope] = []
    done = Collector()

    async def flaky(received: Envelope) -> None:
        attempts.append(received)
        if len(attempts) == 1:
            raise RuntimeError("first try fails")
        await done(received)

    await bus.subscribe("f/#", flaky, durable="flaky")
    await bus.publish(envelope("f/x", 1))
    (again,) = await done.wait_for(1)
    assert again.seq == 1
    assert len(attempts) == 2


async def test_same_key_is_stored_once(make_bus: BusMaker, nats_server: Broker) -> None:
    bus = await make_bus()
    got = Collector()
    await bus.subscribe("dup/#", got, durable="dup")
    await bus.publish(envelope("dup/x", 1))
    await bus.publish(envelope("dup/x", 1))  # a retry: same key
    await bus.publish(envelope("dup/x", 2))
    await got.wait_for(2)
    assert await stored_messages(nats_server) == 2
    assert got.keys == ["meter-1:1", "meter-1:2"]


async def test_survives_broker_kill_and_restart(make_bus: BusMaker, nats_server: Broker) -> None:
    bus = await make_bus()
    live, durable = Collector(), Collector()
    await bus.subscribe("k/#", live)
    subscription = await bus.subscribe("k/#", durable, durable="k")
    await bus.publish(envelope("k/x", 1))
    await live.wait_for(1)
    await durable.wait_for(1)
    await subscription.close()
    await bus.publish(envelope("k/x", 2))  # stored while the durable consumer is away

    nats_server.kill()
    nats_server.start()
    await bus.publish(envelope("k/x", 3))  # waits for the reconnection
    await bus.subscribe("k/#", durable, durable="k")
    await durable.wait_for(3)
    assert durable.keys == ["meter-1:1", "meter-1:2", "meter-1:3"]
    await bus.publish(envelope("k/x", 4))
    # The ordered consumer is recreated after the restart and resumes after what it saw.
    await live.wait_until(lambda got: got[-1].key == "meter-1:4")
    assert live.keys == ["meter-1:1", "meter-1:2", "meter-1:3", "meter-1:4"]


async def test_undecodable_frame_goes_to_dead_letter_and_the_loop_goes_on(
    make_bus: BusMaker, nats_server: Broker
) -> None:
    bus = await make_bus()
    got = Collector()
    await bus.subscribe("d/#", got, durable="d")
    nc = await nats.connect(url(nats_server))
    try:
        dead = await nc.subscribe("osed._osed.dead-letter.>")
        await nc.jetstream().publish("osed.d.x", b"not a frame")
        message = await dead.next_msg(timeout=WAIT_S)
    finally:
        await nc.close()
    assert message.subject == "osed._osed.dead-letter.d.x"
    document = json.loads(message.data)
    assert document["topic"] == "d/x"
    assert "no header line" in document["reason"]
    assert base64.b64decode(document["frame"]) == b"not a frame"

    await bus.publish(envelope("d/x", 1))
    (received,) = await got.wait_for(1)
    assert received.seq == 1


async def test_unreachable_server_is_a_configuration_error() -> None:
    bus = NatsBus(
        f"nats://127.0.0.1:{free_port()}", stream="OSED", clock=clock(), connect_timeout=1
    )
    with pytest.raises(ConfigurationError, match="unreachable"):
        await asyncio.wait_for(bus.start(), WAIT_S)


async def test_existing_stream_with_other_subjects_is_a_configuration_error(
    nats_server: Broker,
) -> None:
    nc = await nats.connect(url(nats_server))
    await nc.jetstream().add_stream(name="OSED", subjects=["elsewhere.>"])
    await nc.close()
    bus = NatsBus(url(nats_server), stream="OSED", clock=clock())
    with pytest.raises(ConfigurationError, match="without subjects"):
        await bus.start()


# -- many messages in flight ------------------------------------------------------------------


async def test_publish_many_stores_each_envelope_once_in_order(
    make_bus: BusMaker, nats_server: Broker
) -> None:
    bus = await make_bus()
    got = Collector()
    await bus.subscribe("many/#", got, durable="many")
    sent = [envelope("many/x", seq) for seq in range(1, 1001)]
    await bus.publish_many(sent)
    await bus.publish_many(sent[:10])  # a retry of the same keys
    await got.wait_for(1000)
    assert got.keys == [e.key for e in sent]
    assert await stored_messages(nats_server) == 1000


async def test_close_hands_back_what_was_pulled_but_not_handled(make_bus: BusMaker) -> None:
    bus = await make_bus()  # ack_wait 30 s: a message left in a dead inbox would come that late
    started, release = asyncio.Event(), asyncio.Event()
    first = Collector()

    async def slow(received: Envelope) -> None:
        started.set()
        await release.wait()
        await first(received)

    subscription = await bus.subscribe("back/#", slow, durable="back")
    await bus.publish_many([envelope("back/x", seq) for seq in range(1, 21)])
    async with asyncio.timeout(WAIT_S):
        await started.wait()
    closing = asyncio.create_task(subscription.close())
    await asyncio.sleep(0.1)
    assert not closing.done()  # the handler call in progress ends first
    release.set()
    await closing
    assert first.keys == ["meter-1:1"]

    again = Collector()
    await bus.subscribe("back/#", again, durable="back")
    async with asyncio.timeout(5):
        await again.wait_for(19)
    assert again.keys == [f"meter-1:{seq}" for seq in range(2, 21)]


async def test_publishes_in_flight_survive_a_broker_kill(
    make_bus: BusMaker, nats_server: Broker
) -> None:
    publisher, subscriber = await make_bus(), await make_bus()
    got = Collector()
    await subscriber.subscribe("kill/#", got, durable="kill")
    count, seqs = 3000, iter(range(1, 3001))

    async def send() -> None:
        for seq in seqs:
            await publisher.publish(envelope("kill/x", seq))

    sending = asyncio.gather(*(send() for _ in range(200)))
    await got.wait_for(500)
    nats_server.kill()
    nats_server.start()
    async with asyncio.timeout(WAIT_S * 2):
        await sending  # every publish returned: stored, or stored again once reconnected
    await got.wait_until(lambda envelopes: len({e.key for e in envelopes}) == count)
    assert await stored_messages(nats_server) == count  # the resent copies were dropped


async def test_publish_gives_up_when_the_broker_stays_away(
    make_bus: BusMaker, nats_server: Broker
) -> None:
    bus = await make_bus(ack_timeout=0.2, publish_timeout=1.0)
    await bus.publish(envelope("away/x", 1))
    nats_server.kill()
    async with asyncio.timeout(WAIT_S):
        with pytest.raises(NatsUnavailableError):
            await bus.publish(envelope("away/x", 2))
