"""pymfm's JSON formats: its input document in, its result document out.

The three uses of pymfm 0.5.5: near-real-time rule-based control (one battery, a request
and a measurement), rule-based scheduling (one battery) and optimisation-based scheduling
(community and household batteries, final SoC, bulk window, net-power limits, PV
curtailment). In compatible mode (the default) the problem keeps pymfm's rules and
efficiency convention so that its results are reproduced; ``native=True`` keeps only the
physics and the stated limits. Percentages in, kWh inside, percentages out.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from osed.domain.errors import Problem, ValidationError
from osed.optimizer.formats._paths import MAGNITUDE_LIMIT, validated
from osed.optimizer.formats.sun import BERLIN, sunset
from osed.optimizer.problem import (
    Array,
    BalancingProblem,
    Battery,
    BatteryKind,
    Bulk,
    EfficiencyModel,
    Rules,
)
from osed.optimizer.rules import rule_step
from osed.optimizer.schedule import Schedule
from osed.optimizer.validate import check_problem

SUBJECT = "pymfm input"


class ControlLogic(StrEnum):
    RULE_BASED = "rule_based"
    OPTIMIZATION_BASED = "optimization_based"


class OperationMode(StrEnum):
    NEAR_REAL_TIME = "near_real_time"
    SCHEDULING = "scheduling"


# kW, kWh: finite and within a physically meaningful magnitude.
Quantity = Annotated[float, Field(ge=-MAGNITUDE_LIMIT, le=MAGNITUDE_LIMIT, allow_inf_nan=False)]
Size = Annotated[float, Field(ge=0, le=MAGNITUDE_LIMIT, allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class ForecastValue(_Model):
    timestamp: datetime
    P_gen_kW: Quantity
    P_load_kW: Quantity


class GenerationAndLoad(_Model):
    pv_curtailment: bool | None = None
    values: list[ForecastValue] = Field(min_length=1)


class BulkWindow(_Model):
    bulk_start: datetime
    bulk_end: datetime
    bulk_energy_kWh: Quantity


class NetLimit(_Model):
    timestamp: datetime
    upper_bound: Quantity | None = None
    lower_bound: Quantity | None = None


class MeasurementsRequest(_Model):
    timestamp: datetime
    P_req_kW: Quantity | None = None
    delta_T_h: float = Field(gt=0, le=MAGNITUDE_LIMIT, allow_inf_nan=False)
    P_net_meas_kW: Quantity


Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


class BatterySpecs(_Model):
    id: str | None = None
    bat_type: BatteryKind
    initial_SoC: Percent
    final_SoC: Percent | None = None
    P_dis_max_kW: Size
    P_ch_max_kW: Size
    min_SoC: Percent
    max_SoC: Percent
    bat_capacity_kWh: float = Field(gt=0, le=MAGNITUDE_LIMIT, allow_inf_nan=False)
    ch_efficiency: float = Field(default=1.0, gt=0, le=1)
    dis_efficiency: float = Field(default=1.0, gt=0, le=1)


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


class PymfmInput(_Model):
    id: str
    application: str
    control_logic: ControlLogic
    operation_mode: OperationMode
    uc_start: datetime
    uc_end: datetime
    generation_and_load: GenerationAndLoad | None = None
    day_end: datetime | None = None
    bulk: BulkWindow | None = None
    P_net_after_kW_limitation: list[NetLimit] | None = None
    measurements_request: MeasurementsRequest | None = None
    battery_specs: Annotated[list[BatterySpecs], BeforeValidator(_as_list), Field(min_length=1)]


# Keys only pymfm's input has (OSED's documents share none of them), so that a pymfm document
# missing one of its required fields is still recognised and told what it misses.
DISTINCTIVE_KEYS = frozenset(
    {
        "application",
        "control_logic",
        "operation_mode",
        "uc_start",
        "uc_end",
        "generation_and_load",
        "measurements_request",
        "P_net_after_kW_limitation",
        "battery_specs",
    }
)


def is_pymfm(document: object) -> bool:
    """Whether ``document`` looks like a pymfm input: it has a key only pymfm's input has."""
    return isinstance(document, dict) and not DISTINCTIVE_KEYS.isdisjoint(document)


def parse(document: object) -> PymfmInput:
    """The input, checked; :class:`ValidationError` names every problem with its path, also
    those the scheduling problem's own checks find (at the document's paths)."""
    return validated(
        PymfmInput, document, _mode_problems, subject=SUBJECT, engine_problems=_problem_problems
    )


def _problem_problems(data: PymfmInput) -> list[Problem]:
    """The scheduling problem's own checks, at the document's paths."""
    if data.operation_mode is not OperationMode.SCHEDULING:
        return []
    try:
        check_problem(to_problem(data))
    except ValidationError as exc:
        paths = _DocumentPaths(data)
        return [paths.problem(problem) for problem in exc.problems]
    return []


def _mode_problems(data: PymfmInput) -> list[Problem]:
    problems: list[Problem] = []
    rule_based = data.control_logic is ControlLogic.RULE_BASED
    if data.operation_mode is OperationMode.NEAR_REAL_TIME:
        if not rule_based:
            problems.append(
                Problem("$.control_logic", "unsupported", "near real time is rule-based only")
            )
        if data.measurements_request is None:
            problems.append(
                Problem("$.measurements_request", "missing", "near real time needs a measurement")
            )
    elif data.generation_and_load is None:
        problems.append(Problem("$.generation_and_load", "missing", "scheduling needs a forecast"))
    if rule_based and len(data.battery_specs) != 1:
        problems.append(
            Problem("$.battery_specs", "one_battery", "rule-based control takes one battery")
        )
    if data.uc_end < data.uc_start:
        problems.append(Problem("$.uc_end", "before_start", "uc_end is before uc_start"))
    for n, spec in enumerate(data.battery_specs):
        if spec.min_SoC > spec.max_SoC:
            problems.append(
                Problem(f"$.battery_specs[{n}].min_SoC", "above_max", "min_SoC above max_SoC")
            )
        if not spec.min_SoC <= spec.initial_SoC <= spec.max_SoC:
            problems.append(
                Problem(f"$.battery_specs[{n}].initial_SoC", "outside_window", "outside [min, max]")
            )
    ids = [spec.id or f"bat_{n + 1}" for n, spec in enumerate(data.battery_specs)]
    for n, name in enumerate(ids):
        if name in ids[:n]:
            problems.append(Problem(f"$.battery_specs[{n}].id", "duplicate", f"{name!r} twice"))
    for j, limit in enumerate(data.P_net_after_kW_limitation or ()):
        upper, lower = limit.upper_bound, limit.lower_bound
        if upper is not None and lower is not None and upper < lower:
            problems.append(
                Problem(
                    f"$.P_net_after_kW_limitation[{j}].upper_bound",
                    "below_lower",
                    f"upper bound {upper} kW is below the lower bound {lower} kW",
                )
            )
    if data.generation_and_load is not None and not problems:
        problems.extend(_forecast_problems(data))
    return problems


def _forecast_problems(data: PymfmInput) -> list[Problem]:
    assert data.generation_and_load is not None
    values = data.generation_and_load.values
    problems: list[Problem] = []
    if values[0].timestamp > data.uc_start:
        problems.append(
            Problem("$.generation_and_load.values[0].timestamp", "late", "starts after uc_start")
        )
    if values[-1].timestamp < data.uc_end:
        problems.append(
            Problem(
                f"$.generation_and_load.values[{len(values) - 1}].timestamp",
                "early",
                "ends before uc_end",
            )
        )
    times = [v.timestamp for v in values]
    if len(times) > 1:
        step = times[1] - times[0]
        for k in range(1, len(times)):
            if times[k] - times[k - 1] != step or step <= timedelta(0):
                problems.append(
                    Problem(
                        f"$.generation_and_load.values[{k}].timestamp",
                        "irregular",
                        f"the forecast must advance by a regular step ({step})",
                    )
                )
                break
    if not problems and not _horizon(data):
        problems.append(
            Problem("$.generation_and_load.values", "empty", "no value in [uc_start, uc_end]")
        )
    if not problems and data.P_net_after_kW_limitation is not None:
        problems.extend(_limitation_problems(data))
    return problems


def _horizon(data: PymfmInput) -> list[ForecastValue]:
    """The forecast values from uc_start to uc_end: the steps that are scheduled."""
    assert data.generation_and_load is not None
    values = data.generation_and_load.values
    return [v for v in values if data.uc_start <= v.timestamp <= data.uc_end]


def _limitation_problems(data: PymfmInput) -> list[Problem]:
    """Limits given must cover every scheduled step, each once and on a forecast step (limits
    outside [uc_start, uc_end] are ignored, as pymfm does)."""
    assert data.P_net_after_kW_limitation is not None
    steps = [v.timestamp for v in _horizon(data)]
    on_grid = set(steps)
    problems: list[Problem] = []
    seen: dict[datetime, int] = {}
    for j, limit in enumerate(data.P_net_after_kW_limitation):
        path = f"$.P_net_after_kW_limitation[{j}].timestamp"
        if not data.uc_start <= limit.timestamp <= data.uc_end:
            continue
        if limit.timestamp not in on_grid:
            problems.append(Problem(path, "off_grid", "not a timestamp of the forecast"))
        elif limit.timestamp in seen:
            problems.append(
                Problem(path, "duplicate", f"as P_net_after_kW_limitation[{seen[limit.timestamp]}]")
            )
        seen.setdefault(limit.timestamp, j)
    uncovered = [t for t in steps if t not in seen]
    if uncovered:
        problems.append(
            Problem(
                "$.P_net_after_kW_limitation",
                "incomplete",
                f"no limit for {len(uncovered)} of the {len(steps)} scheduled steps, the first "
                f"at {uncovered[0].isoformat()}; give one entry per step (null bounds for none)",
            )
        )
    return problems


# ----------------------------------------------------------------------- to the engine


def _battery(spec: BatterySpecs, index: int, final_kwh: float | None) -> Battery:
    capacity = spec.bat_capacity_kWh
    return Battery(
        id=spec.id or f"bat_{index + 1}",
        kind=spec.bat_type,
        capacity_kwh=capacity,
        charge_max_kw=spec.P_ch_max_kW,
        discharge_max_kw=spec.P_dis_max_kW,
        soc_min_kwh=spec.min_SoC / 100 * capacity,
        soc_max_kwh=spec.max_SoC / 100 * capacity,
        soc_initial_kwh=spec.initial_SoC / 100 * capacity,
        soc_final_kwh=final_kwh,
        charge_efficiency=spec.ch_efficiency,
        discharge_efficiency=spec.dis_efficiency,
    )


def to_problem(data: PymfmInput, *, native: bool = False) -> BalancingProblem:
    """The scheduling problem of a pymfm input (rule-based or optimisation-based)."""
    assert data.generation_and_load is not None
    forecast = _horizon(data)
    times = [v.timestamp for v in forecast]
    step = times[1] - times[0] if len(times) > 1 else timedelta(hours=1)
    start = times[0]
    load = np.array([v.P_load_kW for v in forecast])
    pv = np.array([v.P_gen_kW for v in forecast])
    upper = np.full(len(times), np.nan)
    lower = np.full(len(times), np.nan)
    position = {t: k for k, t in enumerate(times)}
    for limit in data.P_net_after_kW_limitation or ():
        k = position.get(limit.timestamp)
        if k is None:
            continue  # outside the horizon: pymfm ignores it too
        if limit.upper_bound is not None:
            upper[k] = limit.upper_bound
        if limit.lower_bound is not None:
            lower[k] = limit.lower_bound

    # pymfm: once any battery has a final SoC, every household battery must be full at
    # day_end (its own final SoC is not used) and every community battery meets its own.
    any_final = any(spec.final_SoC is not None for spec in data.battery_specs)
    batteries = []
    for n, spec in enumerate(data.battery_specs):
        capacity = spec.bat_capacity_kWh
        final = None if spec.final_SoC is None else spec.final_SoC / 100 * capacity
        if spec.bat_type is BatteryKind.HOUSEHOLD and not native:
            final = spec.max_SoC / 100 * capacity if any_final else None
        batteries.append(_battery(spec, n, final))

    day_end = data.day_end
    if day_end is None:
        sun_down = sunset(data.uc_start.date(), *BERLIN)
        day_end = min(times, key=lambda t: abs(t - sun_down))
    bulk = None
    if data.bulk is not None:
        bulk = Bulk(data.bulk.bulk_start, data.bulk.bulk_end, data.bulk.bulk_energy_kWh)
    return BalancingProblem(
        id=data.id,
        start=start,
        step=step,
        load_kw=load,
        pv_kw=pv,
        batteries=tuple(batteries),
        pv_curtailable=bool(data.generation_and_load.pv_curtailment),
        net_upper_kw=upper if not np.isnan(upper).all() else None,
        net_lower_kw=lower if not np.isnan(lower).all() else None,
        bulk=bulk,
        day_end=day_end,
        household_full_at_day_end=native,
        rules=Rules.NATIVE if native else Rules.PYMFM,
        efficiency=EfficiencyModel.TEXTBOOK if native else EfficiencyModel.PYMFM,
    )


_BATTERY_FIELDS = {
    "id": "id",
    "capacity_kwh": "bat_capacity_kWh",
    "charge_max_kw": "P_ch_max_kW",
    "discharge_max_kw": "P_dis_max_kW",
    "soc_min_kwh": "min_SoC",
    "soc_max_kwh": "max_SoC",
    "soc_initial_kwh": "initial_SoC",
    "soc_final_kwh": "final_SoC",
    "charge_efficiency": "ch_efficiency",
    "discharge_efficiency": "dis_efficiency",
}


class _DocumentPaths:
    """Where a path of the scheduling problem (``$.net_upper_kw[3]``) is in the pymfm document
    (``$.P_net_after_kW_limitation[3].upper_bound``)."""

    def __init__(self, data: PymfmInput) -> None:
        assert data.generation_and_load is not None
        values = data.generation_and_load.values
        self._first = next(i for i, v in enumerate(values) if v.timestamp >= data.uc_start)
        self._times = [v.timestamp for v in _horizon(data)]
        self._limits = {
            limit.timestamp: j for j, limit in enumerate(data.P_net_after_kW_limitation or ())
        }

    def problem(self, problem: Problem) -> Problem:
        return Problem(self.path(problem.path), problem.code, problem.message)

    def path(self, path: str) -> str:
        name, _, rest = path.removeprefix("$.").partition(".")
        series, index = _indexed(name)
        values = "$.generation_and_load.values"
        if series in ("load_kw", "pv_kw"):
            field = "P_load_kW" if series == "load_kw" else "P_gen_kW"
            where = "*" if index is None else str(self._first + index)
            return f"{values}[{where}].{field}"
        if series in ("net_upper_kw", "net_lower_kw"):
            field = "upper_bound" if series == "net_upper_kw" else "lower_bound"
            j = None if index is None else self._limits.get(self._times[index])
            return f"$.P_net_after_kW_limitation[{'*' if j is None else j}].{field}"
        if series == "batteries" and index is not None:
            return f"$.battery_specs[{index}].{_BATTERY_FIELDS.get(rest, rest)}".rstrip(".")
        if series == "step":
            return f"{values}[{self._first + 1}].timestamp"
        if series == "bulk":
            return f"$.bulk.bulk_{rest}".replace("energy_kwh", "energy_kWh") if rest else "$.bulk"
        if series == "day_end":
            return "$.day_end"
        return "$"


def _indexed(name: str) -> tuple[str, int | None]:
    """``net_upper_kw[3]`` → (``net_upper_kw``, 3)."""
    head, _, tail = name.partition("[")
    return head, int(tail.rstrip("]")) if tail else None


# ----------------------------------------------------------------------- results


def _stamp(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _header(data: PymfmInput) -> dict[str, Any]:
    return {
        "id": data.id,
        "application": data.application,
        "control_logic": data.control_logic.value,
        "operation_mode": data.operation_mode.value,
    }


def _number(value: float) -> float | None:
    """Strict JSON: no NaN tokens (pymfm writes bare NaN for a missing bound)."""
    return None if np.isnan(value) else float(value)


def _reported_power(problem: BalancingProblem, schedule: Schedule) -> Array:
    """Battery power as pymfm reports it: charge·η_ch − discharge/η_dis, charging positive."""
    if problem.efficiency is not EfficiencyModel.PYMFM or schedule.method == "rules":
        return schedule.battery_kw
    eta_ch = np.array([b.charge_efficiency for b in problem.batteries])[:, None]
    eta_dis = np.array([b.discharge_efficiency for b in problem.batteries])[:, None]
    reported: Array = schedule.charge_kw * eta_ch - schedule.discharge_kw / eta_dis
    return reported


def schedule_output(
    data: PymfmInput, problem: BalancingProblem, schedule: Schedule
) -> dict[str, Any]:
    """pymfm's result document for a schedule, with the objective and the solve status."""
    document = _header(data)
    document["uc_start"] = _stamp(data.uc_start)
    document["uc_end"] = _stamp(data.uc_end)
    document["objective_value"] = schedule.objective
    document["solver_status"] = schedule.status
    if schedule.method != "rules":
        document["method"] = schedule.method
        document["gap"] = schedule.gap
    document["solve_seconds"] = round(schedule.seconds, 6)
    if schedule.conflicts:
        document["conflicts"] = [c.to_dict() for c in schedule.conflicts]
    if not schedule.feasible:
        document["results"] = []
        return document
    power = _reported_power(problem, schedule)
    optimised = schedule.method != "rules"
    # Optimisation reports the SoC at the start of each step, the rules at its end.
    soc = schedule.soc_kwh[:, :-1] if optimised else schedule.soc_kwh[:, 1:]
    capacity = np.array([b.capacity_kwh for b in problem.batteries])[:, None]
    soc_pct = 100 * soc / capacity
    net_before = problem.net_before_kw
    upper = (
        problem.net_upper_kw if problem.net_upper_kw is not None else np.full(problem.steps, np.nan)
    )
    lower = (
        problem.net_lower_kw if problem.net_lower_kw is not None else np.full(problem.steps, np.nan)
    )
    records = []
    for k, instant in enumerate(problem.times()):
        record: dict[str, Any] = {"P_net_before_kW": float(net_before[k])}
        if optimised:
            record["P_net_before_controlled_PV_kW"] = float(problem.load_kw[k] - schedule.pv_kw[k])
            record["P_PV_forecast_kW"] = float(problem.pv_kw[k])
            record["P_PV_controlled_kW"] = float(schedule.pv_kw[k])
        record["P_net_after_kW"] = float(schedule.net_kw[k])
        if optimised:
            record["upperb"] = _number(upper[k])
            record["lowerb"] = _number(lower[k])
        for n, battery in enumerate(problem.batteries):
            record[f"P_{battery.id}_kW"] = float(power[n, k])
            record[f"SoC_{battery.id}_%"] = float(soc_pct[n, k])
        if optimised:
            record["P_bat_total_kW"] = float(power[:, k].sum())
        record["timestamp"] = _stamp(instant)
        records.append(record)
    document["results"] = records
    return document


def near_real_time(data: PymfmInput, *, native: bool = False) -> dict[str, Any]:
    """pymfm's near-real-time result: the battery set-point for one measurement."""
    request = data.measurements_request
    assert request is not None
    spec = data.battery_specs[0]
    battery = _battery(spec, 0, None)
    model = EfficiencyModel.TEXTBOOK if native else EfficiencyModel.PYMFM
    step = rule_step(
        battery,
        energy_kwh=battery.soc_initial_kwh,
        net_kw=request.P_net_meas_kW,
        request_kw=request.P_req_kW or 0.0,
        step_h=request.delta_T_h,
        efficiency=model,
    )
    document = _header(data)
    document.update(
        {
            "timestamp": request.timestamp.astimezone(UTC).isoformat(),
            "initial_SoC_bat_%": spec.initial_SoC,
            "SoC_bat_%": 100 * step.energy_kwh / battery.capacity_kwh,
            "P_bat_kW": step.battery_kw,
            "P_net_meas_kW": request.P_net_meas_kW,
            "P_net_after_kW": step.deviation_kw + 0.0,
            "solver_status": "applied",
        }
    )
    return document
