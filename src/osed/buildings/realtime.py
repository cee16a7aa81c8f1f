"""The real-time rule between two MPC runs: keep the building's import under its power limit
within one control cycle when consumption spikes, without leaving comfort or device limits.

Each controllable device has a range of powers it may take for the next cycle, from its
limits and its measured state through the device equations (a battery's SoC stays within its
window, a zone's indoor temperature and a water heater's stored energy stay in their bands at
the end of the cycle, an EV charges only while plugged in and not past its energy). The plan's
setpoint is kept within that range; when the import that follows would exceed the limit, the
devices give up power in the order the owner notices least: the battery discharges, the water
heater pauses, the EV charges less, the heating pauses, each down to its range's floor. What
no device can take away is reported as the shortfall.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from osed.buildings.devices_schema import Building, Device

ORDER = ("battery", "water_heater", "ev", "heating")
"""Who gives up power first when the import is above the limit."""
_KW = 1e-9
"""Rounding below which the import is not above the limit."""


@dataclass(frozen=True, slots=True)
class Reading:
    """What the building measures now."""

    net_kw: float
    """Its net import (consumption positive)."""
    device_kw: Mapping[str, float]
    """Each controllable device's power."""
    state: Mapping[str, float]
    """Battery SoC fraction, zone indoor °C, water heater stored kWh, EV kWh still to charge."""


@dataclass(frozen=True, slots=True)
class Range:
    low_kw: float
    high_kw: float


@dataclass(frozen=True, slots=True)
class Control:
    setpoints_kw: dict[str, float]
    """Per controllable device, the power for the next cycle."""
    expected_net_kw: float
    """The import these setpoints give if the rest of the building stays as measured."""
    shortfall_kw: float
    """How far the import stays above the limit (0 when the limit is met)."""
    reduced: tuple[str, ...]
    """Devices set below their planned power to meet the limit."""


def control(
    building: Building,
    step: int,
    planned_kw: Mapping[str, float],
    reading: Reading,
    *,
    limit_kw: float,
    cycle_h: float,
    comfort_offset_c: Mapping[str, float] | None = None,
) -> Control:
    """Setpoints for the next cycle of ``cycle_h`` hours at plan step ``step``.

    A device the plan gives no power (there is no plan) holds its power, but an EV charges as
    fast as it may: it leaves with as much of its energy as the limit allows."""
    controlled = [d for d in building.devices if d.kind in ORDER]
    ranges = {
        d.id: power_range(d, step, reading.state, cycle_h, (comfort_offset_c or {}).get(d.id, 0.0))
        for d in controlled
    }
    measured = sum(reading.device_kw.get(d.id, 0.0) for d in controlled)
    rest = reading.net_kw - measured  # base load, PV and anything not controlled
    unplanned = {
        d.id: ranges[d.id].high_kw if d.kind == "ev" else reading.device_kw.get(d.id, 0.0)
        for d in controlled
    }
    setpoints = {
        d.id: _clamp(planned_kw.get(d.id, unplanned[d.id]), ranges[d.id]) for d in controlled
    }
    excess = rest + sum(setpoints.values()) - limit_kw
    reduced: list[str] = []
    for kind in ORDER:
        for device in controlled:
            if excess <= 0 or device.kind != kind:
                continue
            give = min(excess, setpoints[device.id] - ranges[device.id].low_kw)
            if give > 0:
                setpoints[device.id] -= give
                excess -= give
                reduced.append(device.id)
    expected = rest + sum(setpoints.values())
    shortfall = expected - limit_kw
    return Control(setpoints, expected, shortfall if shortfall > _KW else 0.0, tuple(reduced))


def power_range(
    device: Device,
    step: int,
    state: Mapping[str, float],
    cycle_h: float,
    comfort_offset_c: float = 0.0,
) -> Range:
    """The powers ``device`` may take for one cycle from its measured ``state``."""
    d, h = device, cycle_h
    if d.kind == "battery":
        energy = state.get(d.id, d["soc_init"]) * d["capacity_kwh"]
        room = d["soc_max"] * d["capacity_kwh"] - energy
        stored = energy - d["soc_min"] * d["capacity_kwh"]
        high = min(d["charge_max_kw"], room / (d["charge_efficiency"] * h))
        low = -min(d["discharge_max_kw"], stored * d["discharge_efficiency"] / h)
        return Range(min(low, 0.0), max(high, 0.0))
    if d.kind == "ev":
        plugged = d["arrival_step"] <= step < d["departure_step"]
        remaining = state.get(d.id, d["energy_kwh"])
        return Range(0.0, max(0.0, min(d["charge_max_kw"], remaining / h)) if plugged else 0.0)
    if d.kind == "heating":
        c, r, cop = d["capacitance_kwh_per_k"], d["resistance_k_per_kw"], d["cop"]
        indoor = state.get(d.id, d["temp_init_c"])
        at = min(step, len(d["outdoor_c"]) - 1)
        loss = (d["outdoor_c"][at] - indoor) / r  # kW of heat the zone gains (< 0: loses)
        # indoor + h/C (loss + cop p) within the band at the end of the cycle.
        low = (c * (d["comfort_min_c"][at] + comfort_offset_c - indoor) / h - loss) / cop
        high = (c * (d["comfort_max_c"][at] + comfort_offset_c - indoor) / h - loss) / cop
        return _within(low, high, d["power_max_kw"])
    if d.kind == "water_heater":
        stored = state.get(d.id, d["energy_init_kwh"])
        at = min(step, len(d["draw_kw"]) - 1)
        out = d["draw_kw"][at] + d["loss_kw"]
        low = (d["energy_min_kwh"] - stored) / h + out
        high = (d["energy_max_kwh"] - stored) / h + out
        return _within(low, high, d["power_max_kw"])
    raise ValueError(f"device {d.id!r} ({d.kind}) is not controlled in real time")


def ev_needs_kw(device: Device, step: int, state: Mapping[str, float], cycle_h: float) -> float:
    """The power an EV must take in the cycle at ``step`` to still be filled by its departure
    at full power after it (0 while it has time to spare, or when it is not plugged in)."""
    d = device
    if not d["arrival_step"] <= step < d["departure_step"]:
        return 0.0
    remaining = state.get(d.id, d["energy_kwh"])
    later = (d["departure_step"] - step - 1) * d["charge_max_kw"] * cycle_h
    return float(min(max(remaining - later, 0.0) / cycle_h, d["charge_max_kw"]))


def _within(low: float, high: float, maximum: float) -> Range:
    """[low, high] cut to [0, maximum]; when the band cannot be reached in one cycle, the
    power that comes closest (full power when too cold, none when too warm)."""
    floor = min(max(float(low), 0.0), maximum)
    return Range(floor, max(min(float(high), maximum), floor))


def _clamp(value: float, allowed: Range) -> float:
    return min(max(value, allowed.low_kw), allowed.high_kw)
