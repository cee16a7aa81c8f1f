"""MQTT over TLS with credentials against a real Mosquitto with a throwaway CA: the bus, the
bridge's republisher and a whole bridge pipeline get through; a wrong CA, a certificate for
another host, a wrong password or the wrong protocol on the port fail ``start()`` with a
ConfigurationError, quickly."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import aiomqtt
import pytest

from osed.bridge import BridgeService, load_config
from osed.bridge.mqtt_raw import RawMqttFeed, RawMqttPublisher, endpoint
from osed.bus.mqtt import MqttBus
from osed.bus.reliable import SqliteOutbox, SqlitePositions
from osed.domain.envelope import Envelope
from osed.domain.errors import ConfigurationError
from osed.domain.time import SystemClock
from osed.storage.timeseries_sqlite import SqliteTimeSeriesStore
from tests.integration.bus.support import WAIT_S, Collector, clock, envelope
from tests.services.brokers import BROKER_USER, Broker, Credentials, running
from tests.services.tls import (
    CertificateAuthority,
    TlsBroker,
    make_server_certificate,
    tls_mosquitto_broker,
)
from tests.unit.bridge.support import sogno_payload

# Failures must surface within the connect timeout, not after a default 10 s or never.
CONNECT_TIMEOUT_S = 1.0
FAIL_WITHIN_S = CONNECT_TIMEOUT_S + 2.0

Starter = Callable[[], Awaitable[None]]


def _bus(
    broker: Broker,
    *,
    tls: Path | None,
    credentials: Credentials = BROKER_USER,
    client_id: str = "tls-node",
) -> MqttBus:
    return MqttBus(
        broker.host,
        broker.port,
        client_id=client_id,
        clock=clock(),
        username=credentials.username,
        password=credentials.password,
        tls=tls,
        connect_timeout=CONNECT_TIMEOUT_S,
    )


def _receiver(tls: TlsBroker, identifier: str) -> aiomqtt.Client:
    """An independent client (paho underneath) on the TLS broker."""
    return aiomqtt.Client(
        tls.broker.host,
        tls.broker.port,
        username=BROKER_USER.username,
        password=BROKER_USER.password,
        identifier=identifier,
        tls_context=tls.server.ca.context(),
    )


async def _fails_clearly(start: Starter, match: str) -> ConfigurationError:
    async with asyncio.timeout(FAIL_WITHIN_S):
        with pytest.raises(ConfigurationError, match=match) as caught:
            await start()
    return caught.value


# --- getting through --------------------------------------------------------------------


async def test_bus_round_trip_over_tls_with_credentials(tls_mosquitto: TlsBroker) -> None:
    publisher = _bus(tls_mosquitto.broker, tls=tls_mosquitto.ca, client_id="tls-pub")
    consumer = _bus(tls_mosquitto.broker, tls=tls_mosquitto.ca, client_id="tls-con")
    await publisher.start()
    await consumer.start()
    try:
        got = Collector()
        await consumer.subscribe("grid/+/raw", got, durable="ledger")
        sent = replace(
            envelope("grid/f1/raw", 7, payload=b"\x00binary\nover tls\xff"), key="tls-key-7"
        )
        await publisher.publish(sent)
        await publisher.publish_many([envelope("grid/f1/raw", seq) for seq in range(8, 20)])
        received = await got.wait_for(13)
        assert received[0] == sent.received(clock().now())
        assert [e.seq for e in received] == list(range(7, 20))
    finally:
        await consumer.stop()
        await publisher.stop()


async def test_republisher_delivers_to_a_tls_broker(tls_mosquitto: TlsBroker) -> None:
    broker = tls_mosquitto.broker
    target = endpoint(
        broker.host,
        broker.port,
        username=BROKER_USER.username,
        password=BROKER_USER.password,
        tls_ca=tls_mosquitto.ca,
    )
    publisher = RawMqttPublisher(target, client_id="bridge-out")
    async with _receiver(tls_mosquitto, "legacy-receiver") as receiver:
        await receiver.subscribe("legacy/#", qos=1)
        await publisher.start()
        try:
            for k in range(3):
                await publisher.publish(f"legacy/pmu/{k}", f'{{"k": {k}}}'.encode())
        finally:
            await publisher.stop()
        got: list[tuple[str, bytes]] = []
        async with asyncio.timeout(WAIT_S):
            async for message in receiver.messages:
                assert isinstance(message.payload, bytes)
                got.append((str(message.topic), message.payload))
                if len(got) == 3:
                    break
    assert got == [(f"legacy/pmu/{k}", f'{{"k": {k}}}'.encode()) for k in range(3)]


def _bridge_config(tls: TlsBroker) -> str:
    return f"""
batch: {{max_points: 50, max_delay_ms: 20}}
pipelines:
  - name: pmu
    subscribe: [bal/raw/#]
    format: sogno
    steps: [validate, normalise-units]
    publish: bal/processed
    store: {{series: "{{device}}/{{component}}/{{measurand}}/{{phase}}"}}
    republish:
      host: {tls.broker.host}
      port: {tls.broker.port}
      username: {BROKER_USER.username}
      password: {BROKER_USER.password}
      tls_ca: {tls.ca}
      client_id: bridge-out
      topic: "legacy/pmu/{{device}}"
"""


async def test_bridge_pipeline_entirely_over_tls(tls_mosquitto: TlsBroker, tmp_path: Path) -> None:
    """Field devices, the bus and the external receiver all on the TLS broker: the raw feed,
    the bus and the republisher each make their own TLS connection with credentials."""
    count = 60
    broker = tls_mosquitto.broker
    bus = _bus(broker, tls=tls_mosquitto.ca, client_id="bridge-bus")
    await bus.start()
    processed: list[Envelope] = []

    async def keep(envelope: Envelope) -> None:
        processed.append(envelope)

    await bus.subscribe("bal/processed", keep)
    field = endpoint(
        broker.host,
        broker.port,
        username=BROKER_USER.username,
        password=BROKER_USER.password,
        tls_ca=tls_mosquitto.ca,
    )
    store = SqliteTimeSeriesStore(tmp_path / "ts.sqlite")
    service = BridgeService(
        load_config(_bridge_config(tls_mosquitto)),
        bus,
        raw_feed=RawMqttFeed(field, client_id="bridge-raw"),
        store=store,
        outboxes=lambda source: SqliteOutbox(tmp_path / "outbox.sqlite", source),
        positions=SqlitePositions(tmp_path / "positions.sqlite"),
        clock=SystemClock(),
    )
    outside: list[bytes] = []
    async with _receiver(tls_mosquitto, "legacy-receiver") as receiver:
        await receiver.subscribe("legacy/#", qos=1)
        await service.start()
        try:
            async with _receiver(tls_mosquitto, "pmu1") as device:
                for k in range(count):
                    await device.publish("bal/raw/pmu1", sogno_payload(second=k), qos=1)
            async with asyncio.timeout(WAIT_S):
                async for message in receiver.messages:
                    assert isinstance(message.payload, bytes)
                    outside.append(message.payload)
                    if len(outside) == count:
                        break
                while len(processed) < count:
                    await asyncio.sleep(0.02)
        finally:
            await service.stop()
            await bus.stop()
            store.close()
    assert {json.loads(payload)["device"] for payload in outside} == {"pmu1"}
    assert [e.source for e in processed] == ["bridge.pmu"] * count


# --- failing clearly ----------------------------------------------------------------------


async def test_bus_refuses_a_broker_signed_by_another_ca(
    tls_mosquitto: TlsBroker, other_ca: CertificateAuthority
) -> None:
    bus = _bus(tls_mosquitto.broker, tls=other_ca.cert)
    error = await _fails_clearly(bus.start, "certificate verify failed")
    # Mosquitto sends its CA along; being self-signed and unknown, it is not trusted.
    assert f"MQTT broker 127.0.0.1:{tls_mosquitto.broker.port} unusable" in str(error)


async def test_republisher_refuses_a_broker_signed_by_another_ca(
    tls_mosquitto: TlsBroker, other_ca: CertificateAuthority
) -> None:
    broker = tls_mosquitto.broker
    target = endpoint(
        broker.host,
        broker.port,
        username=BROKER_USER.username,
        password=BROKER_USER.password,
        tls_ca=other_ca.cert,
    )
    publisher = RawMqttPublisher(
        replace(target, connect_timeout=CONNECT_TIMEOUT_S), client_id="bridge-out"
    )
    await _fails_clearly(publisher.start, "certificate verify failed")


async def test_certificate_for_another_host_is_refused(
    tls_mosquitto: TlsBroker, tmp_path: Path
) -> None:
    """The chain is fine; the name is not: the host name is checked, not only the CA."""
    elsewhere = make_server_certificate(
        tls_mosquitto.server.ca, tmp_path / "pki" / "elsewhere", ("DNS:elsewhere.example",)
    )
    with running(tls_mosquitto_broker(tmp_path / "mosquitto-elsewhere", elsewhere)) as broker:
        bus = _bus(broker, tls=tls_mosquitto.ca)
        await _fails_clearly(bus.start, "certificate verify failed: IP address mismatch")


async def test_wrong_password_over_tls_is_refused(tls_mosquitto: TlsBroker) -> None:
    wrong = Credentials(BROKER_USER.username, "not-the-password")
    bus = _bus(tls_mosquitto.broker, tls=tls_mosquitto.ca, credentials=wrong)
    await _fails_clearly(bus.start, "broker refused: not authorised")


async def test_plain_mqtt_to_the_tls_port_fails_within_the_connect_timeout(
    tls_mosquitto: TlsBroker,
) -> None:
    bus = _bus(tls_mosquitto.broker, tls=None)
    await _fails_clearly(bus.start, "unusable")


async def test_tls_to_a_plain_port_fails_within_the_connect_timeout(
    mosquitto: Broker, tls_mosquitto: TlsBroker
) -> None:
    bus = _bus(mosquitto, tls=tls_mosquitto.ca)
    await _fails_clearly(bus.start, "unusable")


def test_unreadable_ca_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="TLS CA"):
        endpoint("127.0.0.1", 8883, tls_ca=tmp_path / "missing.pem")


def test_a_bus_given_a_missing_ca_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="TLS CA"):
        MqttBus("127.0.0.1", 1, client_id="x", clock=SystemClock(), tls=tmp_path / "missing.pem")
