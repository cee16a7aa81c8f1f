"""The capacity limit's bound in the plan: over the limit's interval, not beyond it."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from osed.edge.building.requests import ActiveRequests

STEPS = 24


@given(
    step=st.integers(0, 100),
    left=st.integers(1, STEPS),
    cap=st.floats(0.0, 50.0),
    owner=st.floats(0.0, 100.0),
)
def test_the_bound_holds_over_the_interval_and_the_owner_limit_always(
    step: int, left: int, cap: float, owner: float
) -> None:
    requests = ActiveRequests(STEPS, owner_limit_kw=owner)
    requests.import_limit_kw = cap
    requests.export_limit_kw = 2.0
    requests.limits_end = step + left
    planned = requests.grid_requests(step)
    assert planned.import_limit_kw is not None
    assert planned.export_limit_kw is not None
    np.testing.assert_array_equal(planned.import_limit_kw[:left], min(cap, owner))
    np.testing.assert_array_equal(planned.import_limit_kw[left:], owner)
    np.testing.assert_array_equal(planned.export_limit_kw[:left], 2.0)
    assert np.isinf(planned.export_limit_kw[left:]).all()
    assert requests.limit_kw(step) == min(cap, owner)


def test_a_limit_without_an_end_bounds_the_current_step_in_the_plan() -> None:
    requests = ActiveRequests(STEPS)
    requests.import_limit_kw = 3.0
    planned = requests.grid_requests(7)
    assert planned.import_limit_kw is not None
    assert planned.import_limit_kw[0] == 3.0
    assert np.isinf(planned.import_limit_kw[1:]).all()
    assert requests.limit_kw(8) == 3.0  # the real-time rule holds it until it is shared anew
    requests.import_limit_kw = math.inf
    assert np.isinf(requests.grid_requests(7).import_limit_kw).all()  # type: ignore[arg-type]


def test_after_a_dac_game_the_plan_keeps_within_the_schedule_of_the_game_day() -> None:
    requests = ActiveRequests(STEPS, dac_margin_kw=0.5)
    schedule = np.linspace(-2.0, 3.0, STEPS)
    requests.prices_per_kwh = np.full(STEPS, 0.2)
    requests.prices_from = 10
    requests.dac_net_kw = schedule
    requests.import_limit_kw = 2.0
    requests.limits_end = 14  # the limit's interval ends at step 14
    planned = requests.grid_requests(12).import_limit_kw
    assert planned is not None
    game_day = np.maximum(schedule[2:], 0.0) + 0.5
    expected = np.concatenate([game_day, np.full(2, np.inf)])  # past the game's day: free
    expected[:2] = np.minimum(expected[:2], 2.0)
    np.testing.assert_allclose(planned, expected)
    unfollowed = requests.grid_requests(12, follow_dac=False).import_limit_kw
    assert unfollowed is not None
    np.testing.assert_array_equal(unfollowed, [2.0, 2.0] + [np.inf] * (STEPS - 2))
