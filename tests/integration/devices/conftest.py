"""A real Mosquitto per test, and a real Home Assistant shared by the session
(tests/services/homeassistant.py) with the gateway over it and the test house's mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from osed.devices.homeassistant import HomeAssistantGateway, parse_config
from tests.integration.devices.ha_support import Readings, mapping
from tests.services.brokers import mosquitto
from tests.services.homeassistant import HomeAssistant, home_assistant

__all__ = ["gateway", "home_assistant", "mosquitto", "readings"]


@pytest.fixture
def readings() -> Readings:
    return Readings()


@pytest.fixture
async def gateway(
    home_assistant: HomeAssistant, readings: Readings
) -> AsyncIterator[HomeAssistantGateway]:
    made = HomeAssistantGateway(parse_config(mapping(home_assistant)))
    made.on_measurements(readings)
    await made.start()
    try:
        yield made
    finally:
        await made.close()
