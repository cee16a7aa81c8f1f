"""The device gateway contract on a real Home Assistant: the case is the test house's battery
(a template number over an input helper); the link is cut by stopping Home Assistant and
restored by starting it again on the same port and folder."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest

from osed.devices.homeassistant import HomeAssistantGateway, parse_config
from osed.domain.devices import Action
from tests.contract.devices.contract import (
    DeviceGatewayContract,
    GatewayHarness,
    HarnessFactory,
    SetpointCase,
)
from tests.services.homeassistant import HomeAssistant, home_assistant

__all__ = ["home_assistant"]

DEVICES = {
    "battery-1": {
        "kind": "battery",
        "entities": {
            "number.battery_power_setpoint": "set_power_kw",
            "sensor.battery_state_of_charge": None,
        },
    }
}
START_KW = 0.0
"""Where each test finds the battery: neither of the case's values."""
SOC_PERCENT = itertools.cycle([41.0, 42.0, 43.0])


class HomeAssistantHarness:
    def __init__(self, gateway: HomeAssistantGateway, server: HomeAssistant) -> None:
        self.gateway = gateway
        self.server = server
        self.case = SetpointCase("battery-1", Action.SET_POWER_KW, 2.5, -1.5, 9.0)

    async def produce(self) -> None:
        await self._set("input_number.battery_soc", next(SOC_PERCENT))

    async def interrupt(self) -> None:
        await asyncio.to_thread(self.server.stop)

    async def restore(self) -> None:
        await asyncio.to_thread(self.server.start)

    async def device_value(self) -> float | None:
        state = await asyncio.to_thread(self.server.state, "input_number.battery_power")
        return float(state["state"])

    def applications(self, command_id: str) -> int | None:
        return None  # Home Assistant does not know OSED's command ids

    async def _set(self, entity_id: str, value: float) -> None:
        await asyncio.to_thread(
            self.server.call, "input_number", "set_value", {"entity_id": entity_id, "value": value}
        )


@pytest.fixture
async def harness_factory(home_assistant: HomeAssistant) -> AsyncIterator[HarnessFactory]:
    made: list[HomeAssistantGateway] = []

    async def make() -> GatewayHarness:
        if home_assistant.process is None or home_assistant.process.poll() is not None:
            await asyncio.to_thread(home_assistant.start)  # an earlier test left it stopped
        config = {
            "url": home_assistant.url,
            "token": home_assistant.token,
            "devices": DEVICES,
            "discover_unmapped": False,
        }
        gateway = HomeAssistantGateway(parse_config(config))
        harness = HomeAssistantHarness(gateway, home_assistant)
        await harness._set("input_number.battery_power", START_KW)
        await gateway.start()
        made.append(gateway)
        return harness

    yield make
    for gateway in made:
        await gateway.close()


class TestHomeAssistantGateway(DeviceGatewayContract):
    pass
