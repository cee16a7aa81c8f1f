"""Rolling backtests of the building forecasters and the RC fit, printing one JSON object.

On the shipped household year (tests/data/buildings/SOURCE.md: measured weather, generated
load, PV from the measured irradiance): an origin every local midnight after four weeks, a
24-hour horizon, each forecaster against persistence and seasonal-naive (yesterday, last
week); MAE and RMSE in kW and the seconds per forecast. Then one RC fit of a simulated zone
(four weeks at 15 minutes, 0.1 K noise) with its seconds and relative errors.

    .venv/bin/python bench/bench_forecast.py
"""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1]))  # for tests.unit.buildings.shipped_data

from osed.buildings.backtest import backtest
from osed.buildings.forecast import (
    GHI_W_M2,
    OUTDOOR_C,
    Array,
    Forecaster,
    Persistence,
    SeasonalNaive,
)
from osed.buildings.forecast_load import LoadRegression
from osed.buildings.forecast_pv import ClearSkyIndexPv, IrradiancePv
from osed.buildings.thermal_fit import ThermalHistory, fit_thermal
from osed.buildings.timeline import Timeline
from osed.sim.building_history import zone_history
from tests.unit.buildings.shipped_data import household


def _scores(
    values: Array,
    timeline: Timeline,
    forecasters: Sequence[Forecaster],
    weather: Mapping[str, Array] | None = None,
) -> dict[str, Any]:
    started = time.perf_counter()
    scores = backtest(values, timeline, forecasters, weather)
    seconds = time.perf_counter() - started
    origins = scores[0].origins
    return {
        "origins": origins,
        "samples": scores[0].samples,
        "seconds": round(seconds, 3),
        "ms_per_origin_all_forecasters": round(1000 * seconds / origins, 2),
        "scores": {
            s.name: {"mae_kw": round(s.mae, 4), "rmse_kw": round(s.rmse, 4)} for s in scores
        },
    }


def _thermal_fit() -> dict[str, Any]:
    zone = zone_history(capacitance_kwh_per_k=3.0, resistance_k_per_kw=10.0, noise_c=0.1)
    history = ThermalHistory(zone.step_h, zone.cop, zone.indoor_c, zone.outdoor_c, zone.power_kw)
    started = time.perf_counter()
    fit = fit_thermal(history)
    seconds = time.perf_counter() - started
    held = fit.held_out
    return {
        "samples": int(zone.indoor_c.size),
        "seconds": round(seconds, 3),
        "capacitance_error": round(abs(fit.capacitance_kwh_per_k - 3.0) / 3.0, 4),
        "resistance_error": round(abs(fit.resistance_k_per_kw - 10.0) / 10.0, 4),
        "rmse_c": round(fit.rmse_c, 4),
        "held_out_test_rmse_c": round(held.test_rmse_c, 4) if held else None,
    }


def main() -> None:
    data = household()
    baselines: list[Forecaster] = [Persistence(), SeasonalNaive(1), SeasonalNaive(7)]
    site = (data.weather.latitude_deg, data.weather.longitude_deg)
    result = {
        "load": _scores(
            data.load_kw,
            data.timeline,
            [LoadRegression(), *baselines],
            {OUTDOOR_C: data.weather.temp_c},
        ),
        "load_without_weather": _scores(
            data.load_kw, data.timeline, [LoadRegression(), *baselines]
        ),
        "pv": _scores(data.pv_kw, data.timeline, [ClearSkyIndexPv(*site), *baselines]),
        "pv_with_observed_irradiance": _scores(
            data.pv_kw, data.timeline, [IrradiancePv()], {GHI_W_M2: data.weather.ghi_w_m2}
        ),
        "thermal_fit": _thermal_fit(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
