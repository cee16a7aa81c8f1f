"""A raw feed's persistent session across a Mosquitto kill -9.

With the settings the docs used to recommend (saved every 1,800 s) the broker comes back
without the session: the feed subscribes again and reports the time window in which messages
may have been lost. With the settings OSED ships (saved every second) the session and its
subscription survive, so a message published while the bridge is away is delivered once it
is back, and nothing is reported.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import aiomqtt

from osed.bridge.mqtt_raw import RawMqttFeed, endpoint
from osed.bridge.republish import Acknowledge
from osed.bus.mqtt_link import SENT_BEFORE_READ_S
from tests.services.brokers import Broker, running, shipped_mosquitto_broker

WAIT_S = 15.0


class Received:
    """A batch handler that acknowledges at once and wakes whoever waits for a payload."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self.arrived: list[float] = []  # Unix time each payload arrived
        self._changed = asyncio.Event()

    async def __call__(self, messages: Sequence[tuple[str, bytes]], ack: Acknowledge) -> None:
        self.payloads += [payload for _, payload in messages]
        self.arrived += [time.time()] * len(messages)
        ack(len(messages))
        self._changed.set()

    async def wait_for(self, payload: bytes) -> None:
        async with asyncio.timeout(WAIT_S):
            while payload not in self.payloads:
                self._changed.clear()
                await self._changed.wait()


class Losses:
    def __init__(self) -> None:
        self.windows: list[tuple[datetime, datetime]] = []
        self.reported = asyncio.Event()

    async def __call__(self, since: datetime, until: datetime) -> None:
        self.windows.append((since, until))
        self.reported.set()


async def publish(broker: Broker, payload: bytes) -> None:
    async with aiomqtt.Client(broker.host, broker.port) as device:
        await device.publish("bal/raw/pmu1", payload, qos=1)


async def test_a_forgotten_session_is_reported_and_subscribed_again(mosquitto: Broker) -> None:
    feed = RawMqttFeed(endpoint(mosquitto.host, mosquitto.port), client_id="bridge-raw")
    received, losses = Received(), Losses()
    await feed.subscribe_batches("bal/raw/#", received, on_session_lost=losses)
    try:
        sent_at = time.time()
        await publish(mosquitto, b"before")
        await received.wait_for(b"before")
        mosquitto.kill()  # saved every 1,800 s: the session is not on disk
        dead_at = time.time()
        await asyncio.sleep(0.5)
        restarting_at = time.time()
        mosquitto.start()
        async with asyncio.timeout(WAIT_S):
            await losses.reported.wait()
        await publish(mosquitto, b"after")  # subscribed again
        await received.wait_for(b"after")
    finally:
        await feed.stop()
    ((since, until),) = losses.windows
    # From the last packet the old connection received (no later than the broker's death,
    # no earlier than the last message was sent, less the time a packet may wait to be read)
    # to the new subscription (after the restart).
    assert sent_at - SENT_BEFORE_READ_S <= since.timestamp() <= dead_at
    assert restarting_at <= until.timestamp() <= received.arrived[-1]


async def test_with_the_shipped_settings_the_session_outlives_a_kill(tmp_path: Path) -> None:
    with running(shipped_mosquitto_broker(tmp_path / "mosquitto")) as broker:
        target = endpoint(broker.host, broker.port)
        first, losses = Received(), Losses()
        feed = RawMqttFeed(target, client_id="bridge-raw")
        await feed.subscribe_batches("bal/raw/#", first, on_session_lost=losses)
        subscribed = time.time()
        await feed.stop()  # the bridge is away; the broker keeps its session
        database = broker.folder / "mosquitto.db"
        async with asyncio.timeout(WAIT_S):  # saved within a second
            while not (database.exists() and database.stat().st_mtime > subscribed):
                await asyncio.sleep(0.05)
        broker.kill()
        broker.start()
        await publish(broker, b"while away")  # queued in the restored session
        second = Received()
        again = RawMqttFeed(target, client_id="bridge-raw")
        await again.subscribe_batches("bal/raw/#", second, on_session_lost=losses)
        try:
            await second.wait_for(b"while away")
        finally:
            await again.stop()
        assert second.payloads == [b"while away"]
        assert losses.windows == []
