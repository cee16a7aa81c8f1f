"""What a study run produces: tables in long form with units in the column names, and KPIs.

Each table is a mapping of column name to a 1-D NumPy array, all of one length, in the column
order of :data:`TABLES`. ``time_utc`` holds ``datetime64[ns]`` UTC instants (the writer makes
them tz-aware); ``run`` is ``"baseline"`` or ``"managed"``; text columns are ``object`` arrays
of ``str``. NaN marks what a run did not have (no battery, no estimate that step).

A :class:`StudyResult` holds both runs; :mod:`osed.sim.outputs` writes every table as Parquet
and CSV and the KPIs as JSON, :mod:`osed.sim.report` the HTML report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

Column = NDArray[Any]
Table = dict[str, Column]
RunName = Literal["baseline", "managed"]

TABLES: Mapping[str, tuple[str, ...]] = {
    # The area as a whole, per step.
    "grid": (
        "time_utc",
        "run",
        "area_import_kw",
        "transformer_loading_pct",
        "max_line_loading_pct",
        "min_voltage_pu",
        "max_voltage_pu",
        "min_estimated_voltage_pu",
        "max_estimated_voltage_pu",
    ),
    # Every node, per step: the power flow's voltage and the state estimate's.
    "buses": ("time_utc", "run", "bus", "distance_km", "voltage_pu", "estimated_voltage_pu"),
    # Every line and transformer, per step.
    "lines": ("time_utc", "run", "line", "loading_pct", "p_from_kw"),
    # Every household, per step (NaN where it has no such device).
    "households": (
        "time_utc",
        "run",
        "household",
        "net_kw",
        "base_kw",
        "battery_soc",
        "ev_energy_kwh",
        "indoor_c",
        "comfort_min_c",
        "comfort_max_c",
        "water_heater_kwh",
        "cost",
    ),
    # Prices and the market, per step.
    "prices": (
        "time_utc",
        "run",
        "tariff_per_kwh",
        "dac_price_per_kwh",
        "market_price_per_kwh",
        "market_volume_kwh",
    ),
    # What the platform did: EDCs created and destroyed, DAC rounds, XOR winners, events.
    "activity": ("time_utc", "run", "kind", "edc", "detail"),
}

TEXT_COLUMNS = frozenset({"run", "bus", "line", "household", "kind", "edc", "detail"})


@dataclass
class RunResult:
    run: RunName
    tables: dict[str, Table]
    """Every table of :data:`TABLES`, this run's rows only."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall seconds per stage (devices, power flow, estimation, intelligence, market,
    functions, agents)."""
    ev_unserved_kwh: float = 0.0
    """The EV energy not charged by the end of the run (kWh, all households)."""


@dataclass
class StudyResult:
    study: str
    seed: int
    baseline: RunResult
    managed: RunResult
    kpis: dict[str, Any]
    """See :func:`osed.sim.kpis.kpis` (peak reduction, cost per household, violations,
    market volume, ledger verified, grid-function activity)."""


def table_problems(name: str, table: Mapping[str, Column]) -> list[str]:
    """What is wrong with ``table`` as table ``name`` (empty when it is well formed)."""
    expected = TABLES.get(name)
    if expected is None:
        return [f"{name}: not a table (known: {', '.join(TABLES)})"]
    problems = []
    if tuple(table) != expected:
        problems.append(f"{name}: columns {list(table)}, expected {list(expected)}")
    lengths = {len(column) for column in table.values()}
    if len(lengths) > 1:
        problems.append(f"{name}: columns differ in length {sorted(lengths)}")
    times = table.get("time_utc")
    if times is not None and times.dtype != np.dtype("datetime64[ns]"):
        problems.append(f"{name}.time_utc: {times.dtype}, expected datetime64[ns]")
    return problems
