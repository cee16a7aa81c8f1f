"""Fleet scheduling by Dantzig–Wolfe decomposition, with a proven optimality gap.

The feeder caps are the only rows that couple households. Relaxing them with multipliers ν
(per step, per kW) leaves one small LP per household: its bill plus ν·(its net power). The
households are priced in blocks (one HiGHS model per block of ``block_size`` households, kept
between iterations, so each re-solve starts from the last basis: only costs change).

- The master LP chooses, per household, a convex combination of the schedules found so far
  (columns) under the caps. Each household's feasible set is convex, so the combination is a
  feasible schedule: the master's optimum is an upper bound. Its cap duals are the next ν.
- The Lagrangian value at ν (the households' best responses minus ν·caps) is a lower bound.
- Stop when (upper − lower)/|upper| ≤ ``gap``, or at the time budget with the best schedule.

Artificial columns with a large cost keep the master feasible before enough columns exist;
a schedule is returned only once they are zero.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import highspy
import numpy as np

from osed.optimizer.fleet_model import build_fleet
from osed.optimizer.fleet_problem import Array, FleetProblem, FleetSchedule, household_cost
from osed.optimizer.highs import to_highs_lp

ARTIFICIAL_WEIGHT = 1e4
"""Cost of a kW·step of cap violation, in units of the largest per-step import price."""


class BlockPricer:
    """A block of households without the caps: their best responses to the multipliers."""

    def __init__(self, problem: FleetProblem, households: np.ndarray) -> None:
        self.households = households
        program, self.layout = build_fleet(problem, households, caps=False)
        self.highs = highspy.Highs()  # type: ignore[no-untyped-call]
        self.highs.setOptionValue("output_flag", False)
        self.highs.setOptionValue("threads", 1)
        # Re-solves start from the last basis; presolve would throw it away.
        self.highs.setOptionValue("presolve", "off")
        self.highs.passModel(to_highs_lp(program))
        dt = problem.step_h
        n = households.size
        self._columns = np.concatenate([self.layout.imports.ravel(), self.layout.exports.ravel()])
        self._import_cost = np.tile(dt * problem.import_price, n)
        self._export_cost = np.tile(-dt * problem.export_price, n)

    def respond(self, multipliers: Array) -> tuple[Array, Array, float] | None:
        """Charge and discharge of each household (n, T) and the block's Lagrangian value
        (bills plus ν·net); None when a household has no feasible schedule."""
        n = self.households.size
        nu = np.tile(multipliers, n)
        costs = np.concatenate([self._import_cost + nu, self._export_cost - nu])
        self.highs.changeColsCost(self._columns.size, self._columns, costs)
        self.highs.run()
        if self.highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        x = np.asarray(self.highs.getSolution().col_value)
        value = float(self.highs.getInfo().objective_function_value)
        return x[self.layout.charge], x[self.layout.discharge], value


@dataclass
class _Columns:
    """The schedules found so far: per column its household, charge and discharge."""

    household: list[np.ndarray] = field(default_factory=list)
    charge: list[Array] = field(default_factory=list)
    discharge: list[Array] = field(default_factory=list)

    def add(self, households: np.ndarray, charge: Array, discharge: Array) -> None:
        self.household.append(households)
        self.charge.append(charge)
        self.discharge.append(discharge)

    def stacked(self) -> tuple[np.ndarray, Array, Array]:
        return (
            np.concatenate(self.household),
            np.concatenate(self.charge),
            np.concatenate(self.discharge),
        )


class Master:
    """The restricted master LP: convexity rows per household, the feeder cap rows."""

    def __init__(self, problem: FleetProblem) -> None:
        self.problem = problem
        n, steps = problem.households, problem.steps
        self.highs = highspy.Highs()  # type: ignore[no-untyped-call]
        self.highs.setOptionValue("output_flag", False)
        self.highs.setOptionValue("threads", 1)
        # Re-solves start from the last basis; new columns keep it primal feasible.
        self.highs.setOptionValue("presolve", "off")
        self.highs.setOptionValue("solver", "simplex")
        self.highs.setOptionValue("simplex_strategy", 4)  # primal
        inf = highspy.kHighsInf
        upper = np.where(
            np.isfinite(problem.feeder_import_max_kw), problem.feeder_import_max_kw, inf
        )
        lower = -np.where(
            np.isfinite(problem.feeder_export_max_kw), problem.feeder_export_max_kw, inf
        )
        self.highs.addRows(
            n, np.ones(n), np.ones(n), 0, np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0)
        )
        self.highs.addRows(
            steps, lower, upper, 0, np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0)
        )
        # Artificial columns: cap violation at a high price, so the master is always feasible.
        weight = ARTIFICIAL_WEIGHT * (
            float(np.abs(problem.import_price).max()) * problem.step_h + 1.0
        )
        rows = n + np.arange(steps, dtype=np.int32)
        for sign in (-1.0, 1.0):
            self.highs.addCols(
                steps,
                np.full(steps, weight),
                np.zeros(steps),
                np.full(steps, inf),
                steps,
                np.arange(steps, dtype=np.int32),
                rows,
                np.full(steps, sign),
            )
        self.artificials = 2 * steps
        self.columns = 0

    def add(self, households: np.ndarray, cost: Array, net: Array) -> None:
        """Columns: household ``households[j]`` with bill ``cost[j]`` and net power ``net[j]``."""
        count, steps = net.shape
        n = self.problem.households
        rows = np.concatenate(
            [households[:, None], n + np.arange(steps)[None, :].repeat(count, 0)], axis=1
        )
        values = np.concatenate([np.ones((count, 1)), net], axis=1)
        keep = values != 0.0
        sizes = keep.sum(axis=1)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int32)
        self.highs.addCols(
            count,
            cost,
            np.zeros(count),
            np.full(count, highspy.kHighsInf),
            int(sizes.sum()),
            starts,
            rows[keep].astype(np.int32),
            values[keep],
        )
        self.columns += count

    def solve(self) -> tuple[float, Array, Array, Array, float]:
        """Objective, column weights, convexity duals, cap duals, artificial use (kW·steps)."""
        self.highs.run()
        solution = self.highs.getSolution()
        x = np.asarray(solution.col_value)
        duals = np.asarray(solution.row_dual)
        n = self.problem.households
        objective = float(self.highs.getInfo().objective_function_value)
        artificial = float(x[: self.artificials].sum())
        return objective, x[self.artificials :], duals[:n], duals[n:], artificial


def solve_fleet(
    problem: FleetProblem,
    *,
    time_limit_s: float = 10.0,
    gap: float = 1e-3,
    block_size: int = 50,
    max_iterations: int = 500,
) -> FleetSchedule:
    """The fleet's schedule within ``gap`` of optimal (proven), or the best one found when the
    time budget ends first."""
    problem.check()
    started = time.perf_counter()
    n, steps = problem.households, problem.steps
    order = np.arange(n)
    pricers = [BlockPricer(problem, order[i : i + block_size]) for i in range(0, n, block_size)]
    master = Master(problem)
    columns = _Columns()
    finite_import = np.where(
        np.isfinite(problem.feeder_import_max_kw), problem.feeder_import_max_kw, 0.0
    )
    finite_export = np.where(
        np.isfinite(problem.feeder_export_max_kw), problem.feeder_export_max_kw, 0.0
    )
    multipliers = np.zeros(steps)
    convexity = np.full(n, np.inf)
    best_lower, upper, weights = -np.inf, np.inf, np.empty(0)
    artificial = np.inf
    iteration = 0
    status = "time_limit"
    while iteration < max_iterations:
        iteration += 1
        lagrangian = -(
            np.maximum(multipliers, 0.0) @ finite_import
            + np.maximum(-multipliers, 0.0) @ finite_export
        )
        fresh_households, fresh_charge, fresh_discharge = [], [], []
        for pricer in pricers:
            response = pricer.respond(multipliers)
            if response is None:
                return _infeasible(problem, pricer.households, started, iteration)
            charge, discharge, value = response
            lagrangian += value
            fresh_households.append(pricer.households)
            fresh_charge.append(charge)
            fresh_discharge.append(discharge)
        households = np.concatenate(fresh_households)
        charge, discharge = np.concatenate(fresh_charge), np.concatenate(fresh_discharge)
        imports, exports = _split(problem.net_load_kw[households] + charge - discharge)
        cost = _bills(problem, imports, exports, discharge)
        net = imports - exports
        best_lower = max(best_lower, lagrangian)  # valid for any multipliers
        reduced = cost + net @ multipliers - convexity[households]
        new = reduced < -1e-9 * (1.0 + np.abs(cost))
        if new.any():
            master.add(households[new], cost[new], net[new])
            columns.add(households[new], charge[new], discharge[new])
        upper, weights, convexity, cap_duals, artificial = master.solve()
        multipliers = -cap_duals
        if artificial <= 1e-9 and np.isfinite(best_lower):
            current_gap = (upper - best_lower) / max(abs(upper), 1e-9)
            if current_gap <= gap:
                status = "optimal"
                break
        if not new.any() and artificial > 1e-9:
            return _infeasible(problem, None, started, iteration)
        if time.perf_counter() - started > time_limit_s:
            break
    if artificial > 1e-9:
        return _infeasible(problem, None, started, iteration, timed_out=True)
    return _recover(
        problem,
        columns,
        weights=weights,
        lower=best_lower,
        status=status,
        started=started,
        iterations=iteration,
    )


def _bills(problem: FleetProblem, imports: Array, exports: Array, discharge: Array) -> Array:
    """Bills of the households of these rows (the same prices for all)."""
    return household_cost(problem, imports, exports, discharge)


def _split(net: Array) -> tuple[Array, Array]:
    return np.maximum(net, 0.0), np.maximum(-net, 0.0)


def _recover(
    problem: FleetProblem,
    columns: _Columns,
    *,
    weights: Array,
    lower: float,
    status: str,
    started: float,
    iterations: int,
) -> FleetSchedule:
    """The master's convex combination as one schedule per household."""
    households, charge, discharge = columns.stacked()
    n, steps = problem.households, problem.steps
    mixed_charge = np.zeros((n, steps))
    mixed_discharge = np.zeros((n, steps))
    np.add.at(mixed_charge, households, weights[:, None] * charge)
    np.add.at(mixed_discharge, households, weights[:, None] * discharge)
    imports, exports = _split(problem.net_load_kw + mixed_charge - mixed_discharge)
    soc = np.empty((n, steps + 1))
    soc[:, 0] = problem.soc_initial_kwh
    gain = problem.step_h * (
        problem.charge_efficiency[:, None] * mixed_charge
        - mixed_discharge / problem.discharge_efficiency[:, None]
    )
    soc[:, 1:] = problem.soc_initial_kwh[:, None] + np.cumsum(gain, axis=1)
    objective = float(household_cost(problem, imports, exports, mixed_discharge).sum())
    bound = min(lower, objective)
    return FleetSchedule(
        status,
        "decomposition",
        mixed_charge,
        mixed_discharge,
        soc,
        imports,
        exports,
        objective,
        bound,
        (objective - bound) / max(abs(objective), 1e-9),
        time.perf_counter() - started,
        iterations,
    )


def _infeasible(
    problem: FleetProblem,
    households: np.ndarray | None,
    started: float,
    iterations: int,
    *,
    timed_out: bool = False,
) -> FleetSchedule:
    if timed_out:
        report: tuple[str, ...] = ("the caps were not yet met when the time budget ended",)
        status = "time_limit"
    else:
        report, status = tuple(_diagnose(problem, households)), "infeasible"
    seconds = time.perf_counter() - started
    return FleetSchedule.empty(
        problem, status, "decomposition", seconds=seconds, iterations=iterations, report=report
    )


def _diagnose(problem: FleetProblem, households: np.ndarray | None) -> list[str]:
    """Plain reasons: a household that cannot reach its final SoC, a step where even the
    whole fleet's power cannot keep the feeder within a cap."""
    reasons = []
    reach = np.minimum(
        problem.soc_initial_kwh
        + problem.step_h * problem.steps * problem.charge_efficiency * problem.charge_max_kw,
        problem.soc_max_kwh,
    )
    short = ~np.isnan(problem.soc_final_kwh) & (reach < problem.soc_final_kwh - 1e-9)
    for i in np.flatnonzero(short)[:20]:
        reasons.append(
            f"household {i}: final SoC {problem.soc_final_kwh[i]:.6g} kWh is out of reach "
            f"(at most {reach[i]:.6g} kWh by the end)"
        )
    lowest = (problem.net_load_kw - problem.discharge_max_kw[:, None]).sum(axis=0)
    highest = (problem.net_load_kw + problem.charge_max_kw[:, None]).sum(axis=0)
    for t in np.flatnonzero(lowest > problem.feeder_import_max_kw + 1e-9)[:20]:
        reasons.append(
            f"step {t}: the feeder imports at least {lowest[t]:.6g} kW even with every battery "
            f"discharging at full power, above the cap of {problem.feeder_import_max_kw[t]:.6g} kW"
        )
    for t in np.flatnonzero(-highest > problem.feeder_export_max_kw + 1e-9)[:20]:
        reasons.append(
            f"step {t}: the feeder exports at least {-highest[t]:.6g} kW even with every battery "
            f"charging at full power, above the cap of {problem.feeder_export_max_kw[t]:.6g} kW"
        )
    if not reasons:
        reasons.append(
            "the caps cannot be met together with the batteries' energy limits "
            "(SoC windows and targets over the horizon)"
        )
    del households
    return reasons
