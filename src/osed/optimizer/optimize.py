"""Optimisation-based scheduling: the balancing problem solved by HiGHS.

The LP comes first. A battery that charges and discharges in the same step is harmless when
both efficiencies are 1 (the two are netted afterwards, nothing changes); otherwise the LP
may have used it to lose energy on purpose (or, under pymfm's efficiency convention, to gain
it), so the problem is solved again as a MILP with a binary per battery and step, within the
time budget. An LP answer without simultaneous charge and discharge is optimal for the MILP
too, since the LP is its relaxation. An infeasible problem is handed to :mod:`diagnose`.
Every phase checks the deadline first; HiGHS gets what is left of it.
"""

from __future__ import annotations

import numpy as np

from osed.optimizer.budget import Deadline, time_limit_message
from osed.optimizer.diagnose import diagnose
from osed.optimizer.highs import Solution, SolveStatus, solve
from osed.optimizer.model import Layout, build, import_export_binaries_needed
from osed.optimizer.problem import BalancingProblem
from osed.optimizer.schedule import Conflict, Schedule, empty_schedule, objective_value
from osed.optimizer.validate import check_problem

SIMULTANEOUS_KW = 1e-6
"""Charge and discharge both above this in one step count as simultaneous."""


def optimize(
    problem: BalancingProblem,
    *,
    time_limit_s: float = 60.0,
    mip_gap: float = 1e-4,
    deadline: Deadline | None = None,
) -> Schedule:
    """The optimal schedule of ``problem``, or one that says why there is none. ``deadline``
    (by default ``time_limit_s`` from now) bounds model building and solving."""
    deadline = deadline or Deadline(time_limit_s)
    check_problem(problem)
    started = deadline.elapsed()
    program, layout = build(problem)
    method = "milp" if program.has_integers() else "lp"
    if deadline.expired():
        return _out_of_time(problem, method, deadline, started)
    solution = solve(program, time_limit_s=deadline.solver_s())
    if solution.status is SolveStatus.OPTIMAL and _simultaneous(solution, layout):
        if _lossless(problem):
            solution = _netted(solution, layout)
        else:
            method = "milp"
            program, layout = build(problem, exclusive=True)
            if deadline.expired():
                return _out_of_time(problem, method, deadline, started)
            solution = solve(program, time_limit_s=deadline.solver_s(), mip_gap=mip_gap)
    seconds = deadline.elapsed() - started
    if solution.status is SolveStatus.INFEASIBLE:
        if deadline.expired():
            return empty_schedule(problem, "infeasible", method, seconds=seconds)
        conflicts = diagnose(problem, time_limit_s=deadline.solver_s())
        return empty_schedule(problem, "infeasible", method, conflicts, seconds)
    if solution.status is SolveStatus.FAILED:
        message = (
            f"HiGHS ended without a schedule ({solution.detail or 'no status'}); the problem's "
            "numbers may span too many orders of magnitude (efficiencies, sizes, powers)"
        )
        conflict = Conflict("solver", problem.id, message)
        return empty_schedule(problem, "failed", method, (conflict,), seconds)
    if solution.x.size == 0:  # the budget ended before any schedule was found
        return _out_of_time(problem, method, deadline, started)
    return _schedule(problem, solution, layout, method, seconds)


def _out_of_time(
    problem: BalancingProblem, method: str, deadline: Deadline, started: float
) -> Schedule:
    conflict = Conflict("time_limit", problem.id, time_limit_message(deadline.seconds))
    seconds = deadline.elapsed() - started
    return empty_schedule(problem, "time_limit", method, (conflict,), seconds)


def _simultaneous(solution: Solution, layout: Layout) -> bool:
    both = np.minimum(solution.x[layout.charge], solution.x[layout.discharge])
    return bool(both.size and both.max() > SIMULTANEOUS_KW)


def _lossless(problem: BalancingProblem) -> bool:
    return all(
        b.charge_efficiency == 1.0 and b.discharge_efficiency == 1.0 for b in problem.batteries
    )


def _netted(solution: Solution, layout: Layout) -> Solution:
    """Charge and discharge netted per step: with lossless batteries the SoC, the balance and
    every limit stay as they were."""
    x = solution.x.copy()
    both = np.minimum(x[layout.charge], x[layout.discharge])
    x[layout.charge] -= both
    x[layout.discharge] -= both
    return Solution(
        solution.status,
        x,
        solution.objective,
        solution.bound,
        solution.gap,
        solution.seconds,
        solution.mip,
    )


def _schedule(
    problem: BalancingProblem, solution: Solution, layout: Layout, method: str, seconds: float
) -> Schedule:
    x = solution.x
    imports, exports = x[layout.imports].copy(), x[layout.exports].copy()
    if not import_export_binaries_needed(problem).size:
        # Importing and exporting at once never pays here: net them (peaks only fall).
        both = np.minimum(imports, exports)
        imports -= both
        exports -= both
    imports = np.maximum(imports, 0.0)
    exports = np.maximum(exports, 0.0)
    objective = objective_value(problem, imports, exports)
    gap = solution.gap if solution.mip else 0.0
    bound = solution.bound if solution.mip else objective
    return Schedule(
        status=solution.status.value,
        method=method,
        pv_kw=x[layout.pv],
        import_kw=imports,
        export_kw=exports,
        charge_kw=np.maximum(x[layout.charge], 0.0),
        discharge_kw=np.maximum(x[layout.discharge], 0.0),
        soc_kwh=x[layout.soc],
        objective=objective,
        bound=bound,
        gap=gap,
        seconds=seconds,
    )
