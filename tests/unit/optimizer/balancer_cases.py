"""Small balancing problems for the optimizer tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from osed.optimizer.problem import (
    BalancingProblem,
    Battery,
    BatteryKind,
    EfficiencyModel,
    ObjectiveSpec,
    Rules,
)

START = datetime(2026, 6, 1, tzinfo=UTC)


def battery(
    id: str = "b1",
    *,
    kind: BatteryKind = BatteryKind.COMMUNITY,
    capacity: float = 100.0,
    power: float = 50.0,
    initial: float = 50.0,
    final: float | None = None,
    low: float = 10.0,
    high: float = 90.0,
    eta: float = 1.0,
) -> Battery:
    return Battery(
        id=id,
        kind=kind,
        capacity_kwh=capacity,
        charge_max_kw=power,
        discharge_max_kw=power,
        soc_min_kwh=low,
        soc_max_kwh=high,
        soc_initial_kwh=initial,
        soc_final_kwh=final,
        charge_efficiency=eta,
        discharge_efficiency=eta,
    )


def problem(
    load: list[float] | np.ndarray,
    pv: list[float] | np.ndarray | None = None,
    *batteries: Battery,
    rules: Rules = Rules.NATIVE,
    efficiency: EfficiencyModel = EfficiencyModel.TEXTBOOK,
    objective: ObjectiveSpec | None = None,
    **options: object,
) -> BalancingProblem:
    load_kw = np.asarray(load, dtype=float)
    pv_kw = np.zeros_like(load_kw) if pv is None else np.asarray(pv, dtype=float)
    return BalancingProblem(
        id="case",
        start=START,
        step=timedelta(hours=1),
        load_kw=load_kw,
        pv_kw=pv_kw,
        batteries=tuple(batteries),
        rules=rules,
        efficiency=efficiency,
        objective=objective or ObjectiveSpec(),
        **options,  # type: ignore[arg-type]
    )


def osed_document(load: float = 20.0, final: float = 50.0, **changes: Any) -> dict[str, Any]:
    """A small request in OSED's format: one community battery, four hourly steps."""
    document: dict[str, Any] = {
        "id": "feeder-7",
        "start": "2026-06-01T00:00:00Z",
        "step_minutes": 60,
        "load_kw": [load, load, 5, 5],
        "pv_kw": [0, 0, 40, 40],
        "batteries": [
            {
                "id": "community",
                "capacity_kwh": 100,
                "charge_max_kw": 50,
                "discharge_max_kw": 50,
                "soc_min_pct": 10,
                "soc_max_pct": 90,
                "soc_initial_pct": 50,
                "soc_final_pct": final,
            }
        ],
    }
    document.update(changes)
    return document
