"""Fleet scheduling by Dantzig–Wolfe column generation with a proven optimality gap.

The feeder caps are the only rows coupling households. Each iteration:

1. pricing (:mod:`fleet_pricing`): every household's best response to multipliers ν on the
   caps. Σ_i min(bill_i + ν·net_i) − ν⁺·C_imp − ν⁻·C_exp is the Lagrangian dual value at ν,
   a lower bound on the optimum for any ν of the right signs (weak duality);
2. the responses that improve the master (negative reduced cost) become its columns;
3. the master (:mod:`fleet_master`) mixes columns per household under the caps: a feasible
   schedule, an upper bound; its cap duals are the next ν.

ν is stabilised (Wentges smoothing): pricing uses α·ν_best + (1 − α)·ν_master, where ν_best
gave the best bound so far; this damps the master's oscillating duals and saves iterations.
It stops when (upper − lower)/|upper| ≤ gap, or returns the incumbent when the time budget
would be exceeded by another round. Large fleets start from the multipliers of a sample of
their households (:mod:`fleet_sample`), solved the same way first; each household's first
pricing solve starts from the final basis of the sample household most like it.
"""

from __future__ import annotations

import os
import time

import numpy as np

from osed.optimizer.fleet_diagnose import failed_conditions, infeasibility_report
from osed.optimizer.fleet_lp import Index
from osed.optimizer.fleet_master import Master, MasterSolution
from osed.optimizer.fleet_pricing import Bases, Pricer
from osed.optimizer.fleet_problem import (
    Array,
    FleetProblem,
    FleetSchedule,
    household_costs,
    no_schedule,
    schedule_from_powers,
)
from osed.optimizer.fleet_sample import most_alike, sample_fleet

METHOD = "decomposition"
BOX = 2.0
"""Priced ν stays within BOX·Δt·max|import price| of the best multipliers (per kW, per step)."""
SMOOTHING = 0.5
"""Wentges' α: the weight of the best-bound multipliers in the priced ν."""
SAMPLE_SHARE = 0.1
"""Fleets are first solved on this share of their households for starting multipliers ..."""
SMALLEST_SAMPLE = 50
"""... when that sample has at least this many households (smaller fleets start at ν = 0)."""
SAMPLE_TIME_SHARE = 0.25
"""The sample may use this share of the time budget ..."""
SAMPLE_GAP_SHARE = 0.2
"""... and is solved to this share of the fleet's gap: its rounds cost a tenth of the fleet's,
and multipliers nearer the optimum save the fleet rounds (10,000 households: 6 instead of 8)."""


class _Columns:
    """Every column's household, charge and discharge, in the order given to the master."""

    def __init__(self) -> None:
        self.household: list[Index] = []
        self.charge: list[Array] = []
        self.discharge: list[Array] = []

    def add(self, households: Index, charge: Array, discharge: Array) -> None:
        self.household.append(households)
        self.charge.append(charge)
        self.discharge.append(discharge)

    def mix(self, problem: FleetProblem, weights: Array) -> tuple[Array, Array]:
        """The master's convex combination: one charge and discharge profile per household."""
        shape = (problem.households, problem.steps)
        charge, discharge = np.zeros(shape), np.zeros(shape)
        households = np.concatenate(self.household)
        np.add.at(charge, households, weights[:, None] * np.concatenate(self.charge))
        np.add.at(discharge, households, weights[:, None] * np.concatenate(self.discharge))
        return charge, discharge


def solve_fleet(
    problem: FleetProblem,
    *,
    time_limit_s: float = 10.0,
    gap: float = 1e-3,
    block_size: int = 10,
    workers: int | None = None,
    max_iterations: int = 1000,
    sample_share: float = SAMPLE_SHARE,
) -> FleetSchedule:
    """A schedule within ``gap`` of the optimum (proven), or the best one found when another
    round would not fit in ``time_limit_s`` (status ``time_limit``).

    Fleets whose ``sample_share`` has at least ``SMALLEST_SAMPLE`` households start from the
    multipliers of that sample (solved the same way to a fifth of ``gap``, without a sample of
    its own); 0 turns this off."""
    problem.validate()
    schedule, _, _ = _solve(
        problem,
        time_limit_s=time_limit_s,
        gap=gap,
        block_size=block_size,
        workers=workers if workers is not None else min(4, os.cpu_count() or 1),
        max_iterations=max_iterations,
        sample_share=sample_share,
        keep_bases=False,
    )
    return schedule


def _solve(
    problem: FleetProblem,
    *,
    time_limit_s: float,
    gap: float,
    block_size: int,
    workers: int,
    max_iterations: int,
    sample_share: float,
    keep_bases: bool,
) -> tuple[FleetSchedule, Array, Bases | None]:
    """The schedule, the multipliers that gave its lower bound and, with ``keep_bases``, the
    households' final pricing bases (None when pricing never ran)."""
    started = time.perf_counter()
    reasons = failed_conditions(problem)
    if reasons:
        return _infeasible(problem, started, 0, tuple(reasons)), np.zeros(problem.steps), None
    initial, start = np.zeros(problem.steps), None
    size = int(sample_share * problem.households)
    if size >= SMALLEST_SAMPLE:
        sampled = sample_fleet(problem, size)
        sample, multipliers, bases = _solve(
            sampled,
            time_limit_s=SAMPLE_TIME_SHARE * time_limit_s,
            gap=SAMPLE_GAP_SHARE * gap,
            block_size=block_size,
            workers=workers,
            max_iterations=max_iterations,
            sample_share=0.0,
            keep_bases=True,
        )
        # An infeasible sample's multipliers were driven up to prove it: no guide for the fleet.
        if sample.status != "infeasible":
            initial = multipliers
            if bases is not None:
                start = bases.of(most_alike(problem, sampled))
    pricer = Pricer(problem, block_size=block_size, workers=workers, start=start)
    try:
        schedule, best = _generate(
            problem,
            pricer,
            started=started,
            time_limit_s=time_limit_s,
            gap=gap,
            max_iterations=max_iterations,
            initial_multipliers=initial,
        )
        return schedule, best, pricer.bases() if keep_bases else None
    finally:
        pricer.close()


def _generate(
    problem: FleetProblem,
    pricer: Pricer,
    *,
    started: float,
    time_limit_s: float,
    gap: float,
    max_iterations: int,
    initial_multipliers: Array,
) -> tuple[FleetSchedule, Array]:
    master, columns = Master(problem), _Columns()
    cap_import = np.where(
        np.isfinite(problem.feeder_import_max_kw), problem.feeder_import_max_kw, 0
    )
    cap_export = np.where(
        np.isfinite(problem.feeder_export_max_kw), problem.feeder_export_max_kw, 0
    )
    # ν may only be positive where there is an import cap, negative where an export cap.
    ceiling = np.where(np.isfinite(problem.feeder_import_max_kw), np.inf, 0.0)
    floor = np.where(np.isfinite(problem.feeder_export_max_kw), -np.inf, 0.0)
    lower, best_nu = -np.inf, np.zeros(problem.steps)
    duals: MasterSolution | None = None
    nu = np.clip(initial_multipliers, floor, ceiling)
    alpha, iteration, last_round = SMOOTHING, 0, 0.0
    box = BOX * problem.dt_h * float(np.abs(problem.import_price).max() + problem.cycling_cost)
    ceiling_cost, short_rounds = cost_ceiling(problem), 0
    status = "time_limit"
    while iteration < max_iterations:
        round_started = time.perf_counter()
        iteration += 1
        responses = pricer.respond(nu)
        if responses.infeasible.size:
            reasons = tuple(
                f"household {i} has no feasible schedule of its own (SoC window, final SoC "
                f"target and meter limits cannot all be met)"
                for i in responses.infeasible[:20]
            )
            return _infeasible(problem, started, iteration, reasons), best_nu
        value = responses.value - np.maximum(nu, 0) @ cap_import - np.maximum(-nu, 0) @ cap_export
        if value > lower:
            lower, best_nu = value, nu
        if lower > ceiling_cost + 1e-6 * (1.0 + abs(ceiling_cost)):
            # No schedule meeting the caps could cost this much: weak duality proves none.
            return _infeasible(problem, started, iteration, infeasibility_report(problem)), best_nu
        net = problem.net_load_kw + responses.charge - responses.discharge
        cost = household_costs(
            problem, np.maximum(net, 0.0), np.maximum(-net, 0.0), responses.discharge
        )
        everyone = np.arange(problem.households)
        if duals is None:
            improving = np.ones(problem.households, dtype=bool)
        else:
            reduced = master.reduced_costs(everyone, cost, net, duals)
            improving = reduced < -1e-9 * (1.0 + np.abs(cost))
        master.add(everyone[improving], cost[improving], net[improving])
        columns.add(
            everyone[improving], responses.charge[improving], responses.discharge[improving]
        )
        duals = master.solve()
        feasible = duals.violation.sum() <= 1e-9
        short_rounds = 0 if feasible else short_rounds + 1
        if feasible and (duals.objective - lower) <= gap * max(abs(duals.objective), 1e-9):
            status = "optimal"
            break
        if not improving.any():
            if alpha == 0.0:  # priced at the master's own duals: the master is optimal
                if not feasible:
                    return _infeasible(problem, started, iteration, _violated(duals)), best_nu
                status = "optimal"
                break
            alpha = 0.0  # a smoothed ν found nothing: price the master's duals next
        else:
            alpha = SMOOTHING
        last_round = time.perf_counter() - round_started
        if time.perf_counter() + last_round - started > time_limit_s:
            break
        if alpha == 0.0:
            nu = np.clip(duals.multipliers, floor, ceiling)  # exact: nothing new proves optimality
        else:
            nu = alpha * best_nu + (1.0 - alpha) * duals.multipliers
            # A box around the best multipliers: while artificials are in the master, its
            # duals carry their huge price, and responses to those would be useless (and slow).
            # The box doubles with every round the caps stay unmet, so that multipliers of an
            # infeasible fleet grow until their bound exceeds any feasible cost.
            reach = box * 2.0 ** max(short_rounds - 2, 0)
            nu = np.clip(np.clip(nu, best_nu - reach, best_nu + reach), floor, ceiling)
    assert duals is not None
    seconds = time.perf_counter() - started
    if duals.violation.sum() > 1e-9:
        return (
            no_schedule(
                problem,
                status="time_limit",
                method=METHOD,
                seconds=seconds,
                iterations=iteration,
                report=("the time budget ended before any schedule met the caps",),
                lower_bound=lower,
            ),
            best_nu,
        )
    charge, discharge = columns.mix(problem, duals.weights)
    return (
        schedule_from_powers(
            problem,
            charge,
            discharge,
            lower_bound=lower,
            status=status,
            method=METHOD,
            seconds=seconds,
            iterations=iteration,
        ),
        best_nu,
    )


def cost_ceiling(problem: FleetProblem) -> float:
    """More than any schedule can cost: every household at the costlier end of its net power
    range at every step (the bill is convex in the net power), discharging at full power."""
    p = problem
    low = np.maximum(p.net_load_kw - p.discharge_max_kw[:, None], -p.meter_export_kw[:, None])
    high = np.minimum(p.net_load_kw + p.charge_max_kw[:, None], p.meter_import_kw[:, None])

    def bill(net: Array) -> Array:
        cost: Array = p.import_price * np.maximum(net, 0) - p.export_price * np.maximum(-net, 0)
        return cost

    worst = (
        np.maximum(bill(low), bill(high)).sum()
        + p.cycling_cost * p.discharge_max_kw.sum() * p.steps
    )
    return float(p.dt_h * worst)


def _violated(duals: MasterSolution) -> tuple[str, ...]:
    steps = np.flatnonzero(duals.violation > 1e-9)
    listed = ", ".join(str(t) for t in steps[:20])
    return (
        f"the caps cannot be met at steps {listed}{' …' * (steps.size > 20)} together with "
        "the batteries' energy limits (SoC windows and final targets) over the horizon",
    )


def _infeasible(
    problem: FleetProblem, started: float, iterations: int, reasons: tuple[str, ...]
) -> FleetSchedule:
    return no_schedule(
        problem,
        status="infeasible",
        method=METHOD,
        seconds=time.perf_counter() - started,
        iterations=iterations,
        report=reasons or infeasibility_report(problem),
    )
