"""The central DAC reference: one LP over every building's devices at once.

Without a target it minimises the area peak in the window (a column P ≥ Σ_b net_b,t there);
with ``target_peak_kw`` it minimises the tariff cost with Σ_b net_b,t ≤ target in the window.
The game's outcome is measured against it (tests and the benchmark); the EDC never needs it.

It is solved by HiGHS' interior point method without crossover: at 300 buildings × 96 steps in
4.5 s where the dual simplex took 55 s, and at 1,000 buildings in well under a minute where the
simplex did not finish in twelve; the peak is needed, not a vertex. Should the interior point
stop short of optimal, the simplex solves it from scratch.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import highspy
import numpy as np

from osed.buildings.device_lp import BlockModel, Index, block_model
from osed.buildings.devices_schema import Array, Building
from osed.gridfunctions.builtin._dac_document import DacProblem
from osed.optimizer.highs import INF, LinearProgram, pass_program
from osed.optimizer.highs_instance import quiet_highs

_OPTIMAL = highspy.HighsModelStatus.kOptimal


@dataclass(frozen=True, slots=True)
class CentralOptimum:
    status: str
    peak_kw: float
    """Max of the aggregate in the window (NaN without a solution)."""
    cost: float
    """Σ_b h·π·net_b under the tariff."""
    aggregate_kw: Array
    seconds: float


@dataclass(frozen=True, slots=True)
class Coupled:
    """Buildings' device LP with the area's coupling over the window."""

    model: BlockModel
    rows: Index
    """The coupling rows, one per window step."""
    inside: Index
    """The window's steps."""


def coupled_model(
    problem: DacProblem,
    buildings: Sequence[Building],
    *,
    peak_weight: float,
    target_kw: float | None,
    tariff: bool,
) -> Coupled:
    """Without ``target_kw``: a peak column P ≥ Σ_b net_b,t in the window, of cost
    ``peak_weight``; with it: Σ_b net_b,t ≤ target. ``tariff``: the nets keep their tariff cost
    (else the peak alone is minimised)."""
    steps, step_h = problem.steps, problem.step_h
    model = block_model(buildings, steps=steps, step_h=step_h, prices=problem.prices)
    program = model.program
    inside = np.flatnonzero(problem.window)
    if not tariff:
        program.set_cost(model.net.ravel(), 0.0)
    if target_kw is None:
        peak = program.add_columns(1, lower=-INF, upper=INF, cost=peak_weight)
        rows = program.add_rows(inside.size, upper=0.0)
        program.add_entries(rows, np.repeat(peak, inside.size), -1.0)
    else:
        rows = program.add_rows(inside.size, upper=target_kw)
    for i in range(model.net.shape[0]):
        program.add_entries(rows, model.net[i, inside], 1.0)
    return Coupled(model, rows, inside)


def solve_interior(
    program: LinearProgram, *, threads: int = 1, fall_back: bool = False
) -> tuple[highspy.Highs, highspy.HighsModelStatus]:
    """HiGHS' interior point without crossover (the optimum's value and duals are needed, not
    a vertex); with ``fall_back``, the simplex from scratch when it stops short."""
    highs = quiet_highs()
    highs.setOptionValue("threads", threads)
    highs.setOptionValue("solver", "ipm")
    highs.setOptionValue("run_crossover", "off")
    if not pass_program(highs, program):
        return highs, highspy.HighsModelStatus.kModelError
    highs.run()
    status = highs.getModelStatus()
    if fall_back and status not in (_OPTIMAL, highspy.HighsModelStatus.kInfeasible):
        highs.setOptionValue("solver", "simplex")
        highs.clearSolver()
        highs.run()
        status = highs.getModelStatus()
    return highs, status


def central_optimum(problem: DacProblem, *, threads: int = 1) -> CentralOptimum:
    started = time.perf_counter()
    target = problem.target_peak_kw
    coupled = coupled_model(
        problem, problem.buildings, peak_weight=1.0, target_kw=target, tariff=target is not None
    )
    model, inside = coupled.model, coupled.inside
    highs, status = solve_interior(model.program, threads=threads, fall_back=True)
    seconds = time.perf_counter() - started
    if status != _OPTIMAL:
        nothing = np.full(problem.steps, np.nan)
        named = "infeasible" if status == highspy.HighsModelStatus.kInfeasible else "failed"
        return CentralOptimum(named, np.nan, np.nan, nothing, seconds)
    x = np.asarray(highs.getSolution().col_value, dtype=float)
    nets = x[model.net]
    aggregate = nets.sum(axis=0)
    cost = float(problem.step_h * (nets @ problem.prices).sum())
    return CentralOptimum("optimal", float(aggregate[inside].max()), cost, aggregate, seconds)
