"""Households of a fleet as one linear program, with or without the feeder caps.

Per household and step: charge c, discharge d, import, export (and the SoC at each step
boundary): imp − exp = L + c − d, s[k+1] = s[k] + Δt·(η_ch·c − d/η_dis). The caps are rows
over all households' imp − exp; without them the program is a set of independent blocks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from osed.optimizer.fleet_problem import Array, FleetProblem, FleetSchedule, household_cost
from osed.optimizer.highs import INF, LinearProgram, SolveStatus, solve

Index = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class FleetLayout:
    charge: Index  # (n, T)
    discharge: Index
    soc: Index  # (n, T + 1)
    imports: Index
    exports: Index
    caps: Index | None  # (T,) rows of the feeder caps


def build_fleet(
    problem: FleetProblem, households: Index | None = None, *, caps: bool = True
) -> tuple[LinearProgram, FleetLayout]:
    at = np.arange(problem.households) if households is None else households
    n, steps, dt = at.size, problem.steps, problem.step_h
    lp = LinearProgram()
    charge = lp.add_columns(n * steps, upper=np.repeat(problem.charge_max_kw[at], steps))
    discharge = lp.add_columns(
        n * steps,
        upper=np.repeat(problem.discharge_max_kw[at], steps),
        cost=dt * problem.cycling_cost,
    )
    lower = np.repeat(problem.soc_min_kwh[at, None], steps + 1, axis=1)
    upper = np.repeat(problem.soc_max_kwh[at, None], steps + 1, axis=1)
    lower[:, 0] = upper[:, 0] = problem.soc_initial_kwh[at]
    final = problem.soc_final_kwh[at]
    lower[:, -1] = np.where(np.isnan(final), lower[:, -1], np.maximum(final, lower[:, -1]))
    soc = lp.add_columns(n * (steps + 1), lower=lower.ravel(), upper=upper.ravel())
    imports = lp.add_columns(n * steps, cost=np.tile(dt * problem.import_price, n))
    exports = lp.add_columns(n * steps, cost=np.tile(-dt * problem.export_price, n))
    charge, discharge = charge.reshape(n, steps), discharge.reshape(n, steps)
    soc = soc.reshape(n, steps + 1)
    imports, exports = imports.reshape(n, steps), exports.reshape(n, steps)

    recursion = lp.add_rows(n * steps, lower=0.0, upper=0.0).reshape(n, steps)
    lp.add_entries(recursion, soc[:, 1:], 1.0)
    lp.add_entries(recursion, soc[:, :-1], -1.0)
    lp.add_entries(recursion, charge, -dt * problem.charge_efficiency[at, None])
    lp.add_entries(recursion, discharge, dt / problem.discharge_efficiency[at, None])
    load = problem.net_load_kw[at]
    balance = lp.add_rows(n * steps, lower=load.ravel(), upper=load.ravel()).reshape(n, steps)
    lp.add_entries(balance, imports, 1.0)
    lp.add_entries(balance, exports, -1.0)
    lp.add_entries(balance, charge, -1.0)
    lp.add_entries(balance, discharge, 1.0)
    cap_rows = None
    if caps:
        cap_rows = lp.add_rows(
            steps,
            lower=-np.where(
                np.isfinite(problem.feeder_export_max_kw), problem.feeder_export_max_kw, INF
            ),
            upper=np.where(
                np.isfinite(problem.feeder_import_max_kw), problem.feeder_import_max_kw, INF
            ),
        )
        lp.add_entries(np.broadcast_to(cap_rows, (n, steps)), imports, 1.0)
        lp.add_entries(np.broadcast_to(cap_rows, (n, steps)), exports, -1.0)
    return lp, FleetLayout(charge, discharge, soc, imports, exports, cap_rows)


def solve_monolithic(problem: FleetProblem, *, time_limit_s: float | None = None) -> FleetSchedule:
    """The whole fleet as one HiGHS LP: the reference the decomposition is checked against."""
    problem.check()
    started = time.perf_counter()
    program, layout = build_fleet(problem)
    solution = solve(program, time_limit_s=time_limit_s)
    seconds = time.perf_counter() - started
    if solution.x.size == 0:
        status = (
            "infeasible" if solution.status is SolveStatus.INFEASIBLE else solution.status.value
        )
        return FleetSchedule.empty(problem, status, "monolithic", seconds=seconds)
    x = solution.x
    schedule = _schedule_from(problem, x, layout, "monolithic", seconds)
    status = "optimal" if solution.status is SolveStatus.OPTIMAL else solution.status.value
    return FleetSchedule(
        status,
        "monolithic",
        schedule.charge_kw,
        schedule.discharge_kw,
        schedule.soc_kwh,
        schedule.import_kw,
        schedule.export_kw,
        schedule.objective,
        schedule.objective,
        0.0,
        seconds,
        0,
    )


def _schedule_from(
    problem: FleetProblem, x: Array, layout: FleetLayout, method: str, seconds: float
) -> FleetSchedule:
    imports, exports = x[layout.imports], x[layout.exports]
    both = np.minimum(imports, exports)  # never pays: import price ≥ export price
    imports, exports = np.maximum(imports - both, 0.0), np.maximum(exports - both, 0.0)
    discharge = np.maximum(x[layout.discharge], 0.0)
    objective = float(household_cost(problem, imports, exports, discharge).sum())
    return FleetSchedule(
        "optimal",
        method,
        np.maximum(x[layout.charge], 0.0),
        discharge,
        x[layout.soc],
        imports,
        exports,
        objective,
        objective,
        0.0,
        seconds,
        0,
    )
