"""The study's key figures, managed against baseline, from the runs' tables.

Peak: the highest area import over the study. Cost: what the households paid, on average
(market positions at the clearing price, the rest at the tariff or the feed-in price).
Voltage violations: bus-steps of the power flow outside 0.95–1.05 pu. Comfort violations:
household-steps whose indoor temperature lies outside the comfort band by more than
:data:`COMFORT_TOLERANCE_C`. EV energy unserved: what the EVs asked for and had not charged
when the run ended (a lower peak must not come from cars left empty). Wall-clock times are
left out: the KPIs of a study are the same on every machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from osed.sim.results import RunResult
from osed.sim.study import Study

VOLTAGE_BAND_PU = (0.95, 1.05)
COMFORT_TOLERANCE_C = 0.1
"""The devices' thermostat rounding and a step's drift; beyond it a step counts as too cold
or too warm."""


@dataclass
class RunFacts:
    """What a run knows beyond its tables."""

    ledger_verified: bool | None = None
    market_imbalance_kwh: float | None = None
    market_transactions: int = 0
    dac_iterations: int = 0
    edcs_created: int = 0
    edcs_destroyed: int = 0
    agents_started: int = 0
    """Building agents started during the run (households enrolled on demand)."""


def peak_kw(run: RunResult) -> float:
    values = run.tables["grid"]["area_import_kw"].astype(np.float64)
    return float(np.max(values)) if values.size else math.nan


def cost_per_household(run: RunResult, households: int) -> float:
    return float(np.sum(run.tables["households"]["cost"])) / max(households, 1)


def voltage_violations(run: RunResult) -> int:
    voltage = run.tables["buses"]["voltage_pu"].astype(np.float64)
    low, high = VOLTAGE_BAND_PU
    return int(np.count_nonzero((voltage < low) | (voltage > high)))


def comfort_violations(run: RunResult) -> int:
    table = run.tables["households"]
    indoor = table["indoor_c"].astype(np.float64)
    low = table["comfort_min_c"].astype(np.float64) - COMFORT_TOLERANCE_C
    high = table["comfort_max_c"].astype(np.float64) + COMFORT_TOLERANCE_C
    known = np.isfinite(indoor)
    return int(np.count_nonzero(known & ((indoor < low) | (indoor > high))))


def transformer_overloads(study: Study, run: RunResult) -> int:
    """Transformer-steps loaded beyond their rating."""
    table = study.network.table("transformer")
    ids = {study.network.external_ids[int(i)] for i in table["id"]} if len(table) else set()
    lines = run.tables["lines"]
    is_transformer = np.isin(lines["line"].astype(str), sorted(ids))
    loading = lines["loading_pct"].astype(np.float64)
    return int(np.count_nonzero(is_transformer & (loading > 100.0)))


def kpis(study: Study, baseline: RunResult, managed: RunResult, facts: RunFacts) -> dict[str, Any]:
    n = len(study.households)
    before, after = peak_kw(baseline), peak_kw(managed)
    reduction = (before - after) / before * 100.0 if before > 0 else math.nan
    volume = float(np.sum(managed.tables["prices"]["market_volume_kwh"].astype(np.float64)))
    return {
        "households": n,
        "steps": study.steps,
        "peak_baseline_kw": _round(before),
        "peak_managed_kw": _round(after),
        "peak_reduction_pct": _round(reduction),
        "cost_per_household_baseline": _round(cost_per_household(baseline, n)),
        "cost_per_household_managed": _round(cost_per_household(managed, n)),
        "voltage_violations_baseline": voltage_violations(baseline),
        "voltage_violations_managed": voltage_violations(managed),
        "comfort_violations_baseline": comfort_violations(baseline),
        "comfort_violations_managed": comfort_violations(managed),
        "ev_unserved_kwh_baseline": _round(baseline.ev_unserved_kwh),
        "ev_unserved_kwh_managed": _round(managed.ev_unserved_kwh),
        "market_volume_kwh": _round(volume) if study.market is not None else None,
        "market_transactions": facts.market_transactions,
        "market_imbalance_kwh": facts.market_imbalance_kwh,
        "ledger_verified": facts.ledger_verified,
        "dac_iterations": facts.dac_iterations,
        "edcs_created": facts.edcs_created,
        "edcs_destroyed": facts.edcs_destroyed,
        "agents_started": facts.agents_started,
        "transformer_overload_steps_baseline": transformer_overloads(study, baseline),
        "transformer_overload_steps_managed": transformer_overloads(study, managed),
    }


def _round(value: float) -> float | None:
    return None if not math.isfinite(value) else round(value, 6)
