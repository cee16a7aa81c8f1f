"""A fleet of household batteries behind their own meters, under shared feeder caps.

Household i has a net load L[i, t] (kW, import positive, PV netted) and a battery; it is
billed on its own meter at the import price a[t] and the export price b[t] ≤ a[t] per kWh.
The feeder's net exchange Σ_i (import − export) stays within [−C_exp[t], C_imp[t]].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from osed.domain.errors import Problem, ValidationError

Array = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class FleetProblem:
    net_load_kw: Array  # (N, T)
    capacity_kwh: Array  # (N,)
    charge_max_kw: Array
    discharge_max_kw: Array
    charge_efficiency: Array
    discharge_efficiency: Array
    soc_min_kwh: Array
    soc_max_kwh: Array
    soc_initial_kwh: Array
    soc_final_kwh: Array  # NaN: no target; otherwise the SoC at the end is at least this
    import_price: Array  # (T,) per kWh
    export_price: Array  # (T,)
    feeder_import_max_kw: Array  # (T,), inf: no cap
    feeder_export_max_kw: Array  # (T,)
    step_h: float = 0.25
    cycling_cost: float = 1e-4
    """Per kWh discharged: keeps schedules free of pointless cycling."""

    @property
    def households(self) -> int:
        return int(self.net_load_kw.shape[0])

    @property
    def steps(self) -> int:
        return int(self.net_load_kw.shape[1])

    def check(self) -> None:
        """Raise :class:`ValidationError` naming every inconsistency, with its path."""
        problems: list[Problem] = []
        n, t = self.net_load_kw.shape if self.net_load_kw.ndim == 2 else (0, 0)
        if self.net_load_kw.ndim != 2 or n == 0 or t == 0:
            problems.append(Problem("$.net_load_kw", "shape", "must be households × steps"))
            raise ValidationError(problems, subject="fleet problem")
        per_household = (
            "capacity_kwh",
            "charge_max_kw",
            "discharge_max_kw",
            "charge_efficiency",
            "discharge_efficiency",
            "soc_min_kwh",
            "soc_max_kwh",
            "soc_initial_kwh",
            "soc_final_kwh",
        )
        for name in per_household:
            values: Array = getattr(self, name)
            if values.shape != (n,):
                problems.append(Problem(f"$.{name}", "shape", f"needs {n} values"))
        per_step = ("import_price", "export_price", "feeder_import_max_kw", "feeder_export_max_kw")
        for name in per_step:
            values = getattr(self, name)
            if values.shape != (t,):
                problems.append(Problem(f"$.{name}", "shape", f"needs {t} values"))
        if problems:
            raise ValidationError(problems, subject="fleet problem")
        for k in np.flatnonzero(~np.isfinite(self.net_load_kw).all(axis=1))[:10]:
            problems.append(Problem(f"$.net_load_kw[{k}]", "not_finite", "must be finite"))
        for k in np.flatnonzero(self.capacity_kwh <= 0)[:10]:
            problems.append(Problem(f"$.capacity_kwh[{k}]", "not_positive", "must be > 0"))
        for name in ("charge_max_kw", "discharge_max_kw", "soc_min_kwh"):
            for k in np.flatnonzero(~(getattr(self, name) >= 0))[:10]:
                problems.append(Problem(f"$.{name}[{k}]", "negative", "must be ≥ 0"))
        for name in ("charge_efficiency", "discharge_efficiency"):
            eta = getattr(self, name)
            for k in np.flatnonzero(~((eta > 0) & (eta <= 1)))[:10]:
                problems.append(Problem(f"$.{name}[{k}]", "out_of_range", "must be in (0, 1]"))
        window = (self.soc_min_kwh <= self.soc_initial_kwh) & (
            self.soc_initial_kwh <= self.soc_max_kwh
        )
        window &= self.soc_max_kwh <= self.capacity_kwh
        for k in np.flatnonzero(~window)[:10]:
            problems.append(
                Problem(f"$.soc_initial_kwh[{k}]", "outside_window", "outside [min, max]")
            )
        final = self.soc_final_kwh
        for k in np.flatnonzero(~np.isnan(final) & (final > self.soc_max_kwh))[:10]:
            problems.append(Problem(f"$.soc_final_kwh[{k}]", "above_max", "above the maximum"))
        for k in np.flatnonzero(~(self.import_price >= self.export_price))[:10]:
            problems.append(
                Problem(f"$.export_price[{k}]", "above_import", "must not exceed the import price")
            )
        for name in ("import_price", "export_price"):
            for k in np.flatnonzero(~np.isfinite(getattr(self, name)))[:10]:
                problems.append(Problem(f"$.{name}[{k}]", "not_finite", "must be finite"))
        for name in ("feeder_import_max_kw", "feeder_export_max_kw"):
            for k in np.flatnonzero(~(getattr(self, name) >= 0))[:10]:
                problems.append(Problem(f"$.{name}[{k}]", "negative", "must be ≥ 0 (inf: none)"))
        if not (self.step_h > 0 and np.isfinite(self.step_h)):
            problems.append(Problem("$.step_h", "not_positive", "must be > 0"))
        if problems:
            raise ValidationError(problems, subject="fleet problem")


@dataclass(frozen=True, slots=True)
class FleetSchedule:
    status: str  # optimal, time_limit, infeasible
    method: str  # monolithic, decomposition
    charge_kw: Array  # (N, T)
    discharge_kw: Array
    soc_kwh: Array  # (N, T + 1)
    import_kw: Array  # (N, T)
    export_kw: Array
    objective: float
    lower_bound: float
    gap: float
    seconds: float
    iterations: int
    report: tuple[str, ...] = ()

    @classmethod
    def empty(
        cls,
        problem: FleetProblem,
        status: str,
        method: str,
        *,
        seconds: float,
        iterations: int = 0,
        report: tuple[str, ...] = (),
    ) -> FleetSchedule:
        """No schedule: infeasible, or the budget ended before one was found."""
        nothing = np.full((problem.households, problem.steps), np.nan)
        soc = np.full((problem.households, problem.steps + 1), np.nan)
        return cls(
            status,
            method,
            nothing,
            nothing,
            soc,
            nothing,
            nothing,
            np.nan,
            np.nan,
            np.inf,
            seconds,
            iterations,
            report,
        )

    @property
    def feeder_net_kw(self) -> Array:
        net: Array = (self.import_kw - self.export_kw).sum(axis=0)
        return net


def household_cost(
    problem: FleetProblem, imports: Array, exports: Array, discharge: Array
) -> Array:
    """Each household's bill (plus cycling cost) for the schedule."""
    dt = problem.step_h
    bill: Array = dt * (imports @ problem.import_price - exports @ problem.export_price)
    bill += dt * problem.cycling_cost * discharge.sum(axis=1)
    return bill


def check_fleet_schedule(
    problem: FleetProblem, schedule: FleetSchedule, *, tolerance: float = 1e-6
) -> list[str]:
    """Every constraint recomputed from the schedule, independently of any solver."""
    issues: list[str] = []
    tol = tolerance
    c, d, s = schedule.charge_kw, schedule.discharge_kw, schedule.soc_kwh
    imp, exp = schedule.import_kw, schedule.export_kw
    dt = problem.step_h
    scale = 1.0 + float(np.abs(problem.net_load_kw).max())
    if np.abs(imp - exp - (problem.net_load_kw + c - d)).max() > tol * scale:
        issues.append("household balance violated")
    if min(c.min(), d.min(), imp.min(), exp.min()) < -tol:
        issues.append("negative power")
    if (c > problem.charge_max_kw[:, None] + tol).any():
        issues.append("charge above its limit")
    if (d > problem.discharge_max_kw[:, None] + tol).any():
        issues.append("discharge above its limit")
    step = s[:, :-1] + dt * (
        problem.charge_efficiency[:, None] * c - d / problem.discharge_efficiency[:, None]
    )
    if np.abs(s[:, 1:] - step).max() > tol * (1 + problem.capacity_kwh.max()):
        issues.append("SoC recursion broken")
    if np.abs(s[:, 0] - problem.soc_initial_kwh).max() > tol:
        issues.append("initial SoC moved")
    if (s < problem.soc_min_kwh[:, None] - tol).any() or (
        s > problem.soc_max_kwh[:, None] + tol
    ).any():
        issues.append("SoC outside its window")
    target = ~np.isnan(problem.soc_final_kwh)
    if (
        s[target, -1] < problem.soc_final_kwh[target] - tol * (1 + problem.capacity_kwh.max())
    ).any():
        issues.append("final SoC below its target")
    feeder = (imp - exp).sum(axis=0)
    if (feeder > problem.feeder_import_max_kw + tol * problem.households * scale).any():
        issues.append("feeder import cap exceeded")
    if (-feeder > problem.feeder_export_max_kw + tol * problem.households * scale).any():
        issues.append("feeder export cap exceeded")
    recomputed = float(household_cost(problem, imp, exp, d).sum())
    if abs(recomputed - schedule.objective) > 1e-6 * (1 + abs(recomputed)):
        issues.append("objective does not match the schedule")
    if schedule.lower_bound > schedule.objective + 1e-6 * (1 + abs(schedule.objective)):
        issues.append("lower bound above the objective")
    return issues
