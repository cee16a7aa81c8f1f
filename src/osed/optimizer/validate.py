"""Checks of a balancing problem before anything is solved: every problem, with its path."""

from __future__ import annotations

import math

import numpy as np

from osed.domain.errors import Problem, ValidationError
from osed.optimizer.problem import Array, BalancingProblem, Objective


def check_problem(problem: BalancingProblem) -> None:
    """Raise :class:`ValidationError` naming every inconsistency of ``problem``."""
    problems: list[Problem] = []
    steps = problem.steps

    def add(path: str, code: str, message: str) -> None:
        problems.append(Problem(path, code, message))

    if steps == 0:
        add("$.load_kw", "empty", "the horizon has no steps")
    if problem.step.total_seconds() <= 0:
        add("$.step", "not_positive", "the step must be positive")
    for name in ("load_kw", "pv_kw"):
        values: Array = getattr(problem, name)
        _series(values, f"$.{name}", steps, add, allow_nan=False)
    if np.any(problem.pv_kw < 0):
        add("$.pv_kw", "negative", "PV generation must not be negative")
    for name in ("net_upper_kw", "net_lower_kw"):
        bound: Array | None = getattr(problem, name)
        if bound is not None:
            _series(bound, f"$.{name}", steps, add, allow_nan=True)
    upper, lower = problem.net_upper_kw, problem.net_lower_kw
    if upper is not None and lower is not None and upper.shape == lower.shape:
        for k in np.flatnonzero(upper < lower):
            add(f"$.net_upper_kw[{k}]", "below_lower", f"upper bound {upper[k]} < lower {lower[k]}")

    seen: set[str] = set()
    for n, battery in enumerate(problem.batteries):
        path = f"$.batteries[{n}]"
        if battery.id in seen:
            add(f"{path}.id", "duplicate", f"battery id {battery.id!r} is used twice")
        seen.add(battery.id)
        for name in ("capacity_kwh",):
            if not _positive(getattr(battery, name)):
                add(f"{path}.{name}", "not_positive", "must be a positive number")
        for name in ("charge_max_kw", "discharge_max_kw", "soc_min_kwh"):
            if not _non_negative(getattr(battery, name)):
                add(f"{path}.{name}", "negative", "must be a number ≥ 0")
        for name in ("charge_efficiency", "discharge_efficiency"):
            eta = getattr(battery, name)
            if not (math.isfinite(eta) and 0 < eta <= 1):
                add(f"{path}.{name}", "out_of_range", f"efficiency {eta} must be in (0, 1]")
        low, high = battery.soc_min_kwh, battery.soc_max_kwh
        if not (math.isfinite(high) and high <= battery.capacity_kwh * (1 + 1e-12)):
            add(f"{path}.soc_max_kwh", "above_capacity", "maximum SoC exceeds the capacity")
        if low > high:
            add(f"{path}.soc_min_kwh", "above_max", "minimum SoC exceeds the maximum")
        if not (low - 1e-9 <= battery.soc_initial_kwh <= high + 1e-9):
            add(f"{path}.soc_initial_kwh", "outside_window", "initial SoC outside [min, max]")
        final = battery.soc_final_kwh
        if final is not None and not (low - 1e-9 <= final <= high + 1e-9):
            add(f"{path}.soc_final_kwh", "outside_window", "final SoC outside [min, max]")

    end = problem.start + steps * problem.step
    if problem.day_end is not None:
        index = problem.step_index(problem.day_end)
        if not (0 <= index <= steps) or abs(index - round(index)) > 1e-9:
            add("$.day_end", "off_grid", "day_end must be a step boundary within the horizon")
    if problem.bulk is not None:
        bulk = problem.bulk
        if bulk.end < bulk.start:
            add("$.bulk.end", "before_start", "the bulk window ends before it starts")
        if bulk.start < problem.start or bulk.end >= end:
            add("$.bulk", "outside_horizon", "the bulk window lies outside the horizon")
        if not math.isfinite(bulk.energy_kwh):
            add("$.bulk.energy_kwh", "not_finite", "must be a finite number")
        if not problem.batteries:
            add("$.bulk", "no_battery", "a bulk window needs at least one battery")

    spec = problem.objective
    if spec.kind is Objective.COST:
        for name in ("import_price", "export_price"):
            series: Array | None = getattr(spec, name)
            if series is None:
                add(f"$.objective.{name}", "missing", "the cost objective needs prices")
            else:
                _series(series, f"$.objective.{name}", steps, add, allow_nan=False)
    if spec.kind is Objective.PEAK_SHAVING:
        if spec.capacity_kw is None:
            add("$.objective.capacity_kw", "missing", "peak shaving needs a capacity limit")
        else:
            _series(spec.capacity_kw, "$.objective.capacity_kw", steps, add, allow_nan=False)
    if not (math.isfinite(spec.peak_weight) and spec.peak_weight >= 0):
        add("$.objective.peak_weight", "negative", "must be a number ≥ 0")
    if problems:
        raise ValidationError(problems, subject="balancing problem")


def _series(values: Array, path: str, steps: int, add: object, *, allow_nan: bool) -> None:
    assert callable(add)
    if values.shape != (steps,):
        add(path, "length", f"has {values.size} values, the horizon {steps} steps")
        return
    bad = ~np.isfinite(values)
    if allow_nan:
        bad &= ~np.isnan(values)
    for k in np.flatnonzero(bad)[:10]:
        add(f"{path}[{k}]", "not_finite", "must be a finite number")


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def _non_negative(value: float) -> bool:
    return math.isfinite(value) and value >= 0
