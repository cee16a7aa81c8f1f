"""RawMqttFeed.subscribe_batches on a real Mosquitto: bursts arrive as batches, in order, each
message once, and acknowledged when the handler says so; what a feed did not acknowledge
reaches the next feed of the same name (a restarted bridge)."""

import asyncio
from collections.abc import Sequence

import aiomqtt
import pytest

from osed.bridge.mqtt_raw import RawMqttFeed, endpoint
from osed.bridge.republish import Acknowledge, RawBatchHandler
from osed.bus.mqtt_link import MqttConnection, MqttEndpoint, MqttLink, MqttMessage
from osed.domain.errors import ConfigurationError
from tests.services.brokers import Broker

COUNT = 300


async def test_a_burst_arrives_in_acknowledged_batches_in_order(mosquitto: Broker) -> None:
    feed = RawMqttFeed(endpoint(mosquitto.host, mosquitto.port), client_id="raw-batches")
    batches: list[list[tuple[str, bytes]]] = []
    done = asyncio.Event()

    async def handler(messages: Sequence[tuple[str, bytes]], acknowledge: Acknowledge) -> None:
        batches.append(list(messages))
        await asyncio.sleep(0.01)  # a slow handler lets the next burst queue up
        acknowledge(len(messages))
        if sum(len(b) for b in batches) >= COUNT:
            done.set()

    await feed.start()
    await feed.subscribe_batches("bal/raw/#", handler)
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="dev") as device:
        await asyncio.gather(
            *(device.publish(f"bal/raw/pmu{k % 3}", str(k).encode(), qos=1) for k in range(COUNT))
        )
        await asyncio.wait_for(done.wait(), 15)
    await feed.stop()
    received = [int(payload) for batch in batches for _, payload in batch]
    assert received == list(range(COUNT))
    assert max(len(b) for b in batches) > 1
    assert all(topic == f"bal/raw/pmu{int(p) % 3}" for b in batches for topic, p in b)


async def test_what_a_feed_did_not_acknowledge_reaches_its_successor(mosquitto: Broker) -> None:
    target = endpoint(mosquitto.host, mosquitto.port)
    seen: list[list[int]] = [[], []]
    enough = [asyncio.Event(), asyncio.Event()]

    def handler_for(run: int, keep: int) -> RawBatchHandler:
        async def handler(messages: Sequence[tuple[str, bytes]], acknowledge: Acknowledge) -> None:
            for index, (_, payload) in enumerate(messages, start=1):
                seen[run].append(int(payload))
                if int(payload) < keep:
                    acknowledge(index)
            if len(seen[run]) >= (COUNT if run == 0 else COUNT - keep):
                enough[run].set()

        return handler

    first = RawMqttFeed(target, client_id="bridge-raw")
    await first.subscribe_batches("bal/raw/#", handler_for(0, keep=100))
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="dev2") as device:
        for k in range(COUNT):
            await device.publish("bal/raw/pmu1", str(k).encode(), qos=1)
        await asyncio.wait_for(enough[0].wait(), 15)
    await first.stop()  # as if it died: 100 acknowledged, 200 not
    second = RawMqttFeed(target, client_id="bridge-raw")
    await second.subscribe_batches("bal/raw/#", handler_for(1, keep=COUNT))
    await asyncio.wait_for(enough[1].wait(), 15)
    await second.stop()
    assert seen[0] == list(range(COUNT))
    assert seen[1] == list(range(100, COUNT))


async def test_a_link_takes_one_kind_of_message_handler() -> None:
    async def on_connect(connection: MqttConnection) -> None:
        return None

    async def one(connection: MqttConnection, message: MqttMessage) -> None:
        return None

    async def many(connection: MqttConnection, messages: list[MqttMessage]) -> None:
        return None

    with pytest.raises(ConfigurationError):
        MqttLink(
            MqttEndpoint("127.0.0.1", 1),
            client_id="x",
            persistent_session=False,
            on_connect=on_connect,
            on_message=one,
            on_messages=many,
        )
