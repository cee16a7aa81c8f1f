"""From the gateway's measurements to what the building knows now: each device's power and
state, and the meter's net import, in the units the MPC and the real-time rule take."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from osed.buildings.devices_schema import Building
from osed.buildings.realtime import Reading
from osed.domain.devices import DeviceKind, Measurement, Quantity

_STATE_QUANTITY = {
    "battery": Quantity.SOC,
    "heating": Quantity.TEMPERATURE_C,
    "water_heater": Quantity.ENERGY_KWH,
    "ev": Quantity.ENERGY_KWH,
}
"""The measured quantity that is a device's state (an EV's: energy delivered this session)."""


@dataclass
class Measured:
    building: Building
    meter_ids: frozenset[str]
    power_kw: dict[str, float] = field(default_factory=dict)
    state: dict[str, float] = field(default_factory=dict)
    net_kw: float | None = None
    outdoor_c: dict[str, float] = field(default_factory=dict)
    """The outdoor temperature each device measures (a zone's thermostat, say)."""

    def take(self, batch: Sequence[Measurement]) -> None:
        kinds = {d.id: d.kind for d in self.building.devices}
        for m in batch:
            if m.device_id in self.meter_ids and m.quantity is Quantity.POWER_KW:
                self.net_kw = m.value
            elif m.quantity is Quantity.POWER_KW:
                self.power_kw[m.device_id] = m.value
            elif m.quantity is Quantity.OUTDOOR_C:
                self.outdoor_c[m.device_id] = m.value
            elif _STATE_QUANTITY.get(kinds.get(m.device_id, "")) is m.quantity:
                self.state[m.device_id] = m.value

    def reading(self) -> Reading:
        """The reading for the real-time rule; an EV's state is the energy it still needs."""
        state = dict(self.state)
        for device in self.building.devices:
            if device.kind == "ev" and device.id in state:
                state[device.id] = max(0.0, float(device["energy_kwh"]) - state[device.id])
        net = self.net_kw
        if net is None:  # no meter: the sum of what the devices draw
            net = sum(self.power_kw.values())
        return Reading(net, dict(self.power_kw), state)


def meters(kinds: dict[str, DeviceKind]) -> frozenset[str]:
    return frozenset(i for i, kind in kinds.items() if kind is DeviceKind.METER)
