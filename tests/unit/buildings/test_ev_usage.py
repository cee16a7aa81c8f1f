"""EV usage learned from sessions recovers the habits they were drawn from."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest

from osed.buildings.ev_usage import WEEKEND, WORKDAY, Session, learn_ev_usage
from osed.domain.errors import ValidationError

CET = timezone(timedelta(hours=1))


def _sessions(days: int = 180, seed: int = 3) -> list[Session]:
    """Working days: home at 18:30 ± 1 h, off at 07:30 ± 0.5 h the next day, 12 ± 3 kWh, on
    90 % of days. Weekends: home at 14:00 ± 2 h for 20 ± 2 h, 6 ± 2 kWh, on half of them."""
    rng = np.random.default_rng(seed)
    sessions = []
    first = datetime(2025, 1, 6, tzinfo=CET)  # a Monday
    for n in range(days):
        midnight = first + timedelta(days=n)
        if midnight.weekday() < 5:
            if rng.random() < 0.9:
                arrival = midnight + timedelta(hours=rng.normal(18.5, 1.0))
                departure = midnight + timedelta(hours=24 + rng.normal(7.5, 0.5))
                sessions.append(Session(arrival, departure, max(0.5, rng.normal(12, 3))))
        elif rng.random() < 0.5:
            arrival = midnight + timedelta(hours=rng.normal(14, 2))
            departure = arrival + timedelta(hours=rng.normal(20, 2))
            sessions.append(Session(arrival, departure, max(0.5, rng.normal(6, 2))))
    return sessions


def test_learns_workday_and_weekend_habits() -> None:
    usage = learn_ev_usage(_sessions(), CET)
    workday, weekend = usage.kinds[WORKDAY], usage.kinds[WEEKEND]
    assert workday.probability == pytest.approx(0.9, abs=0.06)
    assert weekend.probability == pytest.approx(0.5, abs=0.12)
    monday = usage.expect(date(2025, 9, 1))
    assert monday.arrival.hour + monday.arrival.minute / 60 == pytest.approx(18.5, abs=0.25)
    assert monday.departure.date() == date(2025, 9, 2)
    assert monday.departure.hour + monday.departure.minute / 60 == pytest.approx(7.5, abs=0.2)
    assert monday.energy_kwh == pytest.approx(12, abs=0.6)
    saturday = usage.expect(date(2025, 9, 6))
    assert saturday.arrival.hour + saturday.arrival.minute / 60 == pytest.approx(14, abs=0.8)
    assert saturday.energy_kwh == pytest.approx(6, abs=0.8)


def test_quantiles_bracket_the_mean_and_match_the_normal_spread() -> None:
    usage = learn_ev_usage(_sessions(days=400), CET)
    low = usage.quantiles(date(2025, 9, 1), 0.1)
    high = usage.quantiles(date(2025, 9, 1), 0.9)
    spread_h = (high.arrival - low.arrival).total_seconds() / 3600
    assert spread_h == pytest.approx(2 * 1.2816 * 1.0, rel=0.15)  # ±1.28 σ of a normal
    assert low.energy_kwh < usage.expect(date(2025, 9, 1)).energy_kwh < high.energy_kwh


def test_arrivals_around_midnight_are_not_split() -> None:
    """Late arrivals on both sides of midnight: one cluster, mean near midnight."""
    rng = np.random.default_rng(1)
    sessions = []
    for n in range(60):
        midnight = datetime(2025, 3, 3, tzinfo=CET) + timedelta(days=n)
        arrival = midnight + timedelta(hours=24 + rng.normal(0, 0.7))
        sessions.append(Session(arrival, arrival + timedelta(hours=8), 10.0))
    usage = learn_ev_usage(sessions, CET)
    expected = usage.expect(date(2025, 4, 1)).arrival
    hours_from_midnight = (expected - datetime(2025, 4, 2, tzinfo=CET)).total_seconds() / 3600
    assert abs(hours_from_midnight) < 0.3


def test_window_is_cautious_and_fits_the_horizon() -> None:
    usage = learn_ev_usage(_sessions(days=400), CET)
    start = datetime(2025, 9, 1, 12, tzinfo=CET)  # a Monday noon, 24 h in quarter hours
    window = usage.window(start, 0.25, 96, risk=0.1)
    assert window is not None
    expected = usage.expect(start.date())
    # Later than the mean arrival, earlier than the mean departure, more than the mean energy.
    assert window.arrival_step * 0.25 > (expected.arrival - start).total_seconds() / 3600
    assert window.departure_step * 0.25 < (expected.departure - start).total_seconds() / 3600
    assert window.energy_kwh > expected.energy_kwh
    assert 0 <= window.arrival_step < window.departure_step <= 96
    assert usage.window(start, 0.25, 8) is None  # the horizon ends before the EV arrives


def test_bad_sessions_are_all_named() -> None:
    arrival = datetime(2025, 1, 1, 18, tzinfo=CET)
    with pytest.raises(ValidationError) as caught:
        learn_ev_usage(
            [
                Session(arrival, arrival - timedelta(hours=1), 5.0),
                Session(arrival, arrival + timedelta(days=9), 5.0),
                Session(arrival, arrival + timedelta(hours=3), -1.0),
                Session(arrival.replace(tzinfo=None), arrival, 1.0),
            ],
            CET,
        )
    found = {(p.path, p.code) for p in caught.value.problems}
    assert found == {
        ("$[0].departure", "before_arrival"),
        ("$[1].departure", "too_long"),
        ("$[2].energy_kwh", "negative"),
        ("$[3]", "naive_time"),
    }
