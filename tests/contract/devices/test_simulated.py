"""The device gateway contract on simulated devices."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from osed.devices.simulated import SimulatedDevice, SimulatedGateway
from osed.domain.devices import Action, DeviceKind, Quantity
from tests.contract.devices.contract import (
    DeviceGatewayContract,
    GatewayHarness,
    HarnessFactory,
    SetpointCase,
)

BATTERY = SimulatedDevice(
    "battery-1",
    DeviceKind.BATTERY,
    {
        "capacity_kwh": 10.0,
        "soc_init": 0.5,
        "soc_min": 0.1,
        "soc_max": 0.9,
        "charge_max_kw": 4.0,
        "discharge_max_kw": 4.0,
        "charge_efficiency": 0.95,
        "discharge_efficiency": 0.95,
    },
)
LOAD = SimulatedDevice("house", DeviceKind.LOAD, {"profile_kw": [0.4, 0.8]})


class SimulatedHarness:
    def __init__(self, gateway: SimulatedGateway) -> None:
        self.gateway = gateway
        self.simulation = gateway
        self.case = SetpointCase("battery-1", Action.SET_POWER_KW, 2.5, -1.5, 9.0)

    async def produce(self) -> None:
        await self.simulation.advance()

    async def interrupt(self) -> None:
        self.simulation.disconnect()

    async def restore(self) -> None:
        await self.simulation.reconnect()

    async def device_value(self) -> float | None:
        return self.simulation.true_values("battery-1")[Quantity.POWER_KW]

    def applications(self, command_id: str) -> int | None:
        return self.simulation.applications[command_id]


@pytest.fixture
async def harness_factory() -> AsyncIterator[HarnessFactory]:
    made: list[SimulatedGateway] = []

    async def make() -> GatewayHarness:
        gateway = SimulatedGateway(
            [BATTERY, LOAD], step_h=0.25, start=datetime(2026, 3, 1, tzinfo=UTC), seed=3
        )
        await gateway.start()
        made.append(gateway)
        return SimulatedHarness(gateway)

    yield make
    for gateway in made:
        await gateway.close()


class TestSimulatedGateway(DeviceGatewayContract):
    pass
