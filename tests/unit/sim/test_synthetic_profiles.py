"""Synthetic household profiles: occupancy, load, hot water and EV windows."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from osed.sim.synthetic import ev_windows, hot_water_draws, household_load, local_hours, occupancy

START = datetime(2026, 4, 13, 22, tzinfo=UTC)  # midnight in Berlin


def test_local_hours_follow_the_time_zone() -> None:
    hours = local_hours(START, 96, 0.25, "Europe/Berlin")
    assert hours[0] == 0.125
    assert hours[-1] == 23.875
    assert local_hours(START, 1, 0.25, "UTC")[0] == 22.125


def test_occupancy_is_a_share_and_away_households_are_away_by_day() -> None:
    hours = local_hours(START, 96, 0.25, "Europe/Berlin")
    away = np.array([True, False] * 50)
    occupied = occupancy(hours, away, np.random.default_rng(0))
    assert ((occupied >= 0) & (occupied <= 1)).all()
    midday = (hours > 10) & (hours < 15)
    assert occupied[away][:, midday].max() < occupied[~away][:, midday].min()
    night = (hours > 1) & (hours < 5)
    assert occupied[:, night].max() <= 0.1


def test_load_peaks_in_the_evening_and_its_draw_averages_to_the_forecast() -> None:
    hours = local_hours(START, 96, 0.25, "Europe/Berlin")
    rng = np.random.default_rng(1)
    occupied = occupancy(hours, rng.random(2000) < 0.5, rng)
    load = household_load(hours, 0.25, occupied, np.full(2000, 3650.0), rng)
    mean_forecast = load.forecast_kw.mean(axis=0)
    assert 17 <= hours[np.argmax(mean_forecast)] <= 21
    assert mean_forecast[(hours > 2) & (hours < 4)].max() < 0.5 * mean_forecast.max()
    np.testing.assert_allclose(load.forecast_kw.sum(axis=1) * 0.25, 10.0, rtol=0.02)
    np.testing.assert_allclose(
        load.realised_kw.mean(axis=0), mean_forecast, rtol=0.08
    )  # 2000 households
    assert (load.realised_kw > 0).all()


def test_hot_water_averages_to_the_daily_energy() -> None:
    hours = local_hours(START, 96, 0.25, "Europe/Berlin")
    rng = np.random.default_rng(2)
    occupied = occupancy(hours, rng.random(3000) < 0.5, rng)
    draws = hot_water_draws(hours, 0.25, occupied, np.full(3000, 4.0), rng)
    assert (draws >= 0).all()
    daily = draws.sum(axis=1) * 0.25
    assert abs(daily.mean() - 4.0) < 0.1
    morning = (hours > 6) & (hours < 8)
    assert draws[:, morning].mean() > 3 * draws[:, (hours > 1) & (hours < 4)].mean()


@settings(max_examples=50, deadline=None)
@given(
    arrival=st.floats(0, 23.99),
    departure=st.floats(0, 23.99),
    start_hour=st.integers(0, 23),
    steps=st.integers(1, 192),
)
def test_ev_windows_lie_within_the_horizon(
    arrival: float, departure: float, start_hour: int, steps: int
) -> None:
    start = datetime(2026, 4, 14, start_hour, tzinfo=UTC)
    first, last = ev_windows(
        start,
        steps,
        0.25,
        "UTC",
        arrival_h=np.array([arrival]),
        departure_h=np.array([departure]),
    )
    assert 0 <= first[0] <= last[0] <= steps
    if first[0] < steps:
        # It arrives at its hour: the first step at or after it.
        arrival_offset = (arrival - start_hour) % 24
        assert first[0] == int(np.ceil(arrival_offset / 0.25 - 1e-9))
