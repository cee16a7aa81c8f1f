"""MQTT JSON devices on a real Mosquitto: mappings, refusals, foreign acknowledgements, a broker
restart with setpoints pending, liveness."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from osed.bus.mqtt_link import MqttConnection, MqttEndpoint, MqttLink
from osed.devices.mqtt_json import MqttJsonGateway
from osed.devices.mqtt_json_config import read_config
from osed.domain.devices import Action, Command, Measurement, Outcome, Quantity
from osed.domain.time import ManualClock
from tests.services.brokers import Broker
from tests.services.mqtt_devices import MqttJsonDevice, gateway_config

TIMEOUT = 30.0


class Collected:
    def __init__(self) -> None:
        self.items: list[Measurement] = []

    async def __call__(self, batch: Sequence[Measurement]) -> None:
        self.items.extend(batch)

    async def wait(self, count: int) -> None:
        async with asyncio.timeout(TIMEOUT):
            while len(self.items) < count:
                await asyncio.sleep(0.01)


def setpoint(command_id: str, device_id: str, kw: float) -> Command:
    return Command(command_id, device_id, Action.SET_POWER_KW, kw, datetime.now(UTC))


async def raw_client(broker: Broker, name: str) -> MqttLink:
    async def nothing(connection: MqttConnection) -> None:
        return None

    link = MqttLink(
        MqttEndpoint(broker.host, broker.port),
        client_id=name,
        persistent_session=False,
        on_connect=nothing,
    )
    await link.start()
    return link


@pytest.fixture
async def devices(mosquitto: Broker) -> AsyncIterator[list[MqttJsonDevice]]:
    made = [MqttJsonDevice(mosquitto.host, mosquitto.port, f"bat-{k}") for k in range(3)]
    for device in made:
        await device.start()
    yield made
    for device in made:
        await device.stop()


async def gateway_for(broker: Broker, ids: list[str], **extra: Any) -> MqttJsonGateway:
    gateway = MqttJsonGateway(read_config(gateway_config(broker.host, broker.port, ids, **extra)))
    await gateway.start()
    return gateway


async def test_measurements_are_read_at_their_paths_scaled_and_timed_by_the_device(
    mosquitto: Broker,
) -> None:
    gateway = await gateway_for(mosquitto, ["bat-x"])
    collected = Collected()
    gateway.on_measurements(collected)
    link = await raw_client(mosquitto, "raw-x")
    payload = {"power_w": -1250, "soc_pct": 81.5, "ts": 1767225600.0}
    await link.publish("devices/bat-x/state", json.dumps(payload).encode(), qos=1, timeout=5)
    await link.publish("devices/bat-x/state", b"not json", qos=1, timeout=5)
    await link.publish("devices/other/state", json.dumps(payload).encode(), qos=1, timeout=5)
    await collected.wait(2)
    values = {m.quantity: m.value for m in collected.items}
    assert values[Quantity.POWER_KW] == pytest.approx(-1.25)
    assert values[Quantity.SOC] == pytest.approx(0.815)
    assert {m.at for m in collected.items} == {datetime(2026, 1, 1, tzinfo=UTC)}
    async with asyncio.timeout(TIMEOUT):
        while gateway.stats["unreadable"] < 1:
            await asyncio.sleep(0.01)
    assert {m.device_id for m in collected.items} == {"bat-x"}
    await link.stop()
    await gateway.close()


async def test_a_device_refusing_a_command_gives_its_reason(
    mosquitto: Broker, devices: list[MqttJsonDevice]
) -> None:
    devices[0].limit_w = 1000.0
    gateway = await gateway_for(mosquitto, [d.device_id for d in devices])
    result = await gateway.send(setpoint("c-far", "bat-0", 3.0), timeout_s=TIMEOUT)
    assert result.outcome is Outcome.REJECTED
    assert result.detail == "beyond the inverter"
    assert devices[0].power_w == 0.0
    await gateway.close()


async def test_an_acknowledgement_on_another_devices_topic_settles_nothing(
    mosquitto: Broker,
) -> None:
    gateway = await gateway_for(mosquitto, ["quiet", "noisy"])
    link = await raw_client(mosquitto, "raw-impostor")
    sending = asyncio.create_task(gateway.send(setpoint("c-1", "quiet", 1.0), timeout_s=1.0))
    await asyncio.sleep(0.2)
    ack = json.dumps({"command_id": "c-1", "ok": True}).encode()
    await link.publish("devices/noisy/ack", ack, qos=1, timeout=5)
    assert (await sending).outcome is Outcome.PENDING
    await link.publish("devices/quiet/ack", ack, qos=1, timeout=5)
    result = await gateway.send(setpoint("c-1", "quiet", 1.0), timeout_s=TIMEOUT)
    assert result.outcome is Outcome.APPLIED
    await link.stop()
    await gateway.close()


async def test_a_broker_restart_with_setpoints_pending_applies_each_once_and_measurements_resume(
    mosquitto: Broker, devices: list[MqttJsonDevice]
) -> None:
    gateway = await gateway_for(mosquitto, [d.device_id for d in devices])
    collected = Collected()
    gateway.on_measurements(collected)
    first = await gateway.send(setpoint("before", "bat-0", 1.0), timeout_s=TIMEOUT)
    assert first.outcome is Outcome.APPLIED
    mosquitto.kill()
    async with asyncio.timeout(TIMEOUT):
        while any(s.online for s in gateway.liveness()):
            await asyncio.sleep(0.01)  # the link is down: no device counts as online
    waiting = [
        await gateway.send(setpoint(f"during-{k}", f"bat-{k}", 0.5 + k), timeout_s=0.2)
        for k in range(3)
    ]
    assert [r.outcome for r in waiting] == [Outcome.PENDING] * 3
    assert [c.command_id for c in gateway.pending()] == ["during-0", "during-1", "during-2"]
    mosquitto.start()
    async with asyncio.timeout(TIMEOUT):
        while gateway.pending():
            await asyncio.sleep(0.02)
    for k, device in enumerate(devices):
        assert device.power_w == pytest.approx(1000 * (0.5 + k))
        assert device.applications[f"during-{k}"] == 1
        result = await gateway.send(setpoint(f"during-{k}", f"bat-{k}", 0.5 + k))
        assert result.outcome is Outcome.APPLIED
    assert devices[0].applications["before"] == 1
    assert all(s.online for s in gateway.liveness())
    seen = len(collected.items)
    await devices[2].publish_state()
    await collected.wait(seen + 2)  # subscribed again after the restart
    await gateway.close()


async def test_a_lost_acknowledgement_is_asked_again_and_the_device_applies_once(
    mosquitto: Broker, devices: list[MqttJsonDevice]
) -> None:
    gateway = await gateway_for(mosquitto, [d.device_id for d in devices])
    device = devices[1]
    answer = device._answer
    dropped: list[dict[str, Any]] = []

    async def drop_first(message: dict[str, Any]) -> None:
        if not dropped:
            dropped.append(message)
            return
        await answer(message)

    device._answer = drop_first  # type: ignore[method-assign]
    result = await gateway.send(setpoint("lost-ack", "bat-1", -2.0), timeout_s=TIMEOUT)
    assert result.outcome is Outcome.APPLIED
    assert dropped
    assert device.applications["lost-ack"] == 1
    assert gateway.stats["resent"] >= 1
    await gateway.close()


async def test_a_device_silent_for_longer_than_the_window_is_offline(
    mosquitto: Broker, devices: list[MqttJsonDevice]
) -> None:
    config = read_config(
        gateway_config(mosquitto.host, mosquitto.port, ["bat-0", "bat-1"], offline_after_s=30)
    )
    clock = ManualClock(datetime(2026, 2, 1, tzinfo=UTC))
    gateway = MqttJsonGateway(config, clock=clock)
    await gateway.start()
    collected = Collected()
    gateway.on_measurements(collected)
    await devices[0].publish_state()
    await collected.wait(2)
    states = {s.device_id: s for s in gateway.liveness()}
    assert states["bat-0"].online
    assert states["bat-0"].last_seen == clock.now()
    assert not states["bat-1"].online
    assert states["bat-1"].last_seen is None
    clock.advance(timedelta(seconds=31))
    assert not any(s.online for s in gateway.liveness())
    await gateway.close()
