"""What one MPC run plans with: the building at its measured state, the comfort bands the grid
asks for, and the bounds the grid's requests put on the building's net power."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from osed.buildings.devices_schema import Array, Building, Device

STATE_FIELDS = {
    "battery": "soc_init",
    "heating": "temp_init_c",
    "water_heater": "energy_init_kwh",
    "ev": "energy_kwh",
}
"""The field a measured state replaces: a battery's SoC fraction, a zone's indoor °C, a water
heater's stored kWh, an EV's energy still to charge before it leaves (kWh)."""

_SERIES = {
    "heating": ("outdoor_c", "comfort_min_c", "comfort_max_c"),
    "water_heater": ("draw_kw",),
    "pv": ("power_kw",),
    "load": ("power_kw",),
}


def check_building(building: Building, steps: int) -> None:
    """Every series has ``steps`` values and every EV window lies within them."""
    wrong = [] if np.shape(building.base_kw) == (steps,) else ["base_kw"]
    for device in building.devices:
        wrong += [
            f"{device.id}.{name}"
            for name in _SERIES.get(device.kind, ())
            if np.shape(device[name]) != (steps,)
        ]
        if device.kind == "ev" and not (
            0 <= device["arrival_step"] <= device["departure_step"] <= steps
        ):
            wrong.append(f"{device.id}.arrival_step/departure_step")
    if wrong:
        raise ValueError(f"building {building.id!r}: not {steps} steps: {', '.join(wrong)}")


def at_state(
    building: Building,
    state: Mapping[str, float] | None,
    comfort_offset_c: Mapping[str, Array] | None,
) -> Building:
    """``building`` with each device's initial state replaced by ``state`` and each heating
    zone's comfort band shifted by its offset (°C per step)."""
    by_id = {d.id: d for d in building.devices}
    asked = set(state or {}) | set(comfort_offset_c or {})
    unknown = sorted(asked - set(by_id))
    if unknown:
        raise ValueError(f"building {building.id!r} has no device {', '.join(unknown)}")
    devices: list[Device] = []
    for device in building.devices:
        values = dict(device.values)
        if state and device.id in state:
            field = STATE_FIELDS.get(device.kind)
            if field is None:
                raise ValueError(f"device {device.id!r} ({device.kind}) has no state")
            values[field] = float(state[device.id])
        if comfort_offset_c and device.id in comfort_offset_c:
            if device.kind != "heating":
                raise ValueError(f"device {device.id!r} is not a heating zone")
            offset = np.asarray(comfort_offset_c[device.id], dtype=float)
            values["comfort_min_c"] = device["comfort_min_c"] + offset
            values["comfort_max_c"] = device["comfort_max_c"] + offset
        devices.append(replace(device, values=values))
    return replace(building, devices=tuple(devices))


def net_bounds(
    steps: int,
    *,
    import_limit_kw: Array | None,
    export_limit_kw: Array | None,
    reduction_kw: Array | None,
    baseline_kw: Array | None,
) -> tuple[Array, Array]:
    """(lower, upper) on the net power per step: −export limit ≤ net ≤ min(import limit,
    baseline − reduction); ±inf where nothing is asked."""
    upper = np.full(steps, np.inf)
    lower = np.full(steps, -np.inf)
    if import_limit_kw is not None:
        upper = np.minimum(upper, _series(import_limit_kw, steps, "import_limit_kw"))
    if export_limit_kw is not None:
        lower = -_series(export_limit_kw, steps, "export_limit_kw")
    if (reduction_kw is None) != (baseline_kw is None):
        raise ValueError("a reduction needs its baseline, and a baseline its reduction")
    if reduction_kw is not None and baseline_kw is not None:
        committed = _series(baseline_kw, steps, "baseline_kw") - _series(
            reduction_kw, steps, "reduction_kw"
        )
        upper = np.minimum(upper, committed)
    return lower, upper


def prices_series(values: Array, steps: int, name: str) -> Array:
    prices = _series(values, steps, name)
    if not np.isfinite(prices).all():
        raise ValueError(f"{name} must be finite")
    return prices


def _series(values: Array, steps: int, name: str) -> Array:
    array = np.asarray(values, dtype=float)
    if array.shape != (steps,):
        raise ValueError(f"{name} has shape {array.shape}, not ({steps},)")
    if np.isnan(array).any():
        raise ValueError(f"{name} holds NaN")
    return array
