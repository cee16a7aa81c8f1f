"""An independent check of a fleet schedule: every constraint and the objective recomputed
from the schedule's arrays alone, without any solver."""

from __future__ import annotations

import numpy as np

from osed.optimizer.fleet_problem import Array, FleetProblem, FleetSchedule, household_costs


def check_schedule(problem: FleetProblem, schedule: FleetSchedule, tol: float = 1e-6) -> list[str]:
    """Every violation larger than ``tol`` (relative to 1 + the magnitude involved), each
    naming its worst household and step; empty when the schedule is feasible and consistent."""
    p, s = problem, schedule
    n, t = p.households, p.steps
    shapes = [s.charge_kw, s.discharge_kw, s.import_kw, s.export_kw]
    if any(a.shape != (n, t) for a in shapes) or s.soc_kwh.shape != (n, t + 1):
        return [f"arrays do not have the shapes ({n}, {t}) and ({n}, {t + 1})"]
    if not all(np.isfinite(a).all() for a in [*shapes, s.soc_kwh]):
        return [f"no schedule (status {s.status})"]
    issues: list[str] = []

    def over(excess: Array, scale: Array | float, what: str) -> None:
        """Report ``what`` where ``excess`` > tol·(1 + scale)."""
        relative = excess / (1.0 + np.abs(scale))
        if relative.size and relative.max() > tol:
            at = np.unravel_index(int(np.argmax(relative)), relative.shape)
            where = f"household {at[0]}, step {at[1]}" if len(at) == 2 else f"step {at[0]}"
            issues.append(f"{what} at {where} by {float(excess[at]):.3g}")

    c, d, soc, imp, exp = s.charge_kw, s.discharge_kw, s.soc_kwh, s.import_kw, s.export_kw
    load = p.net_load_kw
    over(np.abs(imp - exp - (load + c - d)), load, "household balance violated")
    for name, value in (("charge", c), ("discharge", d), ("import", imp), ("export", exp)):
        over(-value, 0.0, f"negative {name}")
    over(c - p.charge_max_kw[:, None], p.charge_max_kw[:, None], "charge above its limit")
    over(d - p.discharge_max_kw[:, None], p.discharge_max_kw[:, None], "discharge above its limit")
    over(imp - p.meter_import_kw[:, None], 0.0, "import above the meter limit")
    over(exp - p.meter_export_kw[:, None], 0.0, "export above the meter limit")
    stored = p.dt_h * (p.charge_efficiency[:, None] * c - d / p.discharge_efficiency[:, None])
    capacity = p.capacity_kwh[:, None]
    over(np.abs(soc[:, 1:] - soc[:, :-1] - stored), capacity, "SoC recursion broken")
    initial = np.abs(soc[:, :1] - p.soc_initial_kwh[:, None])
    over(np.pad(initial, ((0, 0), (0, 1))), capacity, "initial SoC moved")
    over(p.soc_min_kwh[:, None] - soc, capacity, "SoC below its minimum")
    over(soc - p.soc_max_kwh[:, None], capacity, "SoC above its maximum")
    final = p.final_soc_kwh[:, None] - soc[:, -1:]
    over(np.pad(final, ((0, 0), (0, 1))), capacity, "final SoC below its target")
    feeder = (imp - exp).sum(axis=0)
    for sign, cap, what in (
        (1.0, p.feeder_import_max_kw, "import"),
        (-1.0, p.feeder_export_max_kw, "export"),
    ):
        finite = np.isfinite(cap)
        excess = np.where(finite, sign * feeder - np.where(finite, cap, 0.0), 0.0)
        over(excess, np.where(finite, cap, 0.0), f"feeder {what} cap exceeded")
    recomputed = float(household_costs(p, imp, exp, d).sum())
    if abs(recomputed - s.objective) > tol * (1.0 + abs(recomputed)):
        issues.append(f"objective {s.objective:.9g} does not match the schedule ({recomputed:.9g})")
    if s.lower_bound > s.objective + tol * (1.0 + abs(s.objective)):
        issues.append(f"lower bound {s.lower_bound:.9g} above the objective {s.objective:.9g}")
    gap = (s.objective - s.lower_bound) / max(abs(s.objective), 1e-9)
    if not abs(gap - s.gap) <= tol * (1.0 + abs(gap)):
        issues.append(f"gap {s.gap:.6g} does not match objective and bound ({gap:.6g})")
    return issues
