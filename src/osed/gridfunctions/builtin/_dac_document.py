"""The ``dac`` document: read and checked into arrays, every problem named with its JSON path,
with the codes and messages of every grid-function document (:mod:`._document_fields`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from osed.buildings.devices_schema import DEVICE_FIELDS as _DEVICE_FIELDS
from osed.buildings.devices_schema import DEVICE_KINDS, Array, Building, Device
from osed.gridfunctions.builtin._document_fields import FieldReader

__all__ = ["DEVICE_KINDS", "Array", "Building", "DacProblem", "Device", "read_document"]

MAX_STEPS = 10_000


@dataclass(frozen=True, slots=True)
class DacProblem:
    steps: int
    step_h: float
    prices: Array
    """(N,) tariff per kWh."""
    window: NDArray[np.bool_]
    """(N,) the steps whose peak counts."""
    target_peak_kw: float | None
    buildings: tuple[Building, ...]
    settings: dict[str, float] = field(default_factory=dict)

    @property
    def base_kw(self) -> Array:
        """(B, N) the buildings' non-controllable net loads."""
        return np.array([b.base_kw for b in self.buildings]).reshape(len(self.buildings), -1)


GAME_SETTINGS: dict[str, tuple[float, float, float]] = {
    # name: (default, minimum, maximum)
    "max_iterations": (500, 1, 10_000),
    "tolerance": (1e-2, 1e-6, 0.1),
}


def read_document(document: Any) -> DacProblem:
    """The problem in ``document``; :class:`ValidationError` names every problem first."""
    reader = FieldReader("dac document")
    root = reader.root(document)
    allowed = ("steps", "step_h", "prices", "peak_window", "target_peak_kw", "buildings")
    reader.unknown_keys(root, "$", (*allowed, *GAME_SETTINGS))
    before = len(reader.problems)
    steps = reader.integer(root, "steps", "$", minimum=1, maximum=MAX_STEPS)
    n = steps if len(reader.problems) == before else None
    step_h = reader.number(root, "step_h", "$", above=0.0)
    prices = _series(reader, root, "prices", "$", n, minimum=0.0)
    window = _window(reader, root, n)
    target = reader.optional_number(root, "target_peak_kw", "$")
    settings = {
        name: reader.number(root, name, "$", minimum=low, maximum=high, default=default)
        for name, (default, low, high) in GAME_SETTINGS.items()
    }
    buildings = _buildings(reader, root, n, step_h if step_h > 0 else None)
    reader.check()
    assert n is not None
    assert prices is not None
    assert window is not None
    return DacProblem(n, step_h, prices, window, target, tuple(buildings), settings)


def _buildings(
    reader: FieldReader, root: Mapping[str, Any], n: int | None, step_h: float | None
) -> list[Building]:
    buildings: list[Building] = []
    ids: list[str] = []
    for i, item in enumerate(reader.items(root, "buildings", "$")):
        where = f"$.buildings[{i}]"
        if not isinstance(item, Mapping):
            reader.object(item, where)
            continue
        reader.unknown_keys(item, where, ("id", "base_kw", "devices"))
        ident = reader.string(item, "id", where)
        ids.append(ident)
        base = _series(reader, item, "base_kw", where, n)
        devices = _devices(reader, item, where, n, step_h)
        if ident and base is not None and devices is not None:
            buildings.append(Building(ident, base, tuple(devices)))
    reader.unique_ids(ids, "$.buildings")
    return buildings


def _devices(
    reader: FieldReader,
    building: Mapping[str, Any],
    where: str,
    n: int | None,
    step_h: float | None,
) -> list[Device] | None:
    """The building's devices, or None when any of them has a problem."""
    before_all = len(reader.problems)
    raw = reader.items(building, "devices", where, min_length=0) if "devices" in building else []
    devices: list[Device] = []
    ids: list[str] = []
    for j, item in enumerate(raw):
        at = f"{where}.devices[{j}]"
        if not isinstance(item, Mapping):
            reader.object(item, at)
            continue
        before = len(reader.problems)
        ident = reader.string(item, "id", at)
        ids.append(ident)
        kind = item.get("kind")
        if kind not in DEVICE_KINDS:
            reader.problems.add(
                f"{at}.kind", "unknown_kind", f"must be one of {', '.join(DEVICE_KINDS)}"
            )
            continue
        values = _device_values(reader, item, kind, at, n)
        _device_consistency(reader, kind, values, at, step_h)
        if len(reader.problems) == before:
            devices.append(Device(ident, kind, values))
    reader.unique_ids(ids, f"{where}.devices")
    return devices if len(reader.problems) == before_all else None


def _device_values(
    reader: FieldReader, item: Mapping[str, Any], kind: str, at: str, n: int | None
) -> dict[str, Any]:
    """The kind's fields; one that cannot be read is NaN (None for a series), so that the
    relations between fields are checked on the others."""
    spec = _DEVICE_FIELDS[kind]
    reader.unknown_keys(item, at, ("id", "kind", *spec))
    values: dict[str, Any] = {}
    for name, field_spec in spec.items():
        bounds = {"minimum": field_spec.minimum, "maximum": field_spec.maximum}
        if field_spec.what == "series":
            values[name] = _series(reader, item, name, at, n, **bounds)
        elif field_spec.what == "step":
            before = len(reader.problems)
            step = reader.integer(item, name, at, minimum=0, maximum=n)
            values[name] = step if len(reader.problems) == before else math.nan
        elif field_spec.what == "optional":
            optional = reader.optional_number(item, name, at, **bounds)
            values[name] = math.nan if optional is None else optional
        else:
            values[name] = reader.number(item, name, at, above=field_spec.above, **bounds)
    return values


def _device_consistency(
    reader: FieldReader, kind: str, v: dict[str, Any], at: str, step_h: float | None
) -> None:
    """Relations between fields the device equations need; a comparison with a field that
    could not be read (NaN) is false, so it adds nothing to that field's own problem."""

    def refuse(bad: bool, name: str, code: str, message: str) -> None:
        if bad:
            reader.problems.add(f"{at}.{name}", code, message)

    if kind == "battery":
        refuse(v["soc_min"] > v["soc_max"], "soc_min", "above_max", "above soc_max")
        refuse(
            _outside(v["soc_init"], v["soc_min"], v["soc_max"]),
            "soc_init",
            "outside_window",
            "outside [soc_min, soc_max]",
        )
        if "soc_final_min" not in v or math.isnan(v["soc_final_min"]):
            v["soc_final_min"] = v["soc_init"]  # final default: back where it started
        refuse(v["soc_final_min"] > v["soc_max"], "soc_final_min", "above_max", "above soc_max")
    elif kind == "ev":
        refuse(
            v["departure_step"] < v["arrival_step"],
            "departure_step",
            "before_arrival",
            "must not be before arrival_step",
        )
    elif kind == "heating":
        if step_h is not None and v["capacitance_kwh_per_k"] > 0 and v["resistance_k_per_kw"] > 0:
            ratio = step_h / (v["capacitance_kwh_per_k"] * v["resistance_k_per_kw"])
            refuse(
                ratio > 1,
                "capacitance_kwh_per_k",
                "unstable",
                f"step_h / (R·C) = {ratio:g} > 1: the zone model would overshoot every step",
            )
        low, high = v["comfort_min_c"], v["comfort_max_c"]
        if low is not None and high is not None:
            for k in np.flatnonzero(low > high):
                reader.problems.add(f"{at}.comfort_min_c[{k}]", "above_max", "above comfort_max_c")
    else:
        refuse(
            v["energy_min_kwh"] > v["energy_max_kwh"],
            "energy_min_kwh",
            "above_max",
            "above energy_max_kwh",
        )
        refuse(
            v["energy_init_kwh"] < v["energy_min_kwh"]
            or v["energy_init_kwh"] > v["energy_max_kwh"],
            "energy_init_kwh",
            "outside_window",
            "outside [energy_min_kwh, energy_max_kwh]",
        )


def _outside(value: float, low: float, high: float) -> bool:
    """True only when all three are numbers and ``value`` is not within [low, high]."""
    return value < low or value > high


def _series(
    reader: FieldReader,
    parent: Mapping[str, Any],
    name: str,
    where: str,
    n: int | None,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
) -> Array | None:
    """N values as an array; None when the list cannot be used (every problem reported)."""
    values = reader.series(parent, name, where, n, minimum=minimum, maximum=maximum, constant=False)
    array = np.asarray(values, dtype=float)
    if not values or (n is not None and len(values) != n) or np.isnan(array).any():
        return None
    return array


def _window(
    reader: FieldReader, root: Mapping[str, Any], n: int | None
) -> NDArray[np.bool_] | None:
    raw = root.get("peak_window")
    if n is None:
        return None
    mask = np.zeros(n, dtype=bool)
    if raw is None:
        mask[:] = True
        return mask
    ok = (
        isinstance(raw, Sequence)
        and not isinstance(raw, str)
        and len(raw) == 2
        and all(isinstance(x, int) and not isinstance(x, bool) for x in raw)
    )
    if not ok:
        reader.problems.add(
            "$.peak_window", "not_a_window", "must be [start, end), two step indices"
        )
        return None
    start, end = raw
    if not 0 <= start < end <= n:
        reader.problems.add("$.peak_window", "out_of_range", f"needs 0 ≤ start < end ≤ steps ({n})")
        return None
    mask[start:end] = True
    return mask
