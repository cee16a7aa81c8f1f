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


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """How one device field is read: a number, an optional number, a series of N values, a
    step index or a flag, with the bounds of its value."""

    what: str = "number"
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None


_FRACTION = FieldSpec(minimum=0.0, maximum=1.0)
_SIZE = FieldSpec(minimum=0.0)
_POSITIVE = FieldSpec(above=0.0)
_EFFICIENCY = FieldSpec(above=0.0, maximum=1.0)
_NUMBER = FieldSpec()
_SERIES = FieldSpec("series")
_STEP = FieldSpec("step")

DEVICE_FIELDS: dict[str, dict[str, FieldSpec]] = {
    "battery": {
        "capacity_kwh": _POSITIVE,
        "soc_init": _FRACTION,
        "soc_min": _FRACTION,
        "soc_max": _FRACTION,
        "soc_final_min": FieldSpec("optional", minimum=0.0, maximum=1.0),
        "charge_max_kw": _SIZE,
        "discharge_max_kw": _SIZE,
        "charge_efficiency": _EFFICIENCY,
        "discharge_efficiency": _EFFICIENCY,
    },
    "ev": {
        "arrival_step": _STEP,
        "departure_step": _STEP,
        "energy_kwh": _SIZE,
        "charge_max_kw": _SIZE,
    },
    "heating": {
        "capacitance_kwh_per_k": _POSITIVE,
        "resistance_k_per_kw": _POSITIVE,
        "cop": _POSITIVE,
        "power_max_kw": _SIZE,
        "temp_init_c": _NUMBER,
        "outdoor_c": _SERIES,
        "comfort_min_c": _SERIES,
        "comfort_max_c": _SERIES,
    },
    "water_heater": {
        "energy_max_kwh": _NUMBER,
        "energy_min_kwh": _SIZE,
        "energy_init_kwh": _NUMBER,
        "power_max_kw": _SIZE,
        "draw_kw": FieldSpec("series", minimum=0.0),
        "loss_kw": _SIZE,
    },
}
"""Each controllable kind's fields and how they are read (the DAC document's reader)."""

FORECAST_FIELDS: dict[str, dict[str, FieldSpec]] = {
    "pv": {"power_kw": FieldSpec("series", minimum=0.0), "curtailable": FieldSpec("flag")},
    "load": {"power_kw": _SERIES},
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
