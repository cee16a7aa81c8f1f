"""The test house's mapping and a measurement collector, for the Home Assistant tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from osed.domain.devices import Measurement, Quantity
from tests.services.homeassistant import HomeAssistant

MAPPING: dict[str, Any] = {
    "heating-1": {
        "kind": "heating",
        "name": "Living room",
        "entities": {"climate.living_room": None, "sensor.outdoor_temperature": "outdoor_c"},
    },
    "ev-1": {
        "kind": "ev",
        "entities": {"number.ev_charge_limit": None, "switch.ev_charger": None},
    },
    "battery-1": {
        "kind": "battery",
        "entities": {
            "number.battery_power_setpoint": "set_power_kw",
            "sensor.battery_state_of_charge": None,
        },
    },
    "misfit-1": {"kind": "ev", "entities": {"number.misconfigured_limit": None}},
}


def mapping(server: HomeAssistant, **overrides: Any) -> dict[str, Any]:
    return {"url": server.url, "token": server.token, "devices": MAPPING, **overrides}


class Readings:
    """Every measurement the gateway handed over, and a wait for one that matches."""

    def __init__(self) -> None:
        self.seen: list[Measurement] = []
        self._changed = asyncio.Condition()

    async def __call__(self, batch: Any) -> None:
        async with self._changed:
            self.seen.extend(batch)
            self._changed.notify_all()

    async def wait_for(
        self,
        device_id: str,
        quantity: Quantity,
        accept: Callable[[float], bool],
        timeout_s: float = 10.0,
    ) -> Measurement:
        def found() -> Measurement | None:
            for m in reversed(self.seen):
                if m.device_id == device_id and m.quantity == quantity and accept(m.value):
                    return m
            return None

        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: found() is not None)
        result = found()
        assert result is not None
        return result
