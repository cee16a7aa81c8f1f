"""A study's tables as the dashboard's time series: one series per element, run and column,
units from the column names, every finite number once, NaN left out; the span of the study."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np

from osed.sim.outputs import combined_tables
from osed.sim.study_dashboard import study_points, study_span, unit_of
from tests.unit.sim.synthetic_results import synthetic_result


def test_every_finite_number_becomes_one_point_of_its_series() -> None:
    result = synthetic_result(steps=8, households=3)
    points = list(study_points(result))
    tables = combined_tables(result)
    expected = 0
    for name in ("buses", "lines", "households", "grid", "prices"):
        for column, values in tables[name].items():
            if values.dtype.kind == "f" and column != "distance_km":
                expected += int(np.isfinite(values).sum())
    assert len(points) == expected
    per_series = Counter(p.series_id for p in points)
    assert per_series["study/managed/bus/n2/voltage_pu"] == 8
    assert per_series["study/baseline/line/l1/loading_pct"] == 8
    assert per_series["study/managed/grid/area_import_kw"] == 8
    assert per_series["study/managed/prices/market_price_per_kwh"] <= 8
    assert not any("distance_km" in series for series in per_series)
    units = {p.series_id: p.unit for p in points}
    assert units["study/managed/bus/n2/voltage_pu"] == "pu"
    assert units["study/managed/line/l1/loading_pct"] == "%"
    assert units["study/managed/grid/area_import_kw"] == "kW"
    first = next(p for p in points if p.series_id == "study/managed/grid/area_import_kw")
    assert first.event_time == datetime(2026, 1, 15, tzinfo=UTC)
    assert abs(first.value - float(result.managed.tables["grid"]["area_import_kw"][0])) < 1e-9


def test_units_and_span() -> None:
    assert [unit_of(c) for c in ("tariff_per_kwh", "ev_energy_kwh", "net_kw", "indoor_c")] == [
        "per kWh",
        "kWh",
        "kW",
        "°C",
    ]
    assert unit_of("battery_soc") == "share"
    assert unit_of("cost") == "currency"
    start, end = study_span(synthetic_result(steps=8, households=2))
    assert start == datetime(2026, 1, 15, tzinfo=UTC)
    assert end - start == timedelta(hours=2)
