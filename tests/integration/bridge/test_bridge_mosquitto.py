"""Device payloads from a plain MQTT client → bridge → processed topic, SQLite time series,
and a second, password-protected Mosquitto (the external receiver)."""

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import aiomqtt

from osed.bridge import BridgeService, load_config
from osed.bridge.mqtt_raw import RawMqttFeed, endpoint
from osed.bus.mqtt import MqttBus
from osed.bus.reliable import SqliteOutbox, SqlitePositions
from osed.domain.envelope import Envelope
from osed.domain.time import SystemClock
from osed.storage.timeseries_sqlite import SqliteTimeSeriesStore
from tests.services.brokers import BROKER_USER, Broker
from tests.unit.bridge.support import T0, sogno_payload

COUNT = 200


def _config(external: Broker) -> str:
    return f"""
batch: {{max_points: 100, max_delay_ms: 20}}
pipelines:
  - name: pmu
    subscribe: [bal/raw/#]
    format: sogno
    steps: [validate, normalise-units]
    publish: bal/processed
    store: {{series: "{{device}}/{{component}}/{{measurand}}/{{phase}}"}}
    republish:
      host: {external.host}
      port: {external.port}
      username: {BROKER_USER.username}
      password: {BROKER_USER.password}
      client_id: bridge-out
      topic: "legacy/pmu/{{device}}"
"""


async def _until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_devices_to_processed_topic_storage_and_external_broker(
    mosquitto: Broker, mosquitto_with_password: Broker, tmp_path: Path
) -> None:
    external = mosquitto_with_password
    clock = SystemClock()
    bus = MqttBus(mosquitto.host, mosquitto.port, client_id="bridge-bus", clock=clock)
    await bus.start()
    processed: list[Envelope] = []
    dead: list[Envelope] = []

    async def keep_processed(envelope: Envelope) -> None:
        processed.append(envelope)

    async def keep_dead(envelope: Envelope) -> None:
        dead.append(envelope)

    await bus.subscribe("bal/processed", keep_processed)
    await bus.subscribe("dead-letter/#", keep_dead)

    received_outside: list[aiomqtt.Message] = []
    store = SqliteTimeSeriesStore(tmp_path / "ts.sqlite")
    service = BridgeService(
        load_config(_config(external)),
        bus,
        raw_feed=RawMqttFeed(endpoint(mosquitto.host, mosquitto.port), client_id="bridge-raw"),
        store=store,
        outboxes=lambda source: SqliteOutbox(
            tmp_path / "outbox.sqlite", source, synchronous="NORMAL"
        ),
        positions=SqlitePositions(tmp_path / "positions.sqlite"),
        clock=clock,
    )
    async with aiomqtt.Client(
        external.host,
        external.port,
        username=BROKER_USER.username,
        password=BROKER_USER.password,
        identifier="legacy-receiver",
    ) as receiver:
        await receiver.subscribe("legacy/#", qos=1)

        async def listen() -> None:
            async for message in receiver.messages:
                received_outside.append(message)

        listening = asyncio.create_task(listen())
        await service.start()
        try:
            async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="pmu1") as device:
                for k in range(COUNT):
                    payload = sogno_payload(value=230.0 + k / 100, second=k % 60)
                    payload = payload.replace(b"10:00:", f"10:{k // 60:02d}:".encode())
                    await device.publish("bal/raw/pmu1", payload, qos=1)
                await device.publish("bal/raw/pmu1", b"\x00garbage", qos=1)
            await _until(lambda: len(processed) == COUNT and len(dead) == 1)
            await _until(lambda: len(received_outside) == COUNT)
        finally:
            await service.stop()
            listening.cancel()
    await bus.stop()

    assert [e.source for e in processed[:2]] == ["bridge.pmu", "bridge.pmu"]
    assert [e.seq for e in processed] == sorted(e.seq for e in processed)
    letter = json.loads(dead[0].payload)
    assert dead[0].topic == "dead-letter/bal/raw/pmu1"
    assert letter["stage"] == "decode"
    assert letter["source"] == "raw.bal.raw.pmu1"
    assert str(received_outside[0].topic) == "legacy/pmu/pmu1"
    assert isinstance(received_outside[0].payload, bytes)
    assert json.loads(received_outside[0].payload)["device"] == "pmu1"
    points = store.read("pmu1/n1/voltmagnitude/A", T0, T0 + timedelta(hours=1))
    assert len(points) == COUNT
    assert points[0].source == "raw.bal.raw.pmu1"
    store.close()
