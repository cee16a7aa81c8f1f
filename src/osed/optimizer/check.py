"""An independent check of a schedule against its problem, without the solver.

Recomputes the SoC recursion, the power balance, every limit and requirement (and pymfm's
operating rules when the problem keeps them) from the schedule's own numbers, and returns a
list of violations (empty when the schedule is valid).
"""

from __future__ import annotations

import numpy as np

from osed.optimizer.model import bulk_steps, household_target, soc_coefficients, target_index
from osed.optimizer.problem import BalancingProblem, BatteryKind, EfficiencyModel, Rules
from osed.optimizer.schedule import Schedule, objective_value


def check_schedule(
    problem: BalancingProblem, schedule: Schedule, *, tolerance: float = 1e-6
) -> list[str]:
    issues: list[str] = []
    tol = tolerance
    scale = 1.0 + float(np.abs(problem.load_kw).max(initial=0.0) + problem.pv_kw.max(initial=0.0))

    def expect(condition: object, message: str) -> None:
        if not bool(condition):
            issues.append(message)

    ch, dis, soc = schedule.charge_kw, schedule.discharge_kw, schedule.soc_kwh
    imp, exp, pv = schedule.import_kw, schedule.export_kw, schedule.pv_kw
    balance = imp - exp + pv + dis.sum(axis=0) - ch.sum(axis=0) - problem.load_kw
    expect(np.abs(balance).max(initial=0.0) <= tol * scale, "power balance violated")
    expect(imp.min(initial=0.0) >= -tol and exp.min(initial=0.0) >= -tol, "negative import/export")
    expect(np.minimum(imp, exp).max(initial=0.0) <= tol * scale, "imports and exports at once")
    expect(pv.min(initial=0.0) >= -tol and (pv <= problem.pv_kw + tol).all(), "PV outside forecast")
    if not problem.pv_curtailable:
        expect(np.allclose(pv, problem.pv_kw, atol=tol), "PV curtailed though not allowed")

    per_charge, per_discharge = soc_coefficients(problem)
    for n, battery in enumerate(problem.batteries):
        name = battery.id
        expect(abs(soc[n, 0] - battery.soc_initial_kwh) <= tol, f"{name}: initial SoC moved")
        step = soc[n, :-1] + per_charge[n] * ch[n] - per_discharge[n] * dis[n]
        expect(
            np.abs(soc[n, 1:] - step).max(initial=0.0) <= tol * (1 + battery.capacity_kwh),
            f"{name}: SoC recursion broken",
        )
        expect(soc[n].min() >= battery.soc_min_kwh - tol, f"{name}: SoC below its minimum")
        expect(soc[n].max() <= battery.soc_max_kwh + tol, f"{name}: SoC above its maximum")
        expect(
            ch[n].min() >= -tol and ch[n].max() <= battery.charge_max_kw + tol,
            f"{name}: charge power outside its limit",
        )
        expect(
            dis[n].min() >= -tol and dis[n].max() <= battery.discharge_max_kw + tol,
            f"{name}: discharge power outside its limit",
        )
        expect(
            np.minimum(ch[n], dis[n]).max(initial=0.0) <= tol * scale,
            f"{name}: charges and discharges at once",
        )
        target = household_target(problem, n)
        if target is not None:
            index = target_index(problem, battery.kind)
            expect(
                abs(soc[n, index] - target) <= tol * (1 + battery.capacity_kwh),
                f"{name}: SoC target missed",
            )

    upper, lower = problem.net_upper_kw, problem.net_lower_kw
    net = imp - exp
    if upper is not None:
        expect(np.all(np.isnan(upper) | (net <= upper + tol)), "net power above its upper bound")
    if lower is not None:
        expect(np.all(np.isnan(lower) | (net >= lower - tol)), "net power below its lower bound")

    if problem.bulk is not None:
        window = bulk_steps(problem)
        if problem.efficiency is EfficiencyModel.PYMFM:
            delivered = per_discharge @ dis[:, window].sum(axis=1)
            delivered -= per_charge @ ch[:, window].sum(axis=1)
        else:
            delivered = problem.step_h * float(dis[:, window].sum() - ch[:, window].sum())
        expect(
            abs(delivered + problem.bulk.energy_kwh) <= tol * (1 + abs(problem.bulk.energy_kwh)),
            "bulk energy missed",
        )

    if problem.rules is Rules.PYMFM:
        net_before = problem.net_before_kw
        deficit, surplus = net_before >= 0, net_before <= 0
        expect(ch[:, deficit].max(initial=0.0) <= tol, "pymfm rules: charging in a deficit step")
        eta = np.array([b.charge_efficiency for b in problem.batteries])
        from_surplus = (ch / eta[:, None]).sum(axis=0) if ch.size else np.zeros(problem.steps)
        expect(
            np.all(from_surplus[surplus] <= -net_before[surplus] + tol),
            "pymfm rules: charging beyond the surplus",
        )
        expect(imp[surplus].max(initial=0.0) <= tol, "pymfm rules: import in a surplus step")
        expect(
            np.all(imp[deficit] <= net_before[deficit] + tol),
            "pymfm rules: import above the deficit",
        )
        for n, battery in enumerate(problem.batteries):
            if battery.kind is BatteryKind.HOUSEHOLD:
                expect(dis[n].max(initial=0.0) <= tol, f"{battery.id}: household discharges")

    if schedule.objective is not None:
        recomputed = objective_value(problem, imp, exp)
        expect(
            abs(recomputed - schedule.objective) <= 1e-6 * (1 + abs(recomputed)),
            "objective does not match the schedule",
        )
    return issues
