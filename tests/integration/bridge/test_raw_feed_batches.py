"""RawMqttFeed.subscribe_batches on a real Mosquitto: bursts arrive as batches, in order, each
message once, and acknowledged (Mosquitto sends a subscriber at most 20 unacknowledged QoS 1
messages, so a burst of hundreds only gets through when the batches are acknowledged)."""

import asyncio
from collections.abc import Sequence

import aiomqtt
import pytest

from osed.bridge.mqtt_raw import RawMqttFeed, endpoint
from osed.bus.mqtt_link import MqttEndpoint, MqttLink
from osed.domain.errors import ConfigurationError
from tests.services.brokers import Broker

COUNT = 300


async def test_a_burst_arrives_in_acknowledged_batches_in_order(mosquitto: Broker) -> None:
    feed = RawMqttFeed(endpoint(mosquitto.host, mosquitto.port), client_id="raw-batches")
    batches: list[list[tuple[str, bytes]]] = []
    done = asyncio.Event()

    async def handler(messages: Sequence[tuple[str, bytes]]) -> None:
        batches.append(list(messages))
        await asyncio.sleep(0.01)  # a slow handler lets the next burst queue up
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


async def test_a_link_takes_one_kind_of_message_handler() -> None:
    async def on_connect(client: aiomqtt.Client) -> None:
        return None

    async def one(client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        return None

    async def many(client: aiomqtt.Client, messages: list[aiomqtt.Message]) -> None:
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
