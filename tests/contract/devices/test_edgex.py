"""The device gateway contract on EdgeX: the adapter against an emulated EdgeX device service
on a real Mosquitto; the link is cut by killing the broker (SIGKILL) and restored by starting
it again on the same port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from osed.devices.edgex import EdgexGateway
from osed.devices.edgex_commands import request_id
from osed.devices.edgex_config import load_config
from osed.domain.devices import Action
from tests.contract.devices.contract import (
    DeviceGatewayContract,
    GatewayHarness,
    HarnessFactory,
    SetpointCase,
)
from tests.services.brokers import Broker
from tests.services.edgex_emulator import Device, DeviceService, Resource, endpoint
from tests.unit.devices.edgex_sample import sample_config


def battery() -> Device:
    return Device(
        "Battery-01",
        "Battery",
        {
            "StateOfCharge": Resource("Float64", "5e+01"),
            "Power": Resource("Int32", "0"),
            "PowerSetpoint": Resource("Int32", "0", writable=True),
            "Enable": Resource("Bool", "true", writable=True),
        },
        commands={"Status": ["StateOfCharge", "Power"]},
    )


class EdgexHarness:
    def __init__(self, gateway: EdgexGateway, service: DeviceService, broker: Broker) -> None:
        self.gateway = gateway
        self.service = service
        self.broker = broker
        self.case = SetpointCase("battery-1", Action.SET_POWER_KW, 2.5, -1.5, 9.0)

    async def produce(self) -> None:
        await self.service.publish_event("Battery-01", "Status")

    async def interrupt(self) -> None:
        self.broker.kill()

    async def restore(self) -> None:
        self.broker.start()

    async def device_value(self) -> float | None:
        return self.service.devices["Battery-01"].number("PowerSetpoint") / 1000.0

    def applications(self, command_id: str) -> int | None:
        rid = request_id(command_id)
        return sum(1 for applied, _, _ in self.service.applied if applied == rid)


@pytest.fixture
async def harness_factory(mosquitto: Broker) -> AsyncIterator[HarnessFactory]:
    made: list[EdgexGateway | DeviceService] = []

    async def make() -> GatewayHarness:
        service = DeviceService(endpoint(mosquitto), "device-modbus", [battery()])
        await service.start()
        made.append(service)
        config = load_config(sample_config() | {"resend_after_s": 2.0})
        gateway = EdgexGateway(config, endpoint(mosquitto))
        await gateway.start()
        made.append(gateway)
        return EdgexHarness(gateway, service, mosquitto)

    yield make
    for part in reversed(made):
        await (part.close() if isinstance(part, EdgexGateway) else part.stop())


class TestEdgexGateway(DeviceGatewayContract):
    pass
