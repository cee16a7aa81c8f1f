"""The ``dac`` document: read and checked into arrays, every problem named with its JSON path."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from osed.buildings.devices_schema import DEVICE_FIELDS as _DEVICE_FIELDS
from osed.buildings.devices_schema import DEVICE_KINDS, Array, Building, Device
from osed.domain.problems import Problems

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
    problems = Problems("dac document")
    if not isinstance(document, Mapping):
        problems.add("$", "not_object", "the document must be a JSON object")
        problems.check()
    allowed = {"steps", "step_h", "prices", "peak_window", "target_peak_kw", "buildings"}
    allowed |= set(GAME_SETTINGS)
    for key in document:
        if key not in allowed:
            problems.add(f"$.{key}", "unknown_field", f"not a field; known: {sorted(allowed)}")
    steps = _integer(document, "steps", "$", problems, minimum=1, maximum=MAX_STEPS)
    step_h = _number(document, "step_h", "$", problems, positive=True)
    n = steps if steps is not None else None
    prices = _series(document, "prices", "$", n, problems)
    if prices is not None and (prices < 0).any():
        for k in np.flatnonzero(prices < 0)[:20]:
            problems.add(
                f"$.prices[{k}]",
                "negative",
                "tariff prices must be ≥ 0 (a battery cannot charge and discharge at once, "
                "which a negative price would reward)",
            )
    window = _window(document, n, problems)
    target = None
    if document.get("target_peak_kw") is not None:
        target = _number(document, "target_peak_kw", "$", problems)
    settings: dict[str, float] = {}
    for name, (default, low, high) in GAME_SETTINGS.items():
        value = _number(document, name, "$", problems, default=default)
        if value is not None and not low <= value <= high:
            problems.add(f"$.{name}", "out_of_range", f"must be within [{low:g}, {high:g}]")
        settings[name] = default if value is None else value
    buildings = _buildings(document, n, step_h, problems)
    problems.check()
    assert steps is not None
    assert step_h is not None
    assert prices is not None
    assert window is not None
    return DacProblem(steps, step_h, prices, window, target, tuple(buildings), settings)


def _buildings(
    document: Mapping[str, Any], n: int | None, step_h: float | None, problems: Problems
) -> list[Building]:
    raw = document.get("buildings")
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        problems.add("$.buildings", "missing" if raw is None else "not_a_list", "a non-empty list")
        return []
    buildings: list[Building] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        where = f"$.buildings[{i}]"
        if not isinstance(item, Mapping):
            problems.add(where, "not_object", "a building must be an object")
            continue
        for key in item:
            if key not in ("id", "base_kw", "devices"):
                problems.add(f"{where}.{key}", "unknown_field", "known: id, base_kw, devices")
        ident = _identifier(item, where, seen, problems)
        base = _series(item, "base_kw", where, n, problems)
        devices = _devices(item, where, n, step_h, problems)
        if ident is not None and base is not None and devices is not None:
            buildings.append(Building(ident, base, tuple(devices)))
    return buildings


def _devices(
    building: Mapping[str, Any],
    where: str,
    n: int | None,
    step_h: float | None,
    problems: Problems,
) -> list[Device] | None:
    raw = building.get("devices", [])
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        problems.add(f"{where}.devices", "not_a_list", "must be a list of devices")
        return None
    devices: list[Device] = []
    seen: set[str] = set()
    ok = True
    for j, item in enumerate(raw):
        at = f"{where}.devices[{j}]"
        if not isinstance(item, Mapping):
            problems.add(at, "not_object", "a device must be an object")
            ok = False
            continue
        ident = _identifier(item, at, seen, problems)
        kind = item.get("kind")
        if kind not in DEVICE_KINDS:
            problems.add(f"{at}.kind", "unknown_kind", f"must be one of {', '.join(DEVICE_KINDS)}")
            ok = False
            continue
        before = len(problems)
        values = _device_values(item, kind, at, n, problems)
        if len(problems) == before:
            _device_consistency(kind, values, at, step_h, problems)
        if ident is None or len(problems) != before:
            ok = False
            continue
        devices.append(Device(ident, kind, values))
    return devices if ok else None


def _device_values(
    item: Mapping[str, Any], kind: str, at: str, n: int | None, problems: Problems
) -> dict[str, Any]:
    spec = _DEVICE_FIELDS[kind]
    for key in item:
        if key not in spec and key not in ("id", "kind"):
            problems.add(f"{at}.{key}", "unknown_field", f"not a field of {kind}")
    values: dict[str, Any] = {}
    for name, what in spec.items():
        if what == "series":
            values[name] = _series(item, name, at, n, problems)
        elif what == "step":
            values[name] = _integer(item, name, at, problems, minimum=0, maximum=n)
        elif what == "number?":
            values[name] = _number(item, name, at, problems, default=math.nan)
        else:
            values[name] = _number(item, name, at, problems)
    return values


def _device_consistency(
    kind: str,
    v: dict[str, Any],
    at: str,
    step_h: float | None,
    problems: Problems,
) -> None:
    """Bounds and orderings each device's equations need to make sense."""

    def need(ok: bool, name: str, code: str, message: str) -> None:
        if not ok:
            problems.add(f"{at}.{name}", code, message)

    nonnegative = {
        "battery": ("charge_max_kw", "discharge_max_kw"),
        "ev": ("energy_kwh", "charge_max_kw"),
        "heating": ("power_max_kw",),
        "water_heater": ("power_max_kw", "loss_kw", "energy_min_kwh"),
    }[kind]
    for name in nonnegative:
        need(v[name] >= 0, name, "negative", "must be ≥ 0")
    if kind == "battery":
        need(v["capacity_kwh"] > 0, "capacity_kwh", "not_positive", "must be > 0")
        for name in ("soc_init", "soc_min", "soc_max", "soc_final_min"):
            if not math.isnan(v[name]):
                need(0 <= v[name] <= 1, name, "out_of_range", "a fraction in [0, 1]")
        for name in ("charge_efficiency", "discharge_efficiency"):
            need(0 < v[name] <= 1, name, "out_of_range", "must be in (0, 1]")
        need(v["soc_min"] <= v["soc_max"], "soc_min", "above_max", "above soc_max")
        need(
            v["soc_min"] <= v["soc_init"] <= v["soc_max"],
            "soc_init",
            "outside_window",
            "outside [soc_min, soc_max]",
        )
        final = v["soc_init"] if math.isnan(v["soc_final_min"]) else v["soc_final_min"]
        need(final <= v["soc_max"], "soc_final_min", "above_max", "above soc_max")
        v["soc_final_min"] = final
    elif kind == "ev":
        need(
            v["arrival_step"] <= v["departure_step"],
            "departure_step",
            "before_arrival",
            "must not be before arrival_step",
        )
    elif kind == "heating":
        for name in ("capacitance_kwh_per_k", "resistance_k_per_kw", "cop"):
            need(v[name] > 0, name, "not_positive", "must be > 0")
        if step_h is not None and v["capacitance_kwh_per_k"] > 0 and v["resistance_k_per_kw"] > 0:
            ratio = step_h / (v["capacitance_kwh_per_k"] * v["resistance_k_per_kw"])
            need(
                ratio <= 1,
                "capacitance_kwh_per_k",
                "unstable",
                f"step_h / (R·C) = {ratio:g} > 1: the zone model would overshoot every step",
            )
        low, high = v["comfort_min_c"], v["comfort_max_c"]
        for k in np.flatnonzero(low > high)[:20]:
            problems.add(f"{at}.comfort_min_c[{k}]", "above_max", "above comfort_max_c")
    else:
        need(
            v["energy_min_kwh"] <= v["energy_max_kwh"],
            "energy_min_kwh",
            "above_max",
            "above energy_max_kwh",
        )
        need(
            v["energy_min_kwh"] <= v["energy_init_kwh"] <= v["energy_max_kwh"],
            "energy_init_kwh",
            "outside_window",
            "outside [energy_min_kwh, energy_max_kwh]",
        )
        for k in np.flatnonzero(v["draw_kw"] < 0)[:20]:
            problems.add(f"{at}.draw_kw[{k}]", "negative", "must be ≥ 0")


def _identifier(
    item: Mapping[str, Any], where: str, seen: set[str], problems: Problems
) -> str | None:
    ident = item.get("id")
    if not isinstance(ident, str) or not ident:
        problems.add(f"{where}.id", "missing" if ident is None else "not_a_string", "a string id")
        return None
    if ident in seen:
        problems.add(f"{where}.id", "duplicate", f"id {ident!r} appears twice")
        return None
    seen.add(ident)
    return ident


def _number(
    item: Mapping[str, Any],
    name: str,
    where: str,
    problems: Problems,
    *,
    positive: bool = False,
    default: float | None = None,
) -> float | None:
    raw = item.get(name)
    if raw is None:
        if default is None:
            problems.add(f"{where}.{name}", "missing", "required")
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        problems.add(f"{where}.{name}", "not_a_number", "must be a finite number")
        return None
    if positive and raw <= 0:
        problems.add(f"{where}.{name}", "not_positive", "must be > 0")
        return None
    return float(raw)


def _integer(
    item: Mapping[str, Any],
    name: str,
    where: str,
    problems: Problems,
    *,
    minimum: int,
    maximum: int | None,
) -> int | None:
    raw = item.get(name)
    if raw is None:
        problems.add(f"{where}.{name}", "missing", "required")
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw != int(raw):
        problems.add(f"{where}.{name}", "not_an_integer", "must be a whole number")
        return None
    if raw < minimum or (maximum is not None and raw > maximum):
        bound = f"[{minimum}, {maximum}]" if maximum is not None else f"≥ {minimum}"
        problems.add(f"{where}.{name}", "out_of_range", f"must be within {bound}")
        return None
    return int(raw)


def _series(
    item: Mapping[str, Any],
    name: str,
    where: str,
    n: int | None,
    problems: Problems,
) -> Array | None:
    raw = item.get(name)
    at = f"{where}.{name}"
    if raw is None:
        problems.add(at, "missing", "required")
        return None
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        problems.add(at, "not_a_series", "must be a list of numbers")
        return None
    bad = [
        k
        for k, x in enumerate(raw)
        if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x)
    ]
    for k in bad[:20]:
        problems.add(f"{at}[{k}]", "not_a_number", "must be a finite number")
    if n is not None and len(raw) != n:
        problems.add(at, "wrong_length", f"has {len(raw)} values, steps is {n}")
        return None
    if bad:
        return None
    return np.asarray(raw, dtype=float)


def _window(
    document: Mapping[str, Any], n: int | None, problems: Problems
) -> NDArray[np.bool_] | None:
    raw = document.get("peak_window")
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
        problems.add("$.peak_window", "not_a_window", "must be [start, end), two step indices")
        return None
    start, end = raw
    if not 0 <= start < end <= n:
        problems.add("$.peak_window", "out_of_range", f"needs 0 ≤ start < end ≤ steps ({n})")
        return None
    mask[start:end] = True
    return mask
