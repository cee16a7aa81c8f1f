"""Forecasters on the shipped household year, and their parts on small known cases."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from osed.buildings.backtest import Score, backtest
from osed.buildings.forecast import GHI_W_M2, OUTDOOR_C, Persistence, SeasonalNaive
from osed.buildings.forecast_load import LoadRegression
from osed.buildings.forecast_pv import ClearSkyIndexPv, IrradiancePv
from osed.buildings.solar import clear_sky_ghi, cos_zenith
from osed.buildings.timeline import Timeline
from osed.domain.errors import ValidationError
from osed.sim.building_history import household_load, pv_output
from tests.unit.buildings.shipped_data import FOLDER, household

EST = timezone(timedelta(hours=-5))


def _by_name(scores: list[Score]) -> dict[str, Score]:
    return {score.name: score for score in scores}


def _beats_every_baseline(scores: list[Score], default: str) -> None:
    board = _by_name(scores)
    best = board.pop(default)
    for baseline in board.values():
        assert best.mae < baseline.mae, (default, baseline)
        assert best.rmse < baseline.rmse, (default, baseline)
    assert best.samples > 300 * 24


BASELINES = (Persistence(), SeasonalNaive(1), SeasonalNaive(7))


def test_default_load_forecaster_beats_persistence_and_seasonal_naive() -> None:
    data = household()
    weather = {OUTDOOR_C: data.weather.temp_c}
    scores = backtest(data.load_kw, data.timeline, [LoadRegression(), *BASELINES], weather)
    _beats_every_baseline(scores, "regression")
    # The margin over the best baseline is large, not a lucky draw.
    board = _by_name(scores)
    assert board["regression"].rmse < 0.7 * board["same time yesterday"].rmse


def test_load_forecaster_without_weather_still_beats_the_baselines() -> None:
    data = household()
    scores = backtest(data.load_kw, data.timeline, [LoadRegression(), *BASELINES])
    _beats_every_baseline(scores, "regression")


def test_default_pv_forecaster_beats_persistence_and_seasonal_naive() -> None:
    data = household()
    forecaster = ClearSkyIndexPv(data.weather.latitude_deg, data.weather.longitude_deg)
    scores = backtest(data.pv_kw, data.timeline, [forecaster, *BASELINES])
    _beats_every_baseline(scores, "clear-sky index")


def test_an_irradiance_forecast_makes_pv_nearly_exact() -> None:
    data = household()
    weather = {GHI_W_M2: data.weather.ghi_w_m2}
    scores = _by_name(
        backtest(data.pv_kw, data.timeline, [IrradiancePv(), SeasonalNaive(1)], weather)
    )
    # Observed irradiance stands in for its forecast: only the temperature derating is left.
    assert scores["irradiance"].rmse < 0.1 * scores["same time yesterday"].rmse


def test_forecasters_never_see_the_future() -> None:
    data = household()
    origin = 200 * 24
    weather = {OUTDOOR_C: data.weather.temp_c}
    spoiled = data.load_kw.copy()
    spoiled[origin:] = 1e6
    for forecaster in (LoadRegression(), *BASELINES):
        clean = forecaster.forecast(data.load_kw[:origin], data.timeline, origin, 24, weather)
        dirty = forecaster.forecast(spoiled[:origin], data.timeline, origin, 24, weather)
        np.testing.assert_allclose(clean, dirty)


def test_missing_measurements_are_tolerated() -> None:
    data = household()
    load = data.load_kw.copy()
    rng = np.random.default_rng(5)
    load[rng.random(load.size) < 0.05] = np.nan
    load[3000:3100] = np.nan  # a meter outage of four days
    scores = backtest(load, data.timeline, [LoadRegression(), SeasonalNaive(1)])
    board = _by_name(scores)
    assert board["regression"].rmse < board["same time yesterday"].rmse
    assert board["regression"].samples == board["same time yesterday"].samples


def test_shipped_household_file_is_what_the_generator_makes() -> None:
    data = household()
    np.testing.assert_allclose(household_load(data.weather), data.load_kw, atol=1.5e-3)
    np.testing.assert_allclose(pv_output(data.weather), data.pv_kw, atol=1.5e-3)
    assert (FOLDER / "SOURCE.md").exists()


def test_seasonal_naive_repeats_the_day_before_the_origin() -> None:
    timeline = Timeline(datetime(2021, 3, 1, tzinfo=EST), 6.0, 16)
    history = np.arange(8.0)
    forecast = SeasonalNaive(1).forecast(history, timeline, 8, 8, {})
    np.testing.assert_allclose(forecast, [4, 5, 6, 7, 4, 5, 6, 7])
    assert Persistence().forecast(np.array([1.0, 2.0, np.nan]), timeline, 3, 2, {}).tolist() == [
        2.0,
        2.0,
    ]


def test_clear_sky_follows_the_sun() -> None:
    # Greensboro, 21 June: the sun is highest near 13:20 local daylight time (17:20 UTC).
    hours = np.arange(0.0, 24.0, 0.25)
    cos_z = cos_zenith(np.full(hours.size, 172.0), hours, 36.1, -79.95)
    noon = hours[np.argmax(cos_z)]
    assert 17.0 <= noon <= 17.5
    zenith_deg = np.degrees(np.arccos(cos_z.max()))
    assert zenith_deg == pytest.approx(36.1 - 23.44, abs=0.3)
    irradiance = clear_sky_ghi(cos_z)
    assert irradiance.max() == pytest.approx(1098 * cos_z.max() * np.exp(-0.059 / cos_z.max()))
    assert (irradiance[cos_z <= 0] == 0).all()


def test_timeline_slots_and_weekends_are_local() -> None:
    timeline = Timeline(datetime(2021, 1, 1, 22, tzinfo=EST), 1.0, 30)  # a Friday, 22:00
    assert timeline.slot_of_day()[:3].tolist() == [22, 23, 0]
    weekend = timeline.weekend()
    assert not weekend[:2].any()
    assert weekend[2:].all()  # Saturday from midnight on
    day, hour = timeline.utc_day_and_hour()
    assert (day[0], hour[0]) == (2.0, 3.0)  # 22:00 EST is 03:00 UTC the next day


def test_timeline_refuses_steps_that_do_not_divide_a_day() -> None:
    with pytest.raises(ValidationError) as caught:
        Timeline(datetime(2021, 1, 1), 7.0, 10)  # noqa: DTZ001 (the point of the test)
    codes = {problem.code for problem in caught.value.problems}
    assert codes == {"naive_time", "not_a_divisor"}
