"""MqttBus on a real Mosquitto: round trip, wildcards, sessions, kill -9, dead letters."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

import aiomqtt
import pytest

from osed.bus.mqtt import MqttBus
from osed.domain.errors import ConfigurationError, ValidationError
from tests.integration.bus.support import WAIT_S, Collector, clock, envelope
from tests.services.brokers import BROKER_USER, Broker, free_port

BusMaker = Callable[..., Awaitable[MqttBus]]


@pytest.fixture
async def make_bus(mosquitto: Broker) -> AsyncIterator[BusMaker]:
    started: list[MqttBus] = []

    async def make(client_id: str = "node-1", **options: object) -> MqttBus:
        bus = MqttBus(mosquitto.host, mosquitto.port, client_id=client_id, clock=clock(), **options)  # type: ignore[arg-type]
        await bus.start()
        started.append(bus)
        return bus

    yield make
    for bus in started:
        await bus.stop()


async def retained(broker: Broker, topic: str) -> bytes:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(topic, qos=1)
        async with asyncio.timeout(WAIT_S):
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                return message.payload
    raise AssertionError("unreachable")


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
    await bus.subscribe("a/#", rest)
    for seq, topic in enumerate(["a/b/c", "a/b/d", "a", "a/b/c/d", "x/b/c", "a/z/c"], start=1):
        await bus.publish(envelope(topic, seq))
    await one_level.wait_for(2)
    await rest.wait_for(5)
    assert [e.topic for e in one_level.got] == ["a/b/c", "a/z/c"]
    assert [e.topic for e in rest.got] == ["a/b/c", "a/b/d", "a", "a/b/c/d", "a/z/c"]


async def test_durable_subscription_gets_what_was_published_while_away(
    make_bus: BusMaker,
) -> None:
    publisher, consumer = await make_bus("pub"), await make_bus("con")
    first = Collector()
    subscription = await consumer.subscribe("m/#", first, durable="ledger")
    await publisher.publish(envelope("m/x", 1))
    await first.wait_for(1)
    await subscription.close()

    for seq in (2, 3, 4):
        await publisher.publish(envelope("m/x", seq))
    again = Collector()
    await consumer.subscribe("m/#", again, durable="ledger")
    await again.wait_for(3)
    assert [e.seq for e in again.got] == [2, 3, 4]


async def test_failed_handler_means_redelivery_for_a_durable_subscription(
    make_bus: BusMaker,
) -> None:
    bus = await make_bus()
    attempts: list[int] = []
    done = Collector()

    async def flaky(received: object) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("first try fails")
        await done(received)  # type: ignore[arg-type]

    await bus.subscribe("f/#", flaky, durable="flaky")
    await bus.publish(envelope("f/x", 1))
    (again,) = await done.wait_for(1)
    assert again.seq == 1
    assert len(attempts) == 2


async def test_reconnects_after_broker_kill_and_restart(
    make_bus: BusMaker, mosquitto: Broker
) -> None:
    bus = await make_bus()
    live, durable = Collector(), Collector()
    await bus.subscribe("k/#", live)
    await bus.subscribe("k/#", durable, durable="k")
    await bus.publish(envelope("k/x", 1))
    await live.wait_for(1)
    await durable.wait_for(1)

    mosquitto.kill()  # also loses the persistent session: Mosquitto saves it only on exit
    mosquitto.start()

    # publish() waits for its own reconnection; what it sends before a subscription link has
    # resubscribed is lost (sequencing finds that gap), so keep sending until both see one.
    async def keep_publishing() -> None:
        for seq in range(2, 10_000):
            await bus.publish(envelope("k/x", seq))
            await asyncio.sleep(0.05)

    sender = asyncio.create_task(keep_publishing())
    try:
        await live.wait_until(lambda got: got[-1].seq > 1)
        await durable.wait_until(lambda got: got[-1].seq > 1)
    finally:
        sender.cancel()
    assert await retained(mosquitto, bus.liveness_topic) == b"online"


async def test_undecodable_frame_goes_to_dead_letter_and_the_loop_goes_on(
    make_bus: BusMaker, mosquitto: Broker
) -> None:
    bus = await make_bus()
    got = Collector()
    await bus.subscribe("d/#", got)
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as raw:
        await raw.subscribe("_osed/dead-letter/#", qos=1)
        await raw.publish("d/x", b"not a frame", qos=1)
        async with asyncio.timeout(WAIT_S):
            message = await anext(aiter(raw.messages))
    assert message.topic.value == "_osed/dead-letter/d/x"
    assert isinstance(message.payload, bytes)
    document = json.loads(message.payload)
    assert document["topic"] == "d/x"
    assert "no header line" in document["reason"]
    assert base64.b64decode(document["frame"]) == b"not a frame"

    await bus.publish(envelope("d/x", 1))
    (received,) = await got.wait_for(1)
    assert received.seq == 1


async def test_liveness_is_online_while_up_and_offline_after_stop(
    make_bus: BusMaker, mosquitto: Broker
) -> None:
    bus = await make_bus("edge-7")
    assert await retained(mosquitto, "_osed/liveness/edge-7") == b"online"
    await bus.stop()
    assert await retained(mosquitto, "_osed/liveness/edge-7") == b"offline"


EDGE_PROCESS = """
import asyncio, sys
from osed.bus.mqtt import MqttBus
from osed.domain.time import SystemClock

async def main() -> None:
    bus = MqttBus("127.0.0.1", int(sys.argv[1]), client_id="edge-8", clock=SystemClock())
    await bus.start()
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_last_will_says_offline_when_the_process_dies(mosquitto: Broker) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", EDGE_PROCESS, str(mosquitto.port), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(WAIT_S):
            assert await process.stdout.readline() == b"ready\n"
        assert await retained(mosquitto, "_osed/liveness/edge-8") == b"online"
    finally:
        process.kill()  # SIGKILL: no DISCONNECT packet, so the broker publishes the will
        await process.wait()
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as watcher:
        await watcher.subscribe("_osed/liveness/edge-8", qos=1)
        async with asyncio.timeout(WAIT_S):
            async for message in watcher.messages:
                if message.payload == b"offline":
                    break


async def test_unreachable_broker_is_a_configuration_error() -> None:
    bus = MqttBus("127.0.0.1", free_port(), client_id="lonely", clock=clock(), connect_timeout=2)
    with pytest.raises(ConfigurationError, match="unusable"):
        await bus.start()


async def test_credentials(mosquitto_with_password: Broker) -> None:
    broker = mosquitto_with_password
    anonymous = MqttBus(broker.host, broker.port, client_id="anon", clock=clock())
    with pytest.raises(ConfigurationError):
        await anonymous.start()
    bus = MqttBus(
        broker.host,
        broker.port,
        client_id="user",
        clock=clock(),
        username=BROKER_USER.username,
        password=BROKER_USER.password,
    )
    await bus.start()
    got = Collector()
    await bus.subscribe("c/#", got)
    await bus.publish(envelope("c/1", 1))
    await got.wait_for(1)
    await bus.stop()


@pytest.mark.parametrize("pattern", ["", "a/#/b", "a/b+", "a#", "x\x00"])
async def test_bad_patterns_are_rejected(make_bus: BusMaker, pattern: str) -> None:
    bus = await make_bus()
    with pytest.raises(ValidationError, match="bad_pattern"):
        await bus.subscribe(pattern, Collector())
