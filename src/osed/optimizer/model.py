"""The balancing problem as a linear program: columns, rows and where each lives.

Per step t: PV output, import, export (and the import excess for peak shaving); per battery
and step: charge, discharge, and the state of charge at each step boundary (T + 1 values,
the first fixed to the initial SoC); two peak columns. Rows: the power balance, the SoC
recursion, net-power bounds, peaks, the targets (final SoC, household SoC at ``day_end``,
bulk energy) and, under pymfm's rules, charging only from surplus.

``exclusive=True`` adds a binary per battery and step so that a battery never charges and
discharges at once (a MILP). ``elastic=True`` lets every requirement (targets, bulk,
net-power bounds) be missed at a cost and drops the objective: the solution then says which
requirements conflict and by how much.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from osed.optimizer.highs import INF, LinearProgram
from osed.optimizer.problem import (
    Array,
    BalancingProblem,
    BatteryKind,
    EfficiencyModel,
    Objective,
    Rules,
)

Index = NDArray[np.int64]

# Peak shaving as one LP: energy above the limit dominates, then the peak, then interaction.
EXCESS_WEIGHT = 1e3
INTERACTION_TIEBREAK = 1e-3


@dataclass(frozen=True, slots=True)
class Requirement:
    """A requirement that may be missed in the elastic program: its slack columns."""

    kind: str  # "final_soc", "day_end_soc", "bulk", "net_upper", "net_lower"
    subject: str  # a battery id, "bulk", or a step number
    step: int | None
    target: float
    short: int
    """Slack column: how much the value falls short of the target (or exceeds an upper bound)."""
    over: int | None
    """Slack column: how much the value exceeds the target (equalities only)."""


@dataclass(frozen=True, slots=True)
class Layout:
    pv: Index
    imports: Index
    exports: Index
    charge: Index  # (B, T)
    discharge: Index  # (B, T)
    soc: Index  # (B, T + 1)
    peak_import: int
    peak_export: int
    excess: Index | None
    charging: Index | None  # (B, T) binaries when exclusive
    importing: Index | None  # (T,) binaries where export pays more than import costs
    requirements: tuple[Requirement, ...]


def soc_coefficients(problem: BalancingProblem) -> tuple[Array, Array]:
    """kWh of SoC per kW of charge and per kW of discharge over one step, per battery."""
    eta_ch = np.array([b.charge_efficiency for b in problem.batteries])
    eta_dis = np.array([b.discharge_efficiency for b in problem.batteries])
    dt = problem.step_h
    if problem.efficiency is EfficiencyModel.PYMFM:
        return dt / eta_ch, dt * eta_dis
    return dt * eta_ch, dt / eta_dis


def bulk_steps(problem: BalancingProblem) -> Index:
    """Steps whose start lies within the bulk window, both ends included."""
    if problem.bulk is None:
        return np.empty(0, dtype=np.int64)
    k = np.arange(problem.steps)
    first = problem.step_index(problem.bulk.start)
    last = problem.step_index(problem.bulk.end)
    return k[(k >= first - 1e-9) & (k <= last + 1e-9)]


def target_index(problem: BalancingProblem, kind: BatteryKind) -> int:
    """The SoC boundary where a battery's target applies."""
    if kind is BatteryKind.HOUSEHOLD and problem.day_end is not None:
        return round(problem.step_index(problem.day_end))
    # pymfm checks the final SoC at the start of the last step.
    return problem.steps - 1 if problem.rules is Rules.PYMFM else problem.steps


def household_target(problem: BalancingProblem, index: int) -> float | None:
    battery = problem.batteries[index]
    if battery.soc_final_kwh is not None:
        return battery.soc_final_kwh
    if battery.kind is BatteryKind.HOUSEHOLD and problem.household_full_at_day_end:
        return battery.soc_max_kwh
    return None


def import_export_binaries_needed(problem: BalancingProblem) -> Index:
    """Steps where exporting pays more than importing costs: only there can an LP gain by
    importing and exporting at once."""
    spec = problem.objective
    if spec.kind is not Objective.COST or spec.import_price is None or spec.export_price is None:
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero(spec.export_price > spec.import_price + 1e-12)


def build(
    problem: BalancingProblem, *, exclusive: bool = False, elastic: bool = False
) -> tuple[LinearProgram, Layout]:
    lp = LinearProgram()
    steps, count = problem.steps, len(problem.batteries)
    dt = problem.step_h
    net_before = problem.net_before_kw
    pymfm_rules = problem.rules is Rules.PYMFM
    deficit = net_before >= 0.0
    surplus = net_before <= 0.0

    pv = lp.add_columns(
        steps,
        lower=0.0 if problem.pv_curtailable else problem.pv_kw,
        upper=problem.pv_kw,
    )
    import_upper = np.full(steps, INF)
    if pymfm_rules:
        import_upper = np.where(deficit, net_before, INF)
        import_upper = np.where(surplus, 0.0, import_upper)
    imports = lp.add_columns(steps, upper=import_upper)
    exports = lp.add_columns(steps)

    charge_max = np.array([[b.charge_max_kw] for b in problem.batteries]).reshape(count, 1)
    discharge_max = np.array([[b.discharge_max_kw] for b in problem.batteries]).reshape(count, 1)
    charge_upper = np.broadcast_to(charge_max, (count, steps)).copy()
    discharge_upper = np.broadcast_to(discharge_max, (count, steps)).copy()
    if pymfm_rules:
        charge_upper[:, deficit] = 0.0
        for n, battery in enumerate(problem.batteries):
            if battery.kind is BatteryKind.HOUSEHOLD:
                discharge_upper[n, :] = 0.0
    charge = lp.add_columns(count * steps, upper=charge_upper.ravel()).reshape(count, steps)
    discharge = lp.add_columns(count * steps, upper=discharge_upper.ravel()).reshape(count, steps)
    soc_lower = np.array([b.soc_min_kwh for b in problem.batteries])
    soc_upper = np.array([b.soc_max_kwh for b in problem.batteries])
    lower = np.repeat(soc_lower[:, None], steps + 1, axis=1)
    upper = np.repeat(soc_upper[:, None], steps + 1, axis=1)
    initial = np.array([b.soc_initial_kwh for b in problem.batteries])
    lower[:, 0] = upper[:, 0] = initial
    soc = lp.add_columns(count * (steps + 1), lower=lower.ravel(), upper=upper.ravel()).reshape(
        count, steps + 1
    )
    peak_import = int(lp.add_columns(1)[0])
    peak_export = int(lp.add_columns(1)[0])

    # Power balance: import − export + PV + Σ discharge − Σ charge = load.
    balance = lp.add_rows(steps, lower=problem.load_kw, upper=problem.load_kw)
    lp.add_entries(balance, imports, 1.0)
    lp.add_entries(balance, exports, -1.0)
    lp.add_entries(balance, pv, 1.0)
    lp.add_entries(np.broadcast_to(balance, (count, steps)), discharge, 1.0)
    lp.add_entries(np.broadcast_to(balance, (count, steps)), charge, -1.0)

    # SoC recursion: soc[k+1] − soc[k] − a·charge + b·discharge = 0.
    per_charge, per_discharge = soc_coefficients(problem)
    recursion = lp.add_rows(count * steps, lower=0.0, upper=0.0).reshape(count, steps)
    lp.add_entries(recursion, soc[:, 1:], 1.0)
    lp.add_entries(recursion, soc[:, :-1], -1.0)
    lp.add_entries(recursion, charge, -per_charge[:, None])
    lp.add_entries(recursion, discharge, per_discharge[:, None])

    # Peaks.
    peaks = lp.add_rows(steps, upper=0.0)
    lp.add_entries(peaks, imports, 1.0)
    lp.add_entries(peaks, np.full(steps, peak_import), -1.0)
    peaks = lp.add_rows(steps, upper=0.0)
    lp.add_entries(peaks, exports, 1.0)
    lp.add_entries(peaks, np.full(steps, peak_export), -1.0)

    if pymfm_rules and count:
        # Batteries charge only from the surplus of the step (before curtailment).
        rows_at = np.flatnonzero(surplus)
        eta_ch = np.array([b.charge_efficiency for b in problem.batteries])
        rows = lp.add_rows(rows_at.size, upper=-net_before[rows_at])
        lp.add_entries(
            np.broadcast_to(rows, (count, rows_at.size)), charge[:, rows_at], 1.0 / eta_ch[:, None]
        )

    requirements: list[Requirement] = []

    def requirement(
        kind: str, subject: str, step: int | None, target: float, equality: bool
    ) -> tuple[int, int | None]:
        """Slack columns for one requirement row (none unless elastic)."""
        if not elastic:
            return -1, None
        short = int(lp.add_columns(1, cost=1.0)[0])
        over = int(lp.add_columns(1, cost=1.0)[0]) if equality else None
        requirements.append(Requirement(kind, subject, step, target, short, over))
        return short, over

    def slack_entries(row: int, short: int, over: int | None, sign: float = 1.0) -> None:
        if short >= 0:
            lp.add_entries(np.array([row]), np.array([short]), sign)
        if over is not None:
            lp.add_entries(np.array([row]), np.array([over]), -sign)

    # Net-power bounds: lower ≤ import − export ≤ upper, where given (one row per bound).
    for bounds, kind in ((problem.net_upper_kw, "net_upper"), (problem.net_lower_kw, "net_lower")):
        if bounds is None:
            continue
        at = np.flatnonzero(~np.isnan(bounds))
        values = bounds[at]
        if kind == "net_upper":
            rows = lp.add_rows(at.size, upper=values)
        else:
            rows = lp.add_rows(at.size, lower=values)
        lp.add_entries(rows, imports[at], 1.0)
        lp.add_entries(rows, exports[at], -1.0)
        if elastic:
            shorts = lp.add_columns(at.size, cost=1.0)
            lp.add_entries(rows, shorts, -1.0 if kind == "net_upper" else 1.0)
            requirements.extend(
                Requirement(kind, str(int(k)), int(k), float(value), int(short), None)
                for k, value, short in zip(at, values, shorts, strict=True)
            )

    # SoC targets.
    for n, battery in enumerate(problem.batteries):
        target = household_target(problem, n)
        if target is None:
            continue
        index = target_index(problem, battery.kind)
        kind = "day_end_soc" if battery.kind is BatteryKind.HOUSEHOLD else "final_soc"
        row = int(lp.add_rows(1, lower=target, upper=target)[0])
        lp.add_entries(np.array([row]), np.array([soc[n, index]]), 1.0)
        short, over = requirement(kind, battery.id, index, target, equality=True)
        slack_entries(row, short, over)

    # Bulk energy: Σ (b·discharge − a·charge) over the window = −energy.
    if problem.bulk is not None and count:
        window = bulk_steps(problem)
        if problem.efficiency is EfficiencyModel.PYMFM:
            in_charge, in_discharge = per_charge, per_discharge
        else:
            in_charge = in_discharge = np.full(count, dt)
        energy = problem.bulk.energy_kwh
        row = int(lp.add_rows(1, lower=-energy, upper=-energy)[0])
        rows = np.full((count, window.size), row)
        lp.add_entries(rows, discharge[:, window], in_discharge[:, None])
        lp.add_entries(rows, charge[:, window], -in_charge[:, None])
        # Delivering is the negative sign: "short" means less delivered than asked.
        short, over = requirement("bulk", "bulk", None, energy, equality=True)
        slack_entries(row, short, over, -1.0)

    excess = _objective(
        lp,
        problem,
        imports=imports,
        exports=exports,
        peak_import=peak_import,
        peak_export=peak_export,
        elastic=elastic,
    )

    charging = None
    if exclusive and count:
        charging = lp.add_columns(count * steps, upper=1.0, integer=True).reshape(count, steps)
        rows = lp.add_rows(count * steps, upper=0.0).reshape(count, steps)
        lp.add_entries(rows, charge, 1.0)
        lp.add_entries(rows, charging, -charge_upper)
        rows = lp.add_rows(count * steps, upper=discharge_upper.ravel()).reshape(count, steps)
        lp.add_entries(rows, discharge, 1.0)
        lp.add_entries(rows, charging, discharge_upper)

    importing = None
    at = import_export_binaries_needed(problem)
    if at.size and not elastic:
        big = float(np.abs(problem.load_kw).max() + problem.pv_kw.max())
        big += float(charge_max.sum() + discharge_max.sum()) + 1.0
        importing = lp.add_columns(at.size, upper=1.0, integer=True)
        rows = lp.add_rows(at.size, upper=0.0)
        lp.add_entries(rows, imports[at], 1.0)
        lp.add_entries(rows, importing, -big)
        rows = lp.add_rows(at.size, upper=big)
        lp.add_entries(rows, exports[at], 1.0)
        lp.add_entries(rows, importing, big)

    layout = Layout(
        pv,
        imports,
        exports,
        charge,
        discharge,
        soc,
        peak_import,
        peak_export,
        excess,
        charging,
        importing,
        tuple(requirements),
    )
    return lp, layout


def _objective(
    lp: LinearProgram,
    problem: BalancingProblem,
    *,
    imports: Index,
    exports: Index,
    peak_import: int,
    peak_export: int,
    elastic: bool,
) -> Index | None:
    """Set the costs of the objective chosen; returns the excess columns of peak shaving."""
    if elastic:
        return None  # only the requirement slacks cost
    spec = problem.objective
    dt = problem.step_h
    set_cost = lp.set_cost
    if spec.kind is Objective.GRID_INTERACTION:
        set_cost(imports, 1.0)
        set_cost(exports, 1.0)
        set_cost(peak_import, spec.peak_weight)
        set_cost(peak_export, spec.peak_weight)
        return None
    if spec.kind is Objective.COST:
        assert spec.import_price is not None
        assert spec.export_price is not None
        set_cost(imports, dt * spec.import_price)
        set_cost(exports, -dt * spec.export_price)
        set_cost(peak_import, spec.demand_charge)
        return None
    assert spec.capacity_kw is not None
    excess = lp.add_columns(problem.steps, cost=dt * EXCESS_WEIGHT)
    rows = lp.add_rows(problem.steps, upper=spec.capacity_kw)
    lp.add_entries(rows, imports, 1.0)
    lp.add_entries(rows, excess, -1.0)
    set_cost(imports, INTERACTION_TIEBREAK)
    set_cost(exports, INTERACTION_TIEBREAK)
    set_cost(peak_import, spec.peak_weight)
    return excess
