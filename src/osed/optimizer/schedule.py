"""A schedule: what the optimizer or the rules decided, step by step, with its figures."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from osed.optimizer.model import EXCESS_WEIGHT, INTERACTION_TIEBREAK
from osed.optimizer.problem import Array, BalancingProblem, Objective


@dataclass(frozen=True, slots=True)
class Conflict:
    """A requirement that cannot hold together with the others, and by how much it is missed."""

    # final_soc, day_end_soc, bulk, net_upper, net_lower, input, time_limit, solver
    requirement: str
    subject: str
    message: str
    time: str | None = None
    target: float | None = None
    missed_by: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "requirement": self.requirement,
            "subject": self.subject,
            "time": self.time,
            "target": self.target,
            "missed_by": self.missed_by,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class Schedule:
    status: str  # optimal, time_limit, infeasible, failed, applied (rules)
    method: str  # lp, milp, rules
    pv_kw: Array
    import_kw: Array
    export_kw: Array
    charge_kw: Array  # (B, T)
    discharge_kw: Array  # (B, T)
    soc_kwh: Array  # (B, T + 1): at each step boundary
    objective: float | None
    bound: float | None = None
    gap: float | None = None
    seconds: float = 0.0
    conflicts: tuple[Conflict, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def feasible(self) -> bool:
        """Whether the schedule has values (a budget may end before any was found)."""
        return self.objective is not None

    @property
    def net_kw(self) -> Array:
        return self.import_kw - self.export_kw

    @property
    def battery_kw(self) -> Array:
        """Per battery and step, positive when charging."""
        return self.charge_kw - self.discharge_kw


def objective_value(problem: BalancingProblem, import_kw: Array, export_kw: Array) -> float:
    """The objective of a schedule, computed from its grid exchange alone."""
    spec = problem.objective
    if import_kw.size == 0:
        return 0.0
    if spec.kind is Objective.GRID_INTERACTION:
        peaks = float(import_kw.max() + export_kw.max())
        return float(import_kw.sum() + export_kw.sum()) + spec.peak_weight * peaks
    dt = problem.step_h
    if spec.kind is Objective.COST:
        assert spec.import_price is not None
        assert spec.export_price is not None
        energy = float(dt * (spec.import_price @ import_kw - spec.export_price @ export_kw))
        return energy + spec.demand_charge * float(import_kw.max())
    assert spec.capacity_kw is not None
    excess = float(dt * np.maximum(import_kw - spec.capacity_kw, 0.0).sum())
    interaction = float(import_kw.sum() + export_kw.sum())
    return (
        EXCESS_WEIGHT * excess
        + spec.peak_weight * float(import_kw.max())
        + INTERACTION_TIEBREAK * interaction
    )


def empty_schedule(
    problem: BalancingProblem,
    status: str,
    method: str,
    conflicts: tuple[Conflict, ...] = (),
    seconds: float = 0.0,
) -> Schedule:
    """A schedule with no values: the problem could not be scheduled."""
    count, steps = len(problem.batteries), problem.steps
    nothing = np.full(steps, np.nan)
    return Schedule(
        status=status,
        method=method,
        pv_kw=nothing,
        import_kw=nothing,
        export_kw=nothing,
        charge_kw=np.full((count, steps), np.nan),
        discharge_kw=np.full((count, steps), np.nan),
        soc_kwh=np.full((count, steps + 1), np.nan),
        objective=None,
        seconds=seconds,
        conflicts=conflicts,
    )
