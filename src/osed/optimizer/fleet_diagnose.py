"""Plain reasons why a fleet problem has no feasible schedule, from necessary conditions."""

from __future__ import annotations

import numpy as np

from osed.optimizer.fleet_problem import MAX_REPORTED, FleetProblem

TOLERANCE = 1e-9


def infeasibility_report(problem: FleetProblem, *, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The failed necessary conditions, or ``extra`` (or a general reason) when none fails:
    then it is the energy over the horizon that is short."""
    reasons = failed_conditions(problem)
    if reasons:
        return tuple(reasons)
    return extra or (
        "no single step or household is at fault: the caps cannot be met together with the "
        "batteries' energy limits (SoC windows and final targets) over the horizon",
    )


def failed_conditions(problem: FleetProblem) -> list[str]:
    """Households whose final SoC is out of reach or whose meter limit cannot be kept, steps
    where even the whole fleet at full power cannot meet a feeder cap (cheap, vectorised)."""
    p = problem
    reasons: list[str] = []
    reach = np.minimum(
        p.soc_initial_kwh + p.steps * p.dt_h * p.charge_efficiency * p.charge_max_kw,
        p.soc_max_kwh,
    )
    for i in np.flatnonzero(reach < p.final_soc_kwh - TOLERANCE)[:MAX_REPORTED]:
        reasons.append(
            f"household {i}: final SoC {p.final_soc_kwh[i]:.6g} kWh is out of reach "
            f"(at most {reach[i]:.6g} kWh by the end of the horizon)"
        )
    lowest = p.net_load_kw - p.discharge_max_kw[:, None]  # every battery discharging fully
    highest = p.net_load_kw + p.charge_max_kw[:, None]
    over = lowest > p.meter_import_kw[:, None] + TOLERANCE
    under = highest < -p.meter_export_kw[:, None] - TOLERANCE
    for i, t in np.argwhere(over)[:MAX_REPORTED]:
        reasons.append(
            f"household {i}, step {t}: imports at least {lowest[i, t]:.6g} kW with its battery "
            f"discharging fully, above its meter limit of {p.meter_import_kw[i]:.6g} kW"
        )
    for i, t in np.argwhere(under)[:MAX_REPORTED]:
        reasons.append(
            f"household {i}, step {t}: exports at least {-highest[i, t]:.6g} kW with its battery "
            f"charging fully, above its meter limit of {p.meter_export_kw[i]:.6g} kW"
        )
    feeder_low = np.maximum(lowest, -p.meter_export_kw[:, None]).sum(axis=0)
    feeder_high = np.minimum(highest, p.meter_import_kw[:, None]).sum(axis=0)
    for t in np.flatnonzero(feeder_low > p.feeder_import_max_kw + TOLERANCE)[:MAX_REPORTED]:
        reasons.append(
            f"step {t}: the feeder imports at least {feeder_low[t]:.6g} kW even with every "
            f"battery discharging at full power, above its cap of "
            f"{p.feeder_import_max_kw[t]:.6g} kW"
        )
    for t in np.flatnonzero(-feeder_high > p.feeder_export_max_kw + TOLERANCE)[:MAX_REPORTED]:
        reasons.append(
            f"step {t}: the feeder exports at least {-feeder_high[t]:.6g} kW even with every "
            f"battery charging at full power, above its cap of "
            f"{p.feeder_export_max_kw[t]:.6g} kW"
        )
    return reasons
