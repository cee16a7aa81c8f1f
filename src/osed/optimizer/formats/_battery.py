"""What OSED's documents share: quantities bounded to physical magnitudes, the battery fields
(sizes in kW and kWh, SoC in % of the capacity) and the checks of the time grid."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from osed.domain.errors import Problem
from osed.optimizer.formats._paths import MAGNITUDE_LIMIT

Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
# kW, kWh and money per kWh: finite and within a physically meaningful magnitude.
Quantity = Annotated[float, Field(ge=-MAGNITUDE_LIMIT, le=MAGNITUDE_LIMIT, allow_inf_nan=False)]
Size = Annotated[float, Field(ge=0, le=MAGNITUDE_LIMIT, allow_inf_nan=False)]
PositiveSize = Annotated[float, Field(gt=0, le=MAGNITUDE_LIMIT, allow_inf_nan=False)]


class DocumentModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BatteryFields(DocumentModel):
    capacity_kwh: PositiveSize
    charge_max_kw: Size
    discharge_max_kw: Size
    soc_min_pct: Percent = 0.0
    soc_max_pct: Percent = 100.0
    soc_initial_pct: Percent
    soc_final_pct: Percent | None = None
    charge_efficiency: float = Field(default=1.0, gt=0, le=1)
    discharge_efficiency: float = Field(default=1.0, gt=0, le=1)


class SocWindow(BaseModel):
    """A battery's SoC fields alone: its window is checked whatever else is wrong with it."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    soc_min_pct: Percent = 0.0
    soc_max_pct: Percent = 100.0
    soc_initial_pct: Percent
    soc_final_pct: Percent | None = None


def soc_window_problems(battery: SocWindow, path: str) -> list[Problem]:
    """The SoC window of one battery, checked on its own so that it is reported beside the
    problems of every other battery and field."""
    problems: list[Problem] = []
    low, high = battery.soc_min_pct, battery.soc_max_pct
    if low > high:
        problems.append(Problem(f"{path}.soc_min_pct", "above_max", "above soc_max_pct"))
    if not low <= battery.soc_initial_pct <= high:
        problems.append(
            Problem(f"{path}.soc_initial_pct", "outside_window", "outside [soc_min, soc_max]")
        )
    final = battery.soc_final_pct
    if final is not None and final > high:
        problems.append(Problem(f"{path}.soc_final_pct", "above_max", "above soc_max_pct"))
    return problems


def horizon_problems(start: datetime, step_minutes: float, steps: int) -> list[Problem]:
    """A step of at least a second (time is kept to the microsecond) and a horizon that ends
    before the calendar does."""
    if step_minutes * 60 < 1:
        return [Problem("$.step_minutes", "too_short", "a step is at least one second (1/60)")]
    try:
        start + timedelta(minutes=step_minutes) * max(steps, 1)
    except OverflowError:
        return [Problem("$.step_minutes", "too_long", "the horizon ends after the year 9999")]
    return []
