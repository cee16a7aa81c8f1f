"""A real Mosquitto and EdgeX device services emulated on it, for the EdgeX adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from osed.devices.edgex import EdgexGateway
from osed.devices.edgex_config import load_config
from tests.services.brokers import Broker, BrokerError, mosquitto_broker, running
from tests.services.edgex_emulator import Device, DeviceService, Resource, endpoint
from tests.unit.devices.edgex_sample import sample_config

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
