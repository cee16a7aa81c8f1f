"""The EdgeX adapter against emulated EdgeX device services on a real Mosquitto (a battery and a
thermostat behind two device services)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from osed.devices.edgex import EdgexGateway
from osed.devices.edgex_commands import request_id
from osed.devices.edgex_config import load_config
from osed.domain.devices import Action, Command, Measurement, Outcome, Quantity
from tests.services.brokers import Broker, BrokerError, mosquitto_broker, running
from tests.services.edgex_emulator import Device, DeviceService, Resource, endpoint, wait_for
from tests.unit.devices.edgex_sample import sample_config

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)

BATTERY_WH = 10_000.0


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """Mosquitto saving its sessions every second, so that a SIGKILL keeps them."""
    try:
        broker = mosquitto_broker(tmp_path / "mosquitto", extra_config="autosave_interval 1\n")
    except BrokerError as exc:
        pytest.fail(str(exc), pytrace=False)
    with running(broker):
        yield broker


def battery_step(device: Device, seconds: float) -> None:
    """The battery follows its power setpoint while enabled; its state of charge integrates."""
    enabled = device.resources["Enable"].value == "true"
    watts = device.number("PowerSetpoint") if enabled else 0.0
    device.set_number("Power", watts)
    soc = device.number("StateOfCharge") + 100 * watts * seconds / 3600 / BATTERY_WH
    device.set_number("StateOfCharge", min(100.0, max(0.0, soc)))


def battery() -> Device:
    return Device(
        "Battery-01",
        "Battery",
        {
            "StateOfCharge": Resource("Float64", "5e+01"),
            "Power": Resource("Int32", "0"),
            "PowerSetpoint": Resource("Int32", "0", writable=True, minimum=-5000, maximum=5000),
            "Enable": Resource("Bool", "true", writable=True),
        },
        commands={"Status": ["StateOfCharge", "Power"]},
        step=battery_step,
    )


def thermostat() -> Device:
    return Device(
        "Thermostat-Living",
        "Thermostat",
        {
            "Temperature": Resource("Float64", "2.05e+01"),
            # The device itself stops at 28 °C, below the 30 °C OSED's mapping allows.
            "Setpoint": Resource("Float64", "2e+01", writable=True, minimum=5, maximum=28),
            "Heating": Resource("Bool", "false"),
        },
    )


@pytest.fixture
async def modbus(broker: Broker) -> AsyncIterator[DeviceService]:
    service = DeviceService(endpoint(broker), "device-modbus", [battery()])
    await service.start()
    yield service
    await service.stop()


@pytest.fixture
def mqtt_service(broker: Broker) -> DeviceService:
    """Not started: the test starts it when the story needs."""
    return DeviceService(endpoint(broker), "device-mqtt", [thermostat()], base64_payload=False)


@pytest.fixture
async def gateway(broker: Broker) -> AsyncIterator[EdgexGateway]:
    adapter = EdgexGateway(load_config(sample_config()), endpoint(broker))
    await adapter.start()
    yield adapter
    await adapter.close()


def command(command_id: str, device: str, action: Action, value: float | None = None) -> Command:
    return Command(command_id, device, action, value, NOW)


class Collected:
    def __init__(self, gateway: EdgexGateway) -> None:
        self.items: list[Measurement] = []
        gateway.on_measurements(self.take)

    async def take(self, batch: Sequence[Measurement]) -> None:
        self.items += batch

    def latest(self, device: str, quantity: Quantity) -> float | None:
        values = [m.value for m in self.items if (m.device_id, m.quantity) == (device, quantity)]
        return values[-1] if values else None


async def test_devices_are_discovered_read_and_controlled_end_to_end(
    gateway: EdgexGateway, modbus: DeviceService, mqtt_service: DeviceService
) -> None:
    await mqtt_service.start()
    seen = Collected(gateway)
    found = {d.device_id: d for d in await gateway.discover()}
    assert found["battery-1"].actions == {Action.SET_POWER_KW, Action.TURN_ON, Action.TURN_OFF}
    assert found["zone-1"].quantities == {Quantity.TEMPERATURE_C, Quantity.SETPOINT_C, Quantity.ON}

    # Events the device services publish become measurements.
    await modbus.publish_event("Battery-01", "Status")
    await wait_for(lambda: seen.latest("battery-1", Quantity.SOC) is not None)
    assert seen.latest("battery-1", Quantity.SOC) == pytest.approx(0.5)

    # A get command reads the thermostat now (its service writes JSON payloads inline).
    fresh = await gateway.read("zone-1", timeout_s=5)
    assert {m.quantity: m.value for m in fresh} == {
        Quantity.TEMPERATURE_C: pytest.approx(20.5),
        Quantity.SETPOINT_C: pytest.approx(20.0),
    }

    # Set commands change the devices; the device state confirms them.
    result = await gateway.send(command("c-1", "zone-1", Action.SET_SETPOINT_C, 22.5), timeout_s=5)
    assert result.outcome is Outcome.APPLIED
    assert mqtt_service.devices["Thermostat-Living"].number("Setpoint") == pytest.approx(22.5)
    result = await gateway.send(command("c-2", "battery-1", Action.SET_POWER_KW, 3.0), timeout_s=5)
    assert result.outcome is Outcome.APPLIED
    assert modbus.devices["Battery-01"].resources["PowerSetpoint"].value == "3000"
    modbus.step(3600)  # one hour at 3 kW into 10 kWh
    await gateway.read("battery-1", timeout_s=5)
    assert seen.latest("battery-1", Quantity.POWER_KW) == pytest.approx(3.0)
    assert seen.latest("battery-1", Quantity.SOC) == pytest.approx(0.8)
    off = await gateway.send(command("c-3", "battery-1", Action.TURN_OFF), timeout_s=5)
    assert off.outcome is Outcome.APPLIED
    assert modbus.devices["Battery-01"].resources["Enable"].value == "false"

    # The same command id again is answered from the record, not sent again.
    again = await gateway.send(command("c-2", "battery-1", Action.SET_POWER_KW, 3.0), timeout_s=5)
    assert again.outcome is Outcome.APPLIED
    assert modbus.received[request_id("c-2")] == 1

    # Out of OSED's range: refused without a request; out of the device's: EdgeX refuses.
    too_much = await gateway.send(command("c-4", "battery-1", Action.SET_POWER_KW, 9.0))
    assert too_much.outcome is Outcome.REJECTED
    assert request_id("c-4") not in modbus.received
    too_warm = await gateway.send(
        command("c-5", "zone-1", Action.SET_SETPOINT_C, 29.0), timeout_s=5
    )
    assert too_warm.outcome is Outcome.REJECTED
    assert "outside" in too_warm.detail
    assert mqtt_service.devices["Thermostat-Living"].number("Setpoint") == pytest.approx(22.5)
    unknown = await gateway.send(command("c-6", "nowhere", Action.TURN_ON))
    assert unknown.outcome is Outcome.REJECTED

    assert {x.device_id: x.online for x in gateway.liveness()} == {
        "battery-1": True,
        "zone-1": True,
    }
    assert gateway.refusals() == []
    await mqtt_service.stop()


async def test_a_device_publishing_on_another_devices_topic_is_refused(
    broker: Broker, gateway: EdgexGateway, modbus: DeviceService, mqtt_service: DeviceService
) -> None:
    await mqtt_service.start()
    seen = Collected(gateway)
    thermostat = mqtt_service.devices["Thermostat-Living"]
    battery = modbus.devices["Battery-01"]
    # The thermostat's service publishes an event of the thermostat on the battery's topic,
    forged = mqtt_service.event(thermostat, "Temperature", ["Temperature"])
    await mqtt_service.publish_raw(modbus.event_topic("Battery", "Battery-01", "Status"), forged)
    # and an event claiming to be the battery on its own service's topic.
    claimed = modbus.event(battery, "Status", ["StateOfCharge"])
    await mqtt_service.publish_raw(
        mqtt_service.event_topic("Battery", "Battery-01", "Status"), claimed
    )
    # Then the real battery speaks.
    await modbus.publish_event("Battery-01", "Status")
    await wait_for(lambda: seen.latest("battery-1", Quantity.SOC) is not None)
    await wait_for(lambda: len(gateway.refusals()) == 2)  # from another connection: any order

    refusals = sorted(gateway.refusals(), key=lambda r: r.topic)
    assert [r.impersonation for r in refusals] == [True, True]
    assert "deviceName is 'Thermostat-Living'" in refusals[0].reason
    assert "belongs to service 'device-modbus'" in refusals[1].reason
    assert {m.device_id for m in seen.items} == {"battery-1"}
    assert len([m for m in seen.items if m.quantity is Quantity.SOC]) == 1
    await mqtt_service.stop()


async def test_pending_commands_are_resent_once_after_a_broker_restart(
    broker: Broker, gateway: EdgexGateway, mqtt_service: DeviceService
) -> None:
    # The thermostat's device service is not up when the setpoint is sent: it stays pending.
    setpoint = command("late-1", "zone-1", Action.SET_SETPOINT_C, 23.0)
    first = await gateway.send(setpoint, timeout_s=0.5)
    assert first.outcome is Outcome.PENDING
    rid = request_id("late-1")

    # The service comes up with a persistent session; the broker saves it, then crashes.
    service = DeviceService(
        mqtt_service.endpoint, "device-mqtt", list(mqtt_service.devices.values()), persistent=True
    )
    subscribed = time.time()
    await service.start()
    database = broker.folder / "mosquitto.db"
    await wait_for(lambda: database.exists() and database.stat().st_mtime > subscribed + 0.1, 5)
    broker.kill()
    broker.start()

    # The adapter reconnects and sends the pending setpoint again; the service applies it once.
    await wait_for(lambda: service.received[rid] == 1, 20)
    done = await gateway.send(setpoint, timeout_s=10)
    assert done.outcome is Outcome.APPLIED
    assert service.devices["Thermostat-Living"].number("Setpoint") == pytest.approx(23.0)
    assert gateway.stats.resent == 1

    # Confirmed commands are never sent again, however often the broker restarts.
    broker.kill()
    broker.start()
    await gateway.send(command("probe", "zone-1", Action.SET_SETPOINT_C, 21.0), timeout_s=20)
    assert service.received[rid] == 1
    assert gateway.stats.resent == 1
    assert [a[0] for a in service.applied].count(rid) == 1
    await service.stop()


async def test_a_command_no_service_heard_is_sent_again_once_the_service_is_up(
    broker: Broker, mqtt_service: DeviceService
) -> None:
    document = sample_config() | {"resend_after_s": 0.4}
    gateway = EdgexGateway(load_config(document), endpoint(broker))
    await gateway.start()
    try:
        setpoint = command("c-late", "zone-1", Action.SET_SETPOINT_C, 24.0)
        assert (await gateway.send(setpoint, timeout_s=0.2)).outcome is Outcome.PENDING
        await mqtt_service.start()  # no reconnection of the gateway: only its resend helps
        done = await gateway.send(setpoint, timeout_s=10)
        assert done.outcome is Outcome.APPLIED
        assert mqtt_service.received[request_id("c-late")] == 1
        assert gateway.stats.resent >= 1
        resent = gateway.stats.resent
        await asyncio.sleep(1.0)  # settled: never sent again
        assert gateway.stats.resent == resent
    finally:
        await gateway.close()
        await mqtt_service.stop()
