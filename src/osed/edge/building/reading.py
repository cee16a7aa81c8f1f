"""From the gateway's measurements to what the building knows now: each device's power and
state, and the meter's net import, in the units the MPC and the real-time rule take."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from osed.buildings.devices_schema import Building, Device
from osed.buildings.realtime import Reading
from osed.domain.devices import DeviceKind, Measurement, Quantity

_STATE_QUANTITY = {
    "battery": Quantity.SOC,
    "heating": Quantity.TEMPERATURE_C,
    "water_heater": Quantity.ENERGY_KWH,
    "ev": Quantity.ENERGY_KWH,
}
"""The measured quantity that is a device's state (an EV's: energy delivered this session)."""

EV_MARGIN_KWH = 0.05
"""While a car is plugged in, the energy it is taken to need beyond what its measurement
says. The energy delivered is measured with noise, so a car may be a little shorter than it
reads (a plan that charges only what it reads leaves it short at departure); its charger stops
when the car is full, so asking for this much more costs nothing."""


@dataclass
class Measured:
    building: Building
    meter_ids: frozenset[str]
    power_kw: dict[str, float] = field(default_factory=dict)
    state: dict[str, float] = field(default_factory=dict)
    net_kw: float | None = None
    outdoor_c: dict[str, float] = field(default_factory=dict)
    """The outdoor temperature each device measures (a zone's thermostat, say)."""
    plugged: dict[str, bool] = field(default_factory=dict)
    """Per EV, whether it is plugged in now."""
    latest: dict[str, dict[Quantity, Measurement]] = field(default_factory=dict)
    """Per device, its last measurement of each quantity, as measured (what an owner sees)."""

    def take(self, batch: Sequence[Measurement]) -> None:
        kinds = {d.id: d.kind for d in self.building.devices}
        for m in batch:
            self.latest.setdefault(m.device_id, {})[m.quantity] = m
            if m.device_id in self.meter_ids and m.quantity is Quantity.POWER_KW:
                self.net_kw = m.value
            elif m.quantity is Quantity.POWER_KW:
                self.power_kw[m.device_id] = m.value
            elif m.quantity is Quantity.OUTDOOR_C:
                self.outdoor_c[m.device_id] = m.value
            elif m.quantity is Quantity.CONNECTED:
                self.plugged[m.device_id] = m.value >= 0.5
            elif _STATE_QUANTITY.get(kinds.get(m.device_id, "")) is m.quantity:
                self.state[m.device_id] = m.value

    def reading(self) -> Reading:
        """The reading for the real-time rule; an EV's state is the energy it still needs.

        A state the device's physics cannot reach (a battery's SoC above its window, a tank
        above its thermostat's energy) is measurement noise: it is taken at the nearest
        reachable value, so that a plan starts where the device can be."""
        state = dict(self.state)
        for device in self.building.devices:
            if device.id in state:
                state[device.id] = self._physical(device, state[device.id])
        net = self.net_kw
        if net is None:  # no meter: the sum of what the devices draw
            net = sum(self.power_kw.values())
        return Reading(net, dict(self.power_kw), state)

    def _physical(self, device: Device, value: float) -> float:
        if device.kind == "ev":
            margin = EV_MARGIN_KWH if self.plugged.get(device.id, False) else 0.0
            return max(0.0, float(device["energy_kwh"]) - value) + margin
        if device.kind == "battery":
            return min(max(value, float(device["soc_min"])), float(device["soc_max"]))
        if device.kind == "water_heater":
            return min(max(value, 0.0), float(device["energy_max_kwh"]))
        return value


def meters(kinds: dict[str, DeviceKind]) -> frozenset[str]:
    return frozenset(i for i, kind in kinds.items() if kind is DeviceKind.METER)
