"""Simulated devices as described: the description, what each kind measures and takes, what it
does without a command, and the check of a description before it is simulated."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from osed.domain.devices import Action, DeviceInfo, DeviceKind, Quantity, Range
from osed.domain.errors import ConfigurationError

SETPOINT_RANGE_C = Range(5.0, 35.0)
METER_ID = "meter"

DEFAULT_NOISE: dict[Quantity, float] = {
    Quantity.POWER_KW: 0.01,
    Quantity.SOC: 0.002,
    Quantity.ENERGY_KWH: 0.01,
    Quantity.TEMPERATURE_C: 0.05,
    Quantity.OUTDOOR_C: 0.1,
}
"""Standard deviation of the measurement noise per quantity (the others are exact)."""

SIMULATED_KINDS = (
    DeviceKind.BATTERY,
    DeviceKind.EV,
    DeviceKind.HEATING,
    DeviceKind.WATER_HEATER,
    DeviceKind.PV,
    DeviceKind.LOAD,
)
"""The kinds with physics, in the order the fleet keeps them."""

MEASURES: dict[DeviceKind, tuple[Quantity, ...]] = {
    DeviceKind.BATTERY: (Quantity.POWER_KW, Quantity.SOC),
    DeviceKind.EV: (Quantity.POWER_KW, Quantity.CONNECTED, Quantity.ENERGY_KWH),
    DeviceKind.HEATING: (
        Quantity.POWER_KW,
        Quantity.TEMPERATURE_C,
        Quantity.SETPOINT_C,
        Quantity.OUTDOOR_C,
    ),
    DeviceKind.WATER_HEATER: (Quantity.POWER_KW, Quantity.ENERGY_KWH, Quantity.ON),
    DeviceKind.PV: (Quantity.POWER_KW,),
    DeviceKind.LOAD: (Quantity.POWER_KW,),
}
"""What each kind measures, in the order a building reports it."""

_NUMBERS: dict[DeviceKind, tuple[str, ...]] = {
    DeviceKind.BATTERY: (
        "capacity_kwh",
        "soc_init",
        "soc_min",
        "soc_max",
        "charge_max_kw",
        "discharge_max_kw",
        "charge_efficiency",
        "discharge_efficiency",
    ),
    DeviceKind.EV: ("arrival_step", "departure_step", "energy_kwh", "charge_max_kw"),
    DeviceKind.HEATING: (
        "capacitance_kwh_per_k",
        "resistance_k_per_kw",
        "cop",
        "power_max_kw",
        "temp_init_c",
    ),
    DeviceKind.WATER_HEATER: ("energy_max_kwh", "energy_init_kwh", "power_max_kw", "loss_kw"),
}
_SERIES: dict[DeviceKind, tuple[str, ...]] = {
    DeviceKind.HEATING: ("outdoor_c", "comfort_min_c", "comfort_max_c"),
    DeviceKind.WATER_HEATER: ("draw_kw",),
    DeviceKind.PV: ("profile_kw",),
    DeviceKind.LOAD: ("profile_kw",),
}


@dataclass(frozen=True, slots=True)
class SimulatedDevice:
    """One device: ``fields`` as in the DAC document for its kind; ``profile_kw`` for pv and
    load. Series (outdoor_c, comfort band, draw_kw, profile_kw) are per step and repeat."""

    id: str
    kind: DeviceKind
    fields: dict[str, Any]


def check_building(devices: Sequence[SimulatedDevice], where: str = "") -> None:
    """:class:`ConfigurationError` naming every device whose description cannot be simulated
    (``where`` names the building in a fleet)."""
    problems: list[str] = []
    seen: set[str] = set()
    for device in devices:
        if device.id in seen or device.id == METER_ID:
            problems.append(f"device id {device.id!r} is used twice")
        seen.add(device.id)
        problems.extend(f"device {device.id!r}: {p}" for p in _device_problems(device))
    if problems:
        raise ConfigurationError(where + "; ".join(problems))


def _device_problems(device: SimulatedDevice) -> list[str]:
    if device.kind not in SIMULATED_KINDS:
        known = ", ".join(SIMULATED_KINDS)
        return [f"kind {device.kind!r} cannot be simulated (known: {known})"]
    problems: list[str] = []
    for name in _NUMBERS.get(device.kind, ()):
        value = device.fields.get(name)
        if value is None:
            problems.append(f"{name} is missing")
        elif not _is_number(value):
            problems.append(f"{name} must be a finite number")
    for name in _SERIES.get(device.kind, ()):
        value = device.fields.get(name)
        if value is None:
            problems.append(f"{name} is missing")
            continue
        try:
            series = np.asarray(value, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            series = np.array([math.nan])
        if series.size == 0 or not np.isfinite(series).all():
            problems.append(f"{name} must be one or more finite numbers")
    return problems


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        return False
    return math.isfinite(float(value))


def device_info(device: SimulatedDevice) -> DeviceInfo:
    """What the device measures and which commands it takes, in which range."""
    f = device.fields
    q, a = Quantity, Action
    if device.kind is DeviceKind.BATTERY:
        power = Range(-float(f["discharge_max_kw"]), float(f["charge_max_kw"]))
        return DeviceInfo(
            device.id,
            device.kind,
            device.id,
            frozenset({q.POWER_KW, q.SOC}),
            frozenset({a.SET_POWER_KW}),
            {a.SET_POWER_KW: power},
        )
    if device.kind is DeviceKind.EV:
        rate = Range(0.0, float(f["charge_max_kw"]))
        return DeviceInfo(
            device.id,
            device.kind,
            device.id,
            frozenset({q.POWER_KW, q.CONNECTED, q.ENERGY_KWH}),
            frozenset({a.SET_POWER_KW, a.SET_POWER_LIMIT_KW}),
            {a.SET_POWER_KW: rate, a.SET_POWER_LIMIT_KW: rate},
        )
    if device.kind is DeviceKind.HEATING:
        return DeviceInfo(
            device.id,
            device.kind,
            device.id,
            frozenset({q.POWER_KW, q.TEMPERATURE_C, q.SETPOINT_C, q.OUTDOOR_C}),
            frozenset({a.SET_SETPOINT_C, a.SET_POWER_KW}),
            {
                a.SET_SETPOINT_C: SETPOINT_RANGE_C,
                a.SET_POWER_KW: Range(0.0, float(f["power_max_kw"])),
            },
        )
    if device.kind is DeviceKind.WATER_HEATER:
        return DeviceInfo(
            device.id,
            device.kind,
            device.id,
            frozenset({q.POWER_KW, q.ENERGY_KWH, q.ON}),
            frozenset({a.SET_POWER_KW, a.TURN_ON, a.TURN_OFF}),
            {a.SET_POWER_KW: Range(0.0, float(f["power_max_kw"]))},
        )
    if device.kind is DeviceKind.PV:
        peak = float(np.max(np.ravel(f["profile_kw"]), initial=0.0))
        return DeviceInfo(
            device.id,
            device.kind,
            device.id,
            frozenset({q.POWER_KW}),
            frozenset({a.SET_POWER_LIMIT_KW}),
            {a.SET_POWER_LIMIT_KW: Range(0.0, max(peak, 0.0))},
        )
    return DeviceInfo(device.id, device.kind, device.id, frozenset({q.POWER_KW}))


def meter_info() -> DeviceInfo:
    return DeviceInfo(METER_ID, DeviceKind.METER, "building meter", frozenset({Quantity.POWER_KW}))


def initial_state(device: SimulatedDevice) -> float:
    """The state a device starts from (SoC, indoor temperature, stored or delivered energy)."""
    name = {
        DeviceKind.BATTERY: "soc_init",
        DeviceKind.HEATING: "temp_init_c",
        DeviceKind.WATER_HEATER: "energy_init_kwh",
    }.get(device.kind)
    return 0.0 if name is None else float(device.fields[name])


def default_setpoint_c(device: SimulatedDevice) -> float:
    """A heating zone's thermostat without a command: the middle of its first comfort band."""
    low = float(np.ravel(device.fields["comfort_min_c"])[0])
    high = float(np.ravel(device.fields["comfort_max_c"])[0])
    return (low + high) / 2
