"""The building's devices as frozen descriptions: kinds, fields and the values they hold.

The controllable kinds are those of the DAC document (battery, ev, heating, water_heater, with
its fields and their meaning, docs/grid-functions.md); ``pv`` and ``load`` describe what a
building produces and consumes without control, as forecast series, and add to its base.
Values are floats, step indices (int) and series (arrays of N values, one per step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

DEVICE_KINDS = ("battery", "ev", "heating", "water_heater")
"""The controllable kinds, as the DAC document names them."""
FORECAST_KINDS = ("pv", "load")
"""Kinds that follow a forecast: PV (curtailable down to 0 when allowed) and load."""

# Each kind's fields: name -> "number", "number?" (optional), "series" (N values), "step" (a
# step index) or "flag" (true or false).
DEVICE_FIELDS: dict[str, dict[str, str]] = {
    "battery": {
        "capacity_kwh": "number",
        "soc_init": "number",
        "soc_min": "number",
        "soc_max": "number",
        "soc_final_min": "number?",
        "charge_max_kw": "number",
        "discharge_max_kw": "number",
        "charge_efficiency": "number",
        "discharge_efficiency": "number",
    },
    "ev": {
        "arrival_step": "step",
        "departure_step": "step",
        "energy_kwh": "number",
        "charge_max_kw": "number",
    },
    "heating": {
        "capacitance_kwh_per_k": "number",
        "resistance_k_per_kw": "number",
        "cop": "number",
        "power_max_kw": "number",
        "temp_init_c": "number",
        "outdoor_c": "series",
        "comfort_min_c": "series",
        "comfort_max_c": "series",
    },
    "water_heater": {
        "energy_max_kwh": "number",
        "energy_min_kwh": "number",
        "energy_init_kwh": "number",
        "power_max_kw": "number",
        "draw_kw": "series",
        "loss_kw": "number",
    },
}

FORECAST_FIELDS: dict[str, dict[str, str]] = {
    "pv": {"power_kw": "series", "curtailable": "flag"},
    "load": {"power_kw": "series"},
}
"""``pv``: ``power_kw`` the forecast generation (≥ 0); ``curtailable`` 1 when the inverter may
produce less, 0 when it follows the forecast. ``load``: ``power_kw`` the forecast consumption."""


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    kind: str
    values: dict[str, Any]
    """The kind's fields: floats, step indices (int) and series (arrays of N)."""

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


@dataclass(frozen=True, slots=True)
class Building:
    id: str
    base_kw: Array
    """(N,) the net load no device description covers (consumption positive)."""
    devices: tuple[Device, ...]


def pv(ident: str, power_kw: Array, *, curtailable: bool = False) -> Device:
    """A PV system with its forecast generation (kW, ≥ 0)."""
    return Device(
        ident, "pv", {"power_kw": np.asarray(power_kw, float), "curtailable": curtailable}
    )


def load(ident: str, power_kw: Array) -> Device:
    """A non-controllable load with its forecast consumption (kW)."""
    return Device(ident, "load", {"power_kw": np.asarray(power_kw, float)})
