"""OSED's own balancing document: typed, columnar, every unit in the name.

See docs/optimizer.md for the schema and an example. Validation names every problem with its
JSON path (``$.batteries[1].capacity_kwh``); time series must have one value per step.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import numpy as np
from pydantic import Field

from osed.domain.errors import Problem, ValidationError
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
from osed.optimizer.problem import (
    BalancingProblem,
    Battery,
    BatteryKind,
    Bulk,
    EfficiencyModel,
    Objective,
    ObjectiveSpec,
    Rules,
)
from osed.optimizer.rules import rule_step
from osed.optimizer.schedule import Schedule
from osed.optimizer.validate import check_problem

SUBJECT = "balancing document"
Finite = Quantity


MAX_DURATION_H = 8784.0  # a leap year


class Mode(StrEnum):
    OPTIMIZATION = "optimization"
    RULES = "rules"
    NEAR_REAL_TIME = "near_real_time"


_Model = DocumentModel


class BatteryDoc(BatteryFields):
    id: str = Field(min_length=1)
    kind: BatteryKind = BatteryKind.COMMUNITY


class BulkDoc(_Model):
    start: datetime
    end: datetime
    energy_kwh: Finite
    """Negative: the batteries deliver this energy; positive: they absorb it."""


class NetLimitsDoc(_Model):
    upper_kw: list[Finite | None] | None = None
    lower_kw: list[Finite | None] | None = None


class ObjectiveDoc(_Model):
    kind: Objective = Objective.GRID_INTERACTION
    peak_weight: Size = 1.0
    import_price: list[Finite] | None = None
    export_price: list[Finite] | None = None
    demand_charge: Size = 0.0
    capacity_kw: list[Finite] | Finite | None = None


class NearRealTimeDoc(_Model):
    measured_net_kw: Finite
    request_kw: Finite = 0.0
    duration_h: float = Field(gt=0, le=MAX_DURATION_H, allow_inf_nan=False)


class BalancingDocument(_Model):
    id: str = Field(min_length=1)
    mode: Mode = Mode.OPTIMIZATION
    start: datetime
    step_minutes: float = Field(default=15.0, gt=0, allow_inf_nan=False)
    load_kw: list[Finite] = Field(default_factory=list)
    pv_kw: list[Size] | None = None
    pv_curtailable: bool = False
    net_limits: NetLimitsDoc | None = None
    batteries: list[BatteryDoc] = Field(default_factory=list)
    bulk: BulkDoc | None = None
    day_end: datetime | None = None
    household_full_at_day_end: bool = True
    objective: ObjectiveDoc = ObjectiveDoc()
    rules: Rules = Rules.NATIVE
    efficiency_model: EfficiencyModel = EfficiencyModel.TEXTBOOK
    time_limit_s: float = Field(default=60.0, gt=0, le=3600)
    mip_gap: float = Field(default=1e-4, ge=0, le=1)
    near_real_time: NearRealTimeDoc | None = None


def parse(document: object) -> BalancingDocument:
    """The checked document; :class:`ValidationError` names every problem with its path,
    also those the balancing problem's own checks find."""
    return validated(
        BalancingDocument,
        document,
        _problems,
        subject=SUBJECT,
        independent=_soc_windows,
        engine_problems=_problem_problems,
    )


def _problem_problems(data: BalancingDocument) -> list[Problem]:
    """The balancing problem's own checks, at the document's paths."""
    if data.mode is Mode.NEAR_REAL_TIME:
        return []
    try:
        check_problem(to_problem(data))
    except ValidationError as exc:
        return [_in_document(problem) for problem in exc.problems]
    return []


def _soc_windows(document: object) -> list[Problem]:
    batteries = document.get("batteries") if isinstance(document, dict) else None
    if not isinstance(batteries, list):
        return []
    parts = [(f"$.batteries[{n}]", battery) for n, battery in enumerate(batteries)]
    return valid_parts(SocWindow, parts, soc_window_problems)


_PROBLEM_FIELDS = {
    "soc_min_kwh": "soc_min_pct",
    "soc_max_kwh": "soc_max_pct",
    "soc_initial_kwh": "soc_initial_pct",
    "soc_final_kwh": "soc_final_pct",
    "net_upper_kw": "net_limits.upper_kw",
    "net_lower_kw": "net_limits.lower_kw",
    "step": "step_minutes",
}


def _in_document(problem: Problem) -> Problem:
    """A path of the balancing problem as the document's (``$.batteries[0].soc_final_pct``,
    ``$.net_limits.upper_kw[3]``)."""
    path = re.sub(
        r"(?<=\.)(\w+)", lambda match: _PROBLEM_FIELDS.get(match[1], match[1]), problem.path
    )
    return Problem(path, problem.code, problem.message)


def _problems(data: BalancingDocument) -> list[Problem]:
    problems: list[Problem] = []
    if data.start.tzinfo is None:
        problems.append(Problem("$.start", "naive", "give the time zone (e.g. Z for UTC)"))
    problems.extend(horizon_problems(data.start, data.step_minutes, len(data.load_kw)))
    if data.mode is Mode.NEAR_REAL_TIME:
        if data.near_real_time is None:
            problems.append(Problem("$.near_real_time", "missing", "the measurement is missing"))
        if len(data.batteries) != 1:
            problems.append(Problem("$.batteries", "one_battery", "takes exactly one battery"))
        return problems
    steps = len(data.load_kw)
    if steps == 0:
        problems.append(Problem("$.load_kw", "empty", "give one load value per step"))
    series: list[tuple[str, list[Any] | None]] = [("$.pv_kw", data.pv_kw)]
    if data.net_limits is not None:
        series += [
            ("$.net_limits.upper_kw", data.net_limits.upper_kw),
            ("$.net_limits.lower_kw", data.net_limits.lower_kw),
        ]
    objective = data.objective
    series += [
        ("$.objective.import_price", objective.import_price),
        ("$.objective.export_price", objective.export_price),
    ]
    if isinstance(objective.capacity_kw, list):
        series.append(("$.objective.capacity_kw", objective.capacity_kw))
    for path, values in series:
        if values is not None and len(values) != steps:
            problems.append(Problem(path, "length", f"{len(values)} values for {steps} steps"))
    if objective.kind is Objective.COST and (
        objective.import_price is None or objective.export_price is None
    ):
        problems.append(Problem("$.objective", "missing", "the cost objective needs prices"))
    if objective.kind is Objective.PEAK_SHAVING and objective.capacity_kw is None:
        problems.append(Problem("$.objective.capacity_kw", "missing", "peak shaving needs it"))
    if data.mode is Mode.RULES and len(data.batteries) != 1:
        problems.append(Problem("$.batteries", "one_battery", "rules take exactly one battery"))
    return problems


def _array(values: list[float | None] | None) -> np.ndarray | None:
    if values is None:
        return None
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _battery(doc: BatteryDoc) -> Battery:
    capacity = doc.capacity_kwh
    return Battery(
        id=doc.id,
        kind=doc.kind,
        capacity_kwh=capacity,
        charge_max_kw=doc.charge_max_kw,
        discharge_max_kw=doc.discharge_max_kw,
        soc_min_kwh=doc.soc_min_pct / 100 * capacity,
        soc_max_kwh=doc.soc_max_pct / 100 * capacity,
        soc_initial_kwh=doc.soc_initial_pct / 100 * capacity,
        soc_final_kwh=None if doc.soc_final_pct is None else doc.soc_final_pct / 100 * capacity,
        charge_efficiency=doc.charge_efficiency,
        discharge_efficiency=doc.discharge_efficiency,
    )


def to_problem(data: BalancingDocument) -> BalancingProblem:
    steps = len(data.load_kw)
    objective = data.objective
    capacity = objective.capacity_kw
    capacity_kw = (
        np.full(steps, float(capacity)) if isinstance(capacity, int | float) else _array(capacity)  # type: ignore[arg-type]
    )
    limits = data.net_limits or NetLimitsDoc()
    bulk = None if data.bulk is None else Bulk(data.bulk.start, data.bulk.end, data.bulk.energy_kwh)
    return BalancingProblem(
        id=data.id,
        start=data.start,
        step=timedelta(minutes=data.step_minutes),
        load_kw=np.array(data.load_kw, dtype=float),
        pv_kw=np.zeros(steps) if data.pv_kw is None else np.array(data.pv_kw, dtype=float),
        batteries=tuple(_battery(b) for b in data.batteries),
        pv_curtailable=data.pv_curtailable,
        net_upper_kw=_array(limits.upper_kw),
        net_lower_kw=_array(limits.lower_kw),
        bulk=bulk,
        day_end=data.day_end,
        household_full_at_day_end=data.household_full_at_day_end,
        objective=ObjectiveSpec(
            kind=objective.kind,
            peak_weight=objective.peak_weight,
            import_price=_array(objective.import_price),  # type: ignore[arg-type]
            export_price=_array(objective.export_price),  # type: ignore[arg-type]
            demand_charge=objective.demand_charge,
            capacity_kw=capacity_kw,
        ),
        rules=data.rules,
        efficiency=data.efficiency_model,
    )


def _values(array: np.ndarray) -> list[float | None]:
    return [None if np.isnan(v) else float(v) + 0.0 for v in array]


def schedule_output(problem: BalancingProblem, schedule: Schedule) -> dict[str, Any]:
    capacity = np.array([b.capacity_kwh for b in problem.batteries])[:, None]
    document: dict[str, Any] = {
        "id": problem.id,
        "status": schedule.status,
        "method": schedule.method,
        "objective": {
            "kind": problem.objective.kind.value,
            "value": schedule.objective,
            "bound": schedule.bound,
            "gap": schedule.gap,
        },
        "solve_seconds": round(schedule.seconds, 6),
        "conflicts": [c.to_dict() for c in schedule.conflicts],
        "start": problem.start.astimezone(UTC).isoformat(),
        "step_minutes": problem.step.total_seconds() / 60,
    }
    if schedule.feasible:
        document["grid"] = {
            "import_kw": _values(schedule.import_kw),
            "export_kw": _values(schedule.export_kw),
            "net_kw": _values(schedule.net_kw),
        }
        document["pv_kw"] = _values(schedule.pv_kw)
        document["batteries"] = [
            {
                "id": battery.id,
                "power_kw": _values(schedule.battery_kw[n]),
                "soc_pct": _values(100 * schedule.soc_kwh[n] / capacity[n]),
            }
            for n, battery in enumerate(problem.batteries)
        ]
    return document


def near_real_time(data: BalancingDocument) -> dict[str, Any]:
    request = data.near_real_time
    assert request is not None
    battery = _battery(data.batteries[0])
    step = rule_step(
        battery,
        energy_kwh=battery.soc_initial_kwh,
        net_kw=request.measured_net_kw,
        request_kw=request.request_kw,
        step_h=request.duration_h,
        efficiency=data.efficiency_model,
    )
    return {
        "id": data.id,
        "status": "applied",
        "method": "rules",
        "time": data.start.astimezone(UTC).isoformat(),
        "battery_id": battery.id,
        "power_kw": step.battery_kw + 0.0,
        "soc_initial_pct": data.batteries[0].soc_initial_pct,
        "soc_pct": 100 * step.energy_kwh / battery.capacity_kwh,
        "measured_net_kw": request.measured_net_kw,
        "net_after_kw": request.measured_net_kw + step.battery_kw,
        "deviation_kw": step.deviation_kw + 0.0,
    }
