"""The day-ahead grid forecast: the households' devices on their own control under their load
forecasts; where a forecast is exact it is the baseline's grid, and the intelligence sees the
worst of the coming steps."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import numpy as np
import pytest

from osed.sim.runner import play_run
from osed.sim.sim_forecast import GridForecast
from osed.sim.study import FunctionSpec, Study
from tests.unit.sim.small_study import small_study


@pytest.fixture(scope="module")
def exact() -> Study:
    """Households whose load is forecast exactly, EDCs where the intelligence puts them."""
    made = small_study(6, functions=(FunctionSpec("capacity-limit", {}),), market=None)
    households = tuple(
        replace(h, forecast_kw=np.asarray(h.building.base_kw)) for h in made.households
    )
    return replace(made, households=households, edcs="intelligence")


def test_an_exact_forecast_is_the_grid_of_the_baseline(exact: Study) -> None:
    forecast = asyncio.run(GridForecast.of(exact, 2))
    lines = play_run(exact, "baseline").tables["lines"]
    branches = list(forecast.branch_ids)
    measured = lines["loading_pct"].reshape(exact.steps, -1) / 100.0
    assert list(lines["line"][: len(branches)]) == branches
    np.testing.assert_allclose(forecast.loading, measured, rtol=1e-9, atol=1e-12)


def test_the_intelligence_sees_the_worst_of_the_coming_steps(exact: Study) -> None:
    forecast = asyncio.run(GridForecast.of(exact, 3))
    head = forecast.branch_ids.index("l1")
    for k in (0, 10, exact.steps - 3):
        ahead = forecast.ahead(k)
        assert ahead is not None
        window = forecast.loading[k + 1 : k + 4, head]
        assert ahead.loading["l1"] == pytest.approx(float(window.max()))
        node = forecast.node_ids[-1]
        volts = forecast.voltage_pu[k + 1 : k + 4, -1]
        assert ahead.voltage_low[node] == pytest.approx(float(volts.min()))
        assert ahead.voltage_high[node] == pytest.approx(float(volts.max()))
    assert forecast.ahead(exact.steps - 1) is None
