"""A fleet of household batteries behind their own meters, under shared feeder caps.

Household i has a net load L[i, t] (kW, + import, − export, PV netted) and one battery; it is
billed on its own meter at the import price p_imp[t] and the export price p_exp[t] ≤ p_imp[t]
per kWh. The feeder's net exchange Σ_i (import − export) stays within [−C_exp[t], C_imp[t]].
See docs/optimizer-fleet.md for the model.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import NDArray

from osed.domain.errors import Problem, ValidationError

Array = NDArray[np.float64]

HOUSEHOLD_FIELDS = (
    "capacity_kwh",
    "charge_max_kw",
    "discharge_max_kw",
    "charge_efficiency",
    "discharge_efficiency",
    "soc_min_kwh",
    "soc_max_kwh",
    "soc_initial_kwh",
    "soc_final_kwh",
    "meter_import_max_kw",
    "meter_export_max_kw",
)
STEP_FIELDS = ("import_price", "export_price", "feeder_import_max_kw", "feeder_export_max_kw")
MAX_REPORTED = 20
"""Problems of one kind reported per field: enough to see the pattern, not a flood."""


@dataclass(frozen=True, slots=True)
class FleetProblem:
    """Arrays are copied to read-only float64 on construction; :meth:`validate` checks them."""

    net_load_kw: Array  # (N, T)
    capacity_kwh: Array  # (N,)
    charge_max_kw: Array  # (N,)
    discharge_max_kw: Array  # (N,)
    charge_efficiency: Array  # (N,)
    discharge_efficiency: Array  # (N,)
    soc_min_kwh: Array  # (N,)
    soc_max_kwh: Array  # (N,)
    soc_initial_kwh: Array  # (N,)
    import_price: Array  # (T,) per kWh
    export_price: Array  # (T,) per kWh
    feeder_import_max_kw: Array  # (T,), inf: no cap
    feeder_export_max_kw: Array  # (T,), inf: no cap
    dt_h: float = 0.25
    soc_final_kwh: Array | None = None
    """(N,): SoC at the end ≥ this; NaN (or None for all): no target."""
    meter_import_max_kw: Array | None = None
    """(N,) connection limit of each meter; inf (or None for all): none."""
    meter_export_max_kw: Array | None = None
    cycling_cost: float = 1e-4
    """Per kWh discharged: keeps schedules free of pointless simultaneous charge/discharge."""

    def __post_init__(self) -> None:
        n = np.shape(self.net_load_kw)[0] if np.ndim(self.net_load_kw) == 2 else 0
        defaults = {
            "soc_final_kwh": np.nan,
            "meter_import_max_kw": np.inf,
            "meter_export_max_kw": np.inf,
        }
        for spec in fields(self):
            value = getattr(self, spec.name)
            if spec.name in defaults and value is None:
                value = np.full(n, defaults[spec.name])
            if spec.name in ("dt_h", "cycling_cost"):
                object.__setattr__(self, spec.name, float(value))
                continue
            array = np.array(value, dtype=np.float64)
            array.setflags(write=False)
            object.__setattr__(self, spec.name, array)

    @property
    def households(self) -> int:
        return int(self.net_load_kw.shape[0])

    @property
    def steps(self) -> int:
        return int(self.net_load_kw.shape[1])

    @property
    def final_soc_kwh(self) -> Array:
        """(N,) the end-of-horizon SoC floor: the target where given, else the window's floor."""
        target = self._filled("soc_final_kwh")
        floor: Array = np.where(np.isnan(target), self.soc_min_kwh, target)
        return np.maximum(floor, self.soc_min_kwh)

    @property
    def meter_import_kw(self) -> Array:
        return self._filled("meter_import_max_kw")

    @property
    def meter_export_kw(self) -> Array:
        return self._filled("meter_export_max_kw")

    def _filled(self, name: str) -> Array:
        value: Array | None = getattr(self, name)
        assert value is not None  # filled in __post_init__
        return value

    def validate(self) -> None:
        """Raise :class:`ValidationError` naming every problem, each with its path."""
        problems = _problems(self)
        if problems:
            raise ValidationError(problems, subject="fleet problem")


def _problems(p: FleetProblem) -> list[Problem]:
    out: list[Problem] = []
    if p.net_load_kw.ndim != 2 or 0 in p.net_load_kw.shape:
        out.append(Problem("$.net_load_kw", "shape", "must be households × steps, both ≥ 1"))
        return out
    n, t = p.net_load_kw.shape
    for name in HOUSEHOLD_FIELDS:
        if getattr(p, name).shape != (n,):
            out.append(Problem(f"$.households[*].{name}", "shape", f"needs {n} values"))
    for name in STEP_FIELDS:
        if getattr(p, name).shape != (t,):
            out.append(Problem(f"$.steps[*].{name}", "shape", f"needs {t} values"))
    if not (np.isfinite(p.dt_h) and p.dt_h > 0):
        out.append(Problem("$.dt_h", "not_positive", "the step length must be > 0 hours"))
    if not (np.isfinite(p.cycling_cost) and p.cycling_cost >= 0):
        out.append(Problem("$.cycling_cost", "negative", "must be finite and ≥ 0"))
    if out:
        return out  # values cannot be compared across arrays of the wrong shape

    def each(mask: NDArray[np.bool_], path: str, code: str, message: str) -> None:
        for k in np.flatnonzero(mask)[:MAX_REPORTED]:
            out.append(Problem(path.format(k=k), code, message))

    bad_load = ~np.isfinite(p.net_load_kw)
    for i, k in np.argwhere(bad_load)[:MAX_REPORTED]:
        out.append(Problem(f"$.households[{i}].net_load_kw[{k}]", "not_finite", "must be finite"))
    house = "$.households[{k}]."
    each(~(p.capacity_kwh > 0), house + "capacity_kwh", "not_positive", "must be > 0")
    finite_fields = HOUSEHOLD_FIELDS[:8]
    for name in finite_fields:
        each(~np.isfinite(getattr(p, name)), house + name, "not_finite", "must be finite")
    for name in ("charge_max_kw", "discharge_max_kw", "soc_min_kwh"):
        each(getattr(p, name) < 0, house + name, "negative", "must be ≥ 0")
    for name in ("charge_efficiency", "discharge_efficiency"):
        eta = getattr(p, name)
        each(~((eta > 0) & (eta <= 1)), house + name, "out_of_range", "must be in (0, 1]")
    each(
        p.soc_max_kwh > p.capacity_kwh,
        house + "soc_max_kwh",
        "above_capacity",
        "above the capacity",
    )
    each(p.soc_min_kwh > p.soc_max_kwh, house + "soc_min_kwh", "above_max", "above the SoC maximum")
    outside = (p.soc_initial_kwh < p.soc_min_kwh) | (p.soc_initial_kwh > p.soc_max_kwh)
    each(outside, house + "soc_initial_kwh", "outside_window", "outside the SoC window")
    final = p._filled("soc_final_kwh")
    each(final > p.soc_max_kwh, house + "soc_final_kwh", "above_max", "above the SoC maximum")
    for name in ("meter_import_max_kw", "meter_export_max_kw"):
        limit = p._filled(name)
        each(~(limit >= 0), house + name, "negative", "must be ≥ 0 (inf: no limit)")
    step = "$.steps[{k}]."
    for name in ("import_price", "export_price"):
        each(~np.isfinite(getattr(p, name)), step + name, "not_finite", "must be finite")
    each(
        p.export_price > p.import_price,
        step + "export_price",
        "above_import",
        "must not exceed the import price (it keeps the import/export split exact)",
    )
    for name in ("feeder_import_max_kw", "feeder_export_max_kw"):
        cap = getattr(p, name)
        each(~(cap >= 0), step + name, "negative", "must be ≥ 0 (inf: no cap)")
    return out


@dataclass(frozen=True, slots=True)
class FleetSchedule:
    """A schedule with its proven quality. Arrays are NaN when there is no schedule."""

    charge_kw: Array  # (N, T)
    discharge_kw: Array  # (N, T)
    soc_kwh: Array  # (N, T + 1): the initial SoC, then the SoC at the end of each step
    import_kw: Array  # (N, T)
    export_kw: Array  # (N, T)
    objective: float
    """Cost of this schedule (bills plus cycling cost)."""
    lower_bound: float
    """Proven: no feasible schedule costs less."""
    gap: float
    """(objective − lower_bound) / max(|objective|, 1e-9)."""
    status: str  # optimal, time_limit, infeasible, failed
    method: str
    seconds: float
    iterations: int
    report: tuple[str, ...] = ()
    """Why there is no schedule (infeasible, or the time budget ran out first)."""

    @property
    def feeder_net_kw(self) -> Array:
        """(T,) the feeder's net import."""
        net: Array = (self.import_kw - self.export_kw).sum(axis=0)
        return net

    @property
    def feasible(self) -> bool:
        return bool(np.isfinite(self.objective))


def household_bills(problem: FleetProblem, imports: Array, exports: Array) -> Array:
    """(n,) each household's bill on its own meter; rows may be any subset of households."""
    bills: Array = problem.dt_h * (imports @ problem.import_price - exports @ problem.export_price)
    return bills


def household_costs(
    problem: FleetProblem, imports: Array, exports: Array, discharge: Array
) -> Array:
    """(n,) each household's bill plus cycling cost; rows may be any subset of households."""
    cycling = problem.dt_h * problem.cycling_cost * discharge.sum(axis=1)
    cost: Array = household_bills(problem, imports, exports) + cycling
    return cost


def schedule_from_powers(
    problem: FleetProblem,
    charge: Array,
    discharge: Array,
    *,
    lower_bound: float,
    status: str,
    method: str,
    seconds: float,
    iterations: int,
) -> FleetSchedule:
    """The complete schedule implied by charge and discharge: meter split, SoC, objective.

    Import and export come from the balance (import − export = L + c − d, never both, which is
    cheapest because the import price is at least the export price); the SoC from the
    recursion. The lower bound is capped by the objective so that the gap is never negative.
    """
    charge, discharge = np.maximum(charge, 0.0), np.maximum(discharge, 0.0)
    net = problem.net_load_kw + charge - discharge
    imports, exports = np.maximum(net, 0.0), np.maximum(-net, 0.0)
    gain = problem.dt_h * (
        problem.charge_efficiency[:, None] * charge
        - discharge / problem.discharge_efficiency[:, None]
    )
    soc = np.empty((problem.households, problem.steps + 1))
    soc[:, 0] = problem.soc_initial_kwh
    soc[:, 1:] = problem.soc_initial_kwh[:, None] + np.cumsum(gain, axis=1)
    objective = float(household_costs(problem, imports, exports, discharge).sum())
    bound = min(lower_bound, objective)
    gap = (objective - bound) / max(abs(objective), 1e-9)
    return FleetSchedule(
        charge,
        discharge,
        soc,
        imports,
        exports,
        objective,
        bound,
        gap,
        status,
        method,
        seconds,
        iterations,
    )


def no_schedule(
    problem: FleetProblem,
    *,
    status: str,
    method: str,
    seconds: float,
    iterations: int = 0,
    report: tuple[str, ...] = (),
    lower_bound: float = -np.inf,
) -> FleetSchedule:
    """The answer when there is no schedule to return (infeasible, or out of time)."""
    shape = (problem.households, problem.steps)
    nothing = np.full(shape, np.nan)
    soc = np.full((shape[0], shape[1] + 1), np.nan)
    return FleetSchedule(
        nothing,
        nothing,
        soc,
        nothing,
        nothing,
        np.inf,
        lower_bound,
        np.inf,
        status,
        method,
        seconds,
        iterations,
        report,
    )
