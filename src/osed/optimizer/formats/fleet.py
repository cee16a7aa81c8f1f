"""OSED's fleet document: household batteries behind their own meters under feeder caps.

See docs/optimizer-fleet.md for the schema. Field checks come from the document's types; the
checks across fields are :class:`FleetProblem`'s own, with each problem's path translated to
where it is in the document (``$.households[3].battery.soc_min_pct``, ``$.export_price[5]``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import numpy as np
from pydantic import Field

from osed.domain.errors import Problem, ValidationError
from osed.optimizer.fleet_decomposition import solve_fleet
from osed.optimizer.fleet_monolithic import solve_monolithic
from osed.optimizer.fleet_problem import Array, FleetProblem, FleetSchedule, household_bills
from osed.optimizer.formats._battery import (
    BatteryFields,
    DocumentModel,
    Quantity,
    Size,
    SocWindow,
    horizon_problems,
    soc_window_problems,
)
from osed.optimizer.formats._paths import valid_parts, validated

SUBJECT = "fleet document"
Finite = Quantity
Limit = Size


class Method(StrEnum):
    DECOMPOSITION = "decomposition"
    MONOLITHIC = "monolithic"


_Model = DocumentModel


class HouseholdBatteryDoc(BatteryFields):
    """A household's battery: the fields of the balancing document's batteries."""


class HouseholdDoc(_Model):
    id: str = Field(min_length=1)
    net_load_kw: list[Finite] = Field(min_length=1)
    """Per step, + import, − export (PV netted), before the battery."""
    battery: HouseholdBatteryDoc
    meter_import_max_kw: Limit | None = None
    meter_export_max_kw: Limit | None = None


class FeederDoc(_Model):
    """Caps on the feeder's net exchange: one value for every step or one per step; null:
    no cap (at that step)."""

    import_max_kw: list[Limit | None] | Limit | None = None
    export_max_kw: list[Limit | None] | Limit | None = None


class FleetDocument(_Model):
    id: str = Field(min_length=1)
    start: datetime
    step_minutes: float = Field(default=15.0, gt=0, allow_inf_nan=False)
    import_price: list[Finite] = Field(min_length=1)
    """Per kWh imported through a household meter, per step."""
    export_price: list[Finite] = Field(min_length=1)
    feeder: FeederDoc = FeederDoc()
    households: list[HouseholdDoc] = Field(min_length=1)
    cycling_cost: Size = 1e-4
    method: Method = Method.DECOMPOSITION
    time_limit_s: float = Field(default=60.0, gt=0, le=3600)
    gap: float = Field(default=1e-3, ge=0, le=1)


def is_fleet(document: object) -> bool:
    return isinstance(document, dict) and "households" in document


def parse(document: object) -> FleetDocument:
    """The checked document; :class:`ValidationError` names every problem with its path."""
    return validated(
        FleetDocument,
        document,
        _shape_problems,
        subject=SUBJECT,
        independent=_soc_windows,
        engine_problems=_problem_problems,
    )


def _problem_problems(data: FleetDocument) -> list[Problem]:
    """:class:`FleetProblem`'s checks across fields, at the document's paths."""
    try:
        to_problem(data).validate()
    except ValidationError as exc:
        return [_in_document(problem) for problem in exc.problems]
    return []


def _soc_windows(document: object) -> list[Problem]:
    households = document.get("households") if isinstance(document, dict) else None
    if not isinstance(households, list):
        return []
    batteries = [
        (f"$.households[{i}].battery", h.get("battery"))
        for i, h in enumerate(households)
        if isinstance(h, dict)
    ]
    return valid_parts(SocWindow, batteries, soc_window_problems)


def _shape_problems(data: FleetDocument) -> list[Problem]:
    problems: list[Problem] = []
    if data.start.tzinfo is None:
        problems.append(Problem("$.start", "naive", "give the time zone (e.g. Z for UTC)"))
    steps = len(data.import_price)
    problems.extend(horizon_problems(data.start, data.step_minutes, steps))
    series: list[tuple[str, object]] = [("$.export_price", data.export_price)]
    series += [(f"$.feeder.{name}", getattr(data.feeder, name)) for name in _CAPS]
    series += [
        (f"$.households[{i}].net_load_kw", h.net_load_kw) for i, h in enumerate(data.households)
    ]
    for path, values in series:
        if isinstance(values, list) and len(values) != steps:
            problems.append(Problem(path, "length", f"{len(values)} values for {steps} steps"))
    seen: dict[str, int] = {}
    for i, household in enumerate(data.households):
        if household.id in seen:
            problems.append(
                Problem(
                    f"$.households[{i}].id", "duplicate", f"as households[{seen[household.id]}]"
                )
            )
        seen.setdefault(household.id, i)
    return problems


_CAPS = ("import_max_kw", "export_max_kw")
_BATTERY_PCT = {
    "soc_min_kwh": "soc_min_pct",
    "soc_max_kwh": "soc_max_pct",
    "soc_initial_kwh": "soc_initial_pct",
    "soc_final_kwh": "soc_final_pct",
}
_BATTERY = (
    "capacity_kwh",
    "charge_max_kw",
    "discharge_max_kw",
    "charge_efficiency",
    "discharge_efficiency",
)


def _in_document(problem: Problem) -> Problem:
    """A :class:`FleetProblem` path as the document's path."""
    path = problem.path
    if match := re.fullmatch(r"\$\.households\[(\d+)\]\.(\w+)", path):
        index, name = match.groups()
        if name in _BATTERY_PCT:
            path = f"$.households[{index}].battery.{_BATTERY_PCT[name]}"
        elif name in _BATTERY:
            path = f"$.households[{index}].battery.{name}"
    elif match := re.fullmatch(r"\$\.steps\[(\d+)\]\.(\w+)", path):
        step, name = match.groups()
        if name.startswith("feeder_"):
            path = f"$.feeder.{name.removeprefix('feeder_')}[{step}]"
        else:
            path = f"$.{name}[{step}]"
    elif path == "$.dt_h":
        path = "$.step_minutes"
    return Problem(path, problem.code, problem.message)


def _cap(value: list[float | None] | float | None, steps: int) -> Array:
    if value is None:
        return np.full(steps, np.inf)
    if isinstance(value, list):
        return np.array([np.inf if v is None else v for v in value], dtype=float)
    return np.full(steps, float(value))


def to_problem(data: FleetDocument) -> FleetProblem:
    steps = len(data.import_price)
    batteries = [h.battery for h in data.households]

    def battery(name: str) -> Array:
        return np.array([getattr(b, name) for b in batteries], dtype=float)

    capacity = battery("capacity_kwh")

    def energy(name: str) -> Array:
        pct = [getattr(b, name) for b in batteries]
        return np.array([np.nan if v is None else v for v in pct], dtype=float) / 100 * capacity

    def meter(name: str) -> Array:
        limits = [getattr(h, name) for h in data.households]
        return np.array([np.inf if v is None else v for v in limits], dtype=float)

    return FleetProblem(
        net_load_kw=np.array([h.net_load_kw for h in data.households], dtype=float),
        capacity_kwh=capacity,
        charge_max_kw=battery("charge_max_kw"),
        discharge_max_kw=battery("discharge_max_kw"),
        charge_efficiency=battery("charge_efficiency"),
        discharge_efficiency=battery("discharge_efficiency"),
        soc_min_kwh=energy("soc_min_pct"),
        soc_max_kwh=energy("soc_max_pct"),
        soc_initial_kwh=energy("soc_initial_pct"),
        soc_final_kwh=energy("soc_final_pct"),
        import_price=np.array(data.import_price, dtype=float),
        export_price=np.array(data.export_price, dtype=float),
        feeder_import_max_kw=_cap(data.feeder.import_max_kw, steps),
        feeder_export_max_kw=_cap(data.feeder.export_max_kw, steps),
        dt_h=data.step_minutes / 60,
        meter_import_max_kw=meter("meter_import_max_kw"),
        meter_export_max_kw=meter("meter_export_max_kw"),
        cycling_cost=data.cycling_cost,
    )


def solve(data: FleetDocument, *, time_limit_s: float | None = None) -> dict[str, Any]:
    """The result document of a checked fleet document."""
    problem = to_problem(data)
    limit = data.time_limit_s if time_limit_s is None else time_limit_s
    if data.method is Method.MONOLITHIC:
        schedule = solve_monolithic(problem, time_limit_s=limit)
    else:
        schedule = solve_fleet(problem, time_limit_s=limit, gap=data.gap)
    return schedule_output(data, problem, schedule)


def _values(array: Array) -> list[float]:
    return [float(v) + 0.0 for v in array]


def _number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def schedule_output(
    data: FleetDocument, problem: FleetProblem, schedule: FleetSchedule
) -> dict[str, Any]:
    """Status, objective with its proven bound and gap, and when there is a schedule the
    feeder's net and every household's battery power, SoC, meter exchange and bill."""
    document: dict[str, Any] = {
        "id": data.id,
        "status": schedule.status,
        "method": schedule.method,
        "objective": {
            "value": _number(schedule.objective),
            "bound": _number(schedule.lower_bound),
            "gap": _number(schedule.gap),
        },
        "iterations": schedule.iterations,
        "solve_seconds": round(schedule.seconds, 6),
        "report": list(schedule.report),
        "start": data.start.astimezone(UTC).isoformat(),
        "step_minutes": data.step_minutes,
    }
    if not schedule.feasible:
        return document
    document["feeder"] = {"net_kw": _values(schedule.feeder_net_kw)}
    net = schedule.import_kw - schedule.export_kw
    power = schedule.charge_kw - schedule.discharge_kw
    bills = household_bills(problem, schedule.import_kw, schedule.export_kw)
    capacity = problem.capacity_kwh[:, None]
    document["households"] = [
        {
            "id": household.id,
            "power_kw": _values(power[i]),
            "soc_pct": _values(100 * schedule.soc_kwh[i] / capacity[i]),
            "meter_kw": _values(net[i]),
            "bill": float(bills[i]),
        }
        for i, household in enumerate(data.households)
    ]
    return document
