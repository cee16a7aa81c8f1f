"""The whole fleet as one HiGHS LP: the reference the decomposition is measured against."""

from __future__ import annotations

import time

import highspy
import numpy as np

from osed.optimizer.fleet_diagnose import infeasibility_report
from osed.optimizer.fleet_lp import Block, household_lp
from osed.optimizer.fleet_problem import (
    FleetProblem,
    FleetSchedule,
    no_schedule,
    schedule_from_powers,
)
from osed.optimizer.highs_instance import quiet_highs


def solve_monolithic(
    problem: FleetProblem, *, time_limit_s: float | None = None, threads: int = 1
) -> FleetSchedule:
    """Solve the LP with HiGHS (default strategy, ``threads`` threads); the optimum is its own
    lower bound. At the time limit there is no proven bound, so no schedule is returned."""
    problem.validate()
    started = time.perf_counter()
    highs = quiet_highs()
    highs.setOptionValue("threads", threads)
    if time_limit_s is not None:
        highs.setOptionValue("time_limit", float(time_limit_s))
    households = np.arange(problem.households)
    household_lp(problem, households, caps=True).pass_to(highs)
    highs.run()
    status = highs.getModelStatus()
    iterations = int(highs.getInfo().simplex_iteration_count)
    seconds = time.perf_counter() - started
    if status == highspy.HighsModelStatus.kOptimal:
        x = np.asarray(highs.getSolution().col_value)
        block = Block(problem.steps)
        return schedule_from_powers(
            problem,
            block.part(x, 0),
            block.part(x, 1),
            lower_bound=float(highs.getInfo().objective_function_value),
            status="optimal",
            method="monolithic",
            seconds=seconds,
            iterations=iterations,
        )
    if status == highspy.HighsModelStatus.kInfeasible:
        report = infeasibility_report(problem)
        return no_schedule(
            problem,
            status="infeasible",
            method="monolithic",
            seconds=seconds,
            iterations=iterations,
            report=report,
        )
    name = "time_limit" if status == highspy.HighsModelStatus.kTimeLimit else "failed"
    return no_schedule(
        problem,
        status=name,
        method="monolithic",
        seconds=seconds,
        iterations=iterations,
        report=(f"HiGHS stopped with {highs.modelStatusToString(status)}",),
    )
