"""The balancing problem of a community microgrid: what the optimizer and the rules take in.

Power in kW (load and import positive), energy and state of charge in kWh, time as a regular
grid of ``steps`` intervals of ``step_h`` hours from ``start``. Arrays are read-only NumPy
arrays of one value per step; a missing net-power bound is NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


class BatteryKind(StrEnum):
    COMMUNITY = "cbes"
    """A community battery: may charge and discharge, reaches its final SoC at the end."""
    HOUSEHOLD = "hbes"
    """A household battery: must be full (or at its final SoC) by ``day_end``."""


class EfficiencyModel(StrEnum):
    TEXTBOOK = "textbook"
    """Charging c kW for Δt adds η_ch·c·Δt, discharging d removes d·Δt/η_dis."""
    PYMFM = "pymfm"
    """pymfm's convention: charging adds c·Δt/η_ch, discharging removes η_dis·d·Δt."""


class Objective(StrEnum):
    GRID_INTERACTION = "grid_interaction"
    """Σ(import + export) per step plus the import and export peaks (pymfm's objective)."""
    COST = "cost"
    """Energy cost: Σ Δt·(import price·import − export price·export), plus a demand charge."""
    PEAK_SHAVING = "peak_shaving"
    """Energy imported above a capacity limit first, then the import peak, then interaction."""


class Rules(StrEnum):
    PYMFM = "pymfm"
    """pymfm's operating rules: batteries charge only from surplus, no import in surplus
    steps, import at most the uncontrolled deficit, household batteries never discharge."""
    NATIVE = "native"
    """Only the physics and the stated limits."""


@dataclass(frozen=True, slots=True)
class Battery:
    id: str
    kind: BatteryKind
    capacity_kwh: float
    charge_max_kw: float
    discharge_max_kw: float
    soc_min_kwh: float
    soc_max_kwh: float
    soc_initial_kwh: float
    soc_final_kwh: float | None = None
    """Target at the end (community) or at ``day_end`` (household); None: no target."""
    charge_efficiency: float = 1.0
    discharge_efficiency: float = 1.0


@dataclass(frozen=True, slots=True)
class Bulk:
    """Energy the batteries deliver (negative) or absorb (positive) in the steps that start
    within [start, end] (end included, as pymfm does)."""

    start: datetime
    end: datetime
    energy_kwh: float


@dataclass(frozen=True, slots=True)
class ObjectiveSpec:
    kind: Objective = Objective.GRID_INTERACTION
    peak_weight: float = 1.0
    """Weight of each peak (import, export) against the per-step interaction sum."""
    import_price: Array | None = None
    """Per kWh, one per step (cost objective)."""
    export_price: Array | None = None
    demand_charge: float = 0.0
    """Per kW of the import peak (cost objective)."""
    capacity_kw: Array | None = None
    """Import capacity limit per step (peak shaving objective)."""


@dataclass(frozen=True, slots=True)
class BalancingProblem:
    id: str
    start: datetime
    step: timedelta
    load_kw: Array
    pv_kw: Array
    batteries: tuple[Battery, ...]
    pv_curtailable: bool = False
    net_upper_kw: Array | None = None
    net_lower_kw: Array | None = None
    bulk: Bulk | None = None
    day_end: datetime | None = None
    """When household batteries must be full; None: at the end of the horizon."""
    household_full_at_day_end: bool = True
    """Household batteries without a target reach their maximum SoC at ``day_end``."""
    objective: ObjectiveSpec = field(default_factory=ObjectiveSpec)
    rules: Rules = Rules.NATIVE
    efficiency: EfficiencyModel = EfficiencyModel.TEXTBOOK

    @property
    def steps(self) -> int:
        return int(self.load_kw.shape[0])

    @property
    def step_h(self) -> float:
        return self.step.total_seconds() / 3600.0

    @property
    def net_before_kw(self) -> Array:
        """Net power without control: load minus the PV forecast."""
        return self.load_kw - self.pv_kw

    def times(self) -> list[datetime]:
        return [self.start + k * self.step for k in range(self.steps)]

    def step_index(self, instant: datetime) -> float:
        """The (fractional) number of steps from ``start`` to ``instant``."""
        return (instant - self.start) / self.step
