"""The battery fields OSED's documents share: sizes in kW and kWh, SoC in % of the capacity."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


class DocumentModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BatteryFields(DocumentModel):
    capacity_kwh: float = Field(gt=0, allow_inf_nan=False)
    charge_max_kw: float = Field(ge=0, allow_inf_nan=False)
    discharge_max_kw: float = Field(ge=0, allow_inf_nan=False)
    soc_min_pct: Percent = 0.0
    soc_max_pct: Percent = 100.0
    soc_initial_pct: Percent
    soc_final_pct: Percent | None = None
    charge_efficiency: float = Field(default=1.0, gt=0, le=1)
    discharge_efficiency: float = Field(default=1.0, gt=0, le=1)
