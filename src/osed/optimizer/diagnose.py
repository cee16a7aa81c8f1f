"""Why a balancing problem has no schedule: the requirements that cannot hold together.

The elastic program (:func:`osed.optimizer.model.build` with ``elastic=True``) may miss every
requirement (SoC targets, bulk energy, net-power bounds) at a cost of one per kWh or kW
missed and has no other objective, so its optimum misses as little as possible. The
requirements it still misses are the conflict; each is reported with the amount, and with
what limited it (charging only from surplus, household batteries that never discharge).
"""

from __future__ import annotations

import numpy as np

from osed.optimizer.highs import SolveStatus, solve
from osed.optimizer.model import Requirement, build
from osed.optimizer.problem import BalancingProblem, BatteryKind, Rules
from osed.optimizer.schedule import Conflict

MISSED = 1e-6


def diagnose(
    problem: BalancingProblem, *, time_limit_s: float | None = None
) -> tuple[Conflict, ...]:
    program, layout = build(problem, elastic=True)
    solution = solve(program, time_limit_s=time_limit_s)
    if solution.status is not SolveStatus.OPTIMAL:
        return (
            Conflict(
                "input",
                problem.id,
                "no schedule exists and the requirements alone do not explain it "
                f"(the relaxed problem is {solution.status.value})",
            ),
        )
    x = solution.x
    conflicts = [
        _describe(problem, requirement, float(x[requirement.short]), _over(x, requirement))
        for requirement in layout.requirements
        if x[requirement.short] > MISSED or _over(x, requirement) > MISSED
    ]
    if not conflicts:
        return (Conflict("input", problem.id, "infeasible, but no requirement is missed"),)
    return tuple(conflicts)


def _over(x: np.ndarray, requirement: Requirement) -> float:
    return 0.0 if requirement.over is None else float(x[requirement.over])


def _describe(
    problem: BalancingProblem, requirement: Requirement, short: float, over: float
) -> Conflict:
    times = [*problem.times(), problem.start + problem.steps * problem.step]
    when = None if requirement.step is None else times[requirement.step].isoformat()
    kind = requirement.kind
    if kind in ("final_soc", "day_end_soc"):
        battery = next(b for b in problem.batteries if b.id == requirement.subject)
        target_pct = 100 * requirement.target / battery.capacity_kwh
        missed = short if short > MISSED else -over
        reached_pct = 100 * (requirement.target - missed) / battery.capacity_kwh
        where = "by day end" if kind == "day_end_soc" else "at the end"
        direction = "reach" if missed > 0 else "come down to"
        why = _why_soc(problem, battery.kind, missed > 0)
        message = (
            f"battery {battery.id} cannot {direction} {target_pct:.4g} % SoC {where} ({when}): "
            f"{abs(missed):.6g} kWh {'short' if missed > 0 else 'too much'}, "
            f"best reachable {reached_pct:.4g} %{why}"
        )
        return Conflict(kind, battery.id, message, when, requirement.target, missed)
    if kind == "bulk":
        assert problem.bulk is not None
        missed = short if short > MISSED else -over
        verb = "deliver" if requirement.target < 0 else "absorb"
        message = (
            f"the batteries cannot {verb} {abs(requirement.target):.6g} kWh between "
            f"{problem.bulk.start.isoformat()} and {problem.bulk.end.isoformat()}: "
            f"missed by {abs(missed):.6g} kWh within the other requirements"
        )
        return Conflict(kind, "bulk", message, None, requirement.target, missed)
    side = "at or below its upper" if kind == "net_upper" else "at or above its lower"
    message = (
        f"net power at {when} cannot stay {side} bound of {requirement.target:.6g} kW: "
        f"missed by {short:.6g} kW with the load, PV and batteries available"
    )
    if problem.rules is Rules.PYMFM and kind == "net_lower":
        message += " (batteries charge only from surplus, after their charging losses)"

    return Conflict(kind, requirement.subject, message, when, requirement.target, short)


def _why_soc(problem: BalancingProblem, kind: BatteryKind, charging: bool) -> str:
    if problem.rules is not Rules.PYMFM:
        return ""
    if charging:
        surplus = np.maximum(-problem.net_before_kw, 0.0).sum() * problem.step_h
        return (
            f"; batteries charge only from surplus (pymfm rules) and the horizon's whole "
            f"surplus is {surplus:.6g} kWh"
        )
    if kind is BatteryKind.HOUSEHOLD:
        return "; household batteries never discharge under pymfm rules"
    return ""
