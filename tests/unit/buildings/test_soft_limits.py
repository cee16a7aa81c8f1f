"""The soft MPC: where the hard plan has none (a bound below the base load, an EV that cannot
be filled by its departure, a zone that starts above its band), the soft plan comes closest,
names the shortfall and ranks what gives way; where the hard plan exists, both are the same."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from osed.buildings.mpc import GridRequests, Planner
from tests.unit.edge.building.neighbourhood import (
    STEP_H,
    STEPS,
    TARIFF,
    battery,
    building,
    heating,
)


def _ev(arrival: int, departure: int, energy_kwh: float, charge_max_kw: float) -> dict[str, Any]:
    return {
        "id": "car",
        "kind": "ev",
        "arrival_step": arrival,
        "departure_step": departure,
        "energy_kwh": energy_kwh,
        "charge_max_kw": charge_max_kw,
    }


def _limit(kw: float, steps: slice) -> np.ndarray:
    limit = np.full(STEPS, np.inf)
    limit[steps] = kw
    return limit


def test_a_bound_below_the_base_load_gives_way_and_is_named() -> None:
    house = building("h", [2.0] * STEPS, [battery(0.1), heating()])
    requests = GridRequests(import_limit_kw=_limit(0.5, slice(0, 1)))
    assert not Planner(house, STEPS, STEP_H).plan(TARIFF, requests).usable
    plan = Planner(house, STEPS, STEP_H, soft=True).plan(TARIFF, requests)
    assert plan.usable
    assert not plan.kept
    # The battery at its floor and the zone kept warm: the net stays above the bound by at least
    # the base load less the bound, and the shortfall is that excess.
    over = plan.net_kw[0] - 0.5
    assert plan.shortfall["building"] == pytest.approx(over * STEP_H, abs=1e-6)
    assert over >= 1.5 - 1e-6
    assert set(plan.shortfall) == {"building"}


def test_an_ev_that_cannot_be_filled_charges_at_full_power_and_names_what_is_missing() -> None:
    house = building("h", [0.5] * STEPS, [_ev(18, 22, 30.0, 7.0)])
    assert not Planner(house, STEPS, STEP_H).plan(TARIFF).usable
    plan = Planner(house, STEPS, STEP_H, soft=True).plan(TARIFF)
    np.testing.assert_allclose(plan.devices["car"][18:22], 7.0, atol=1e-7)
    assert plan.shortfall == pytest.approx({"car": 30.0 - 4 * 7.0 * STEP_H})


def test_a_capacity_limit_holds_before_an_ev_is_filled() -> None:
    house = building("h", [0.5] * STEPS, [_ev(18, 20, 10.0, 7.0)])
    requests = GridRequests(import_limit_kw=_limit(3.5, slice(18, 20)))
    plan = Planner(house, STEPS, STEP_H, soft=True).plan(TARIFF, requests)
    assert plan.net_kw[18:20] == pytest.approx([3.5, 3.5])
    assert plan.shortfall == pytest.approx({"car": 10.0 - 2 * 3.0 * STEP_H})


def test_a_zone_above_its_band_pauses_the_heating_and_is_named() -> None:
    house = building("h", [0.5] * STEPS, [heating(outdoor_c=20.0, temp_c=26.0)])
    assert not Planner(house, STEPS, STEP_H).plan(TARIFF).usable
    plan = Planner(house, STEPS, STEP_H, soft=True).plan(TARIFF)
    assert plan.devices["zone"][0] == pytest.approx(0.0, abs=1e-7)
    assert set(plan.shortfall) == {"zone"}
    assert plan.shortfall["zone"] > 0


def test_a_plan_that_keeps_everything_is_the_hard_plan() -> None:
    house = building("h", [0.8] * STEPS, [battery(0.4), heating(), _ev(17, 23, 12.0, 7.0)])
    requests = GridRequests(import_limit_kw=_limit(3.0, slice(16, 22)))
    hard = Planner(house, STEPS, STEP_H).plan(TARIFF, requests)
    soft = Planner(house, STEPS, STEP_H, soft=True).plan(TARIFF, requests)
    assert hard.kept
    assert soft.kept
    assert soft.penalty == 0.0
    assert soft.cost == pytest.approx(hard.cost, rel=1e-7)


def test_warm_soft_re_plans_follow_new_prices_and_bounds() -> None:
    house = building("h", [2.0] * STEPS, [battery(0.5)])
    planner = Planner(house, STEPS, STEP_H, soft=True)
    first = planner.plan(TARIFF, GridRequests(import_limit_kw=_limit(0.5, slice(0, 3))))
    again = planner.plan(TARIFF * 2, GridRequests(import_limit_kw=_limit(1.5, slice(0, 3))))
    cold = Planner(house, STEPS, STEP_H, soft=True).plan(
        TARIFF * 2, GridRequests(import_limit_kw=_limit(1.5, slice(0, 3)))
    )
    assert first.shortfall != again.shortfall
    assert again.cost == pytest.approx(cold.cost, rel=1e-7)
    assert again.penalty == pytest.approx(cold.penalty, rel=1e-7, abs=1e-9)
