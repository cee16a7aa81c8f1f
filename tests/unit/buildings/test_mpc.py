"""The building MPC: least cost against an independent formulation (and brute force over the
battery's modes where prices are negative), every device equation and the net limits kept,
warm re-plans equal to cold ones, the grid's requests applied, infeasibility named."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osed.buildings.devices_schema import Building, load, pv
from osed.buildings.mpc import GridRequests, Planner
from osed.cli._plan_document import read_plan_document
from osed.cli.building_plan import plan_result
from tests.unit.buildings.plan_documents import BATTERY, STEPS, as_dac, document, documents
from tests.unit.buildings.plan_reference import least_cost
from tests.unit.gridfunctions.dac_check import violations

RELATIVE = 1e-6


def _same_cost(got: float, expected: float) -> bool:
    return abs(got - expected) <= RELATIVE * max(1.0, abs(expected))


def _planner(doc: dict[str, Any]) -> Planner:
    read = read_plan_document(doc)
    return Planner(read.building, read.steps, read.step_h)


def test_evening_plan_is_least_cost_and_keeps_every_equation() -> None:
    doc = document()
    result = plan_result(read_plan_document(doc))
    assert result["status"] == "optimal"
    assert violations(*as_dac(doc, result)) == []
    assert max(result["net_kw"]) <= doc["import_limit_kw"] + 1e-7
    assert _same_cost(result["cost"], least_cost(doc))
    # The battery discharges in the dear evening and the EV charges after it.
    battery = next(d["power_kw"] for d in result["devices"] if d["id"] == "battery")
    assert min(battery[4:7]) < 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_every_plan_is_least_cost_and_physical(doc: dict[str, Any]) -> None:
    result = plan_result(read_plan_document(doc))
    expected = least_cost(doc)
    if result["status"] != "optimal":
        assert math.isnan(expected), result
        assert result["infeasible"]
        return
    assert violations(*as_dac(doc, result)) == []
    if "import_limit_kw" in doc:
        assert max(result["net_kw"]) <= doc["import_limit_kw"] + 1e-6
    assert _same_cost(result["cost"], expected), (result["cost"], expected)


def _brute_force(doc: dict[str, Any]) -> float:
    """The least cost over every charge/discharge mode sequence of the one battery."""
    n = doc["steps"]
    best = math.inf
    for modes in itertools.product([0, 1], repeat=n):
        cost = least_cost(doc, modes={"battery": np.array(modes, float)})
        if not math.isnan(cost):
            best = min(best, cost)
    return best


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(negative_prices=True))
def test_negative_prices_never_make_a_battery_charge_and_discharge_at_once(
    doc: dict[str, Any],
) -> None:
    doc["steps"] = n = min(doc["steps"], 5)
    doc["step_h"] = 1.0
    doc["prices"] = doc["prices"][:n]
    building = doc["building"]
    building["base_kw"] = building["base_kw"][:n]
    building["devices"] = [{**BATTERY, "soc_final_min": 0.1}]
    result = plan_result(read_plan_document(doc))
    expected = _brute_force(doc)
    if result["status"] != "optimal":
        assert expected == math.inf
        return
    assert violations(*as_dac(doc, result)) == []
    assert _same_cost(result["cost"], expected), (result["cost"], expected)


def test_a_warm_re_plan_equals_a_cold_plan_of_the_same_inputs() -> None:
    doc = document()
    warm = _planner(doc)
    warm.plan(np.asarray(doc["prices"]))
    prices = np.asarray(doc["prices"]) * np.linspace(1.5, 0.5, STEPS)
    state = {"battery": 0.3, "heat-pump": 21.0, "boiler": 6.0, "ev": 8.0}
    requests = GridRequests(import_limit_kw=np.full(STEPS, 8.0))
    again = warm.plan(prices, requests, state=state)
    cold = _planner(doc).plan(prices, requests, state=state)
    assert again.status == cold.status == "optimal"
    assert again.cost == pytest.approx(cold.cost, rel=1e-9, abs=1e-9)
    # The state replaced the initial values: the EV now charges 8 kWh, not 10.
    assert float(np.sum(again.devices["ev"])) == pytest.approx(8.0)


def test_requests_bound_the_net_and_shift_the_comfort_band() -> None:
    doc = document()
    planner = _planner(doc)
    free = planner.plan(np.asarray(doc["prices"]))
    committed = np.arange(STEPS) == 6
    baseline = np.where(committed, free.net_kw, np.inf)  # no commitment at the other steps
    reduction = np.where(committed, 1.0, 0.0)
    offset = np.full(STEPS, -1.5)  # DLC: the zone may be 1.5 K cooler
    dac_prices = np.asarray(doc["prices"]) + 0.05
    plan = planner.plan(
        np.asarray(doc["prices"]),
        GridRequests(
            prices_per_kwh=dac_prices,
            reduction_kw=reduction,
            baseline_kw=baseline,
            comfort_offset_c={"heat-pump": offset},
        ),
    )
    assert plan.status == "optimal"
    assert plan.net_kw[6] <= baseline[6] - 1.0 + 1e-7
    assert plan.cost == pytest.approx(float(dac_prices @ plan.net_kw))  # step_h is 1
    temperature = 20.0
    for t, power in enumerate(plan.devices["heat-pump"]):
        temperature += 1 / 5 * ((0.0 - temperature) / 4 + 3 * power)
        assert 17.5 - 1e-6 <= temperature <= 21.5 + 1e-6, t
    assert float(np.sum(plan.devices["heat-pump"])) < float(np.sum(free.devices["heat-pump"]))


def test_pv_is_curtailed_only_to_meet_an_export_limit() -> None:
    n = 4
    sun = np.array([0.0, 6.0, 6.0, 0.0])
    building = Building(
        "b", np.zeros(n), (pv("roof", sun, curtailable=True), load("fridge", np.full(n, 0.5)))
    )
    planner = Planner(building, n, 1.0)
    free = planner.plan(np.full(n, 0.2))
    assert free.devices["roof"] == pytest.approx(-sun)
    limited = planner.plan(np.full(n, 0.2), GridRequests(export_limit_kw=np.full(n, 4.0)))
    assert limited.net_kw.min() == pytest.approx(-4.0)
    assert limited.devices["roof"] == pytest.approx([0.0, -4.5, -4.5, 0.0])
    fixed = Planner(Building("b", np.zeros(n), (pv("roof", sun),)), n, 1.0)
    refused = fixed.plan(np.full(n, 0.2), GridRequests(export_limit_kw=np.full(n, 4.0)))
    assert refused.status == "infeasible"
    assert refused.infeasible == ("building",)
    assert refused.infeasible_step == 1


def test_infeasible_names_the_device_or_the_step() -> None:
    doc = document()
    doc["building"]["devices"][1]["energy_kwh"] = 100.0  # more than 5 h × 7.2 kW
    result = plan_result(read_plan_document(doc))
    assert result == {"status": "infeasible", "infeasible": [{"device": "ev"}]}
    doc = document()
    doc["import_limit_kw"] = [9.0] * STEPS
    doc["import_limit_kw"][5] = 0.5  # the base alone is 5 kW; the battery gives at most 3
    result = plan_result(read_plan_document(doc))
    assert result == {
        "status": "infeasible",
        "infeasible": [{"step": 5, "limit": "import_limit_kw"}],
    }


def test_update_keeps_the_devices_and_plans_the_new_forecast() -> None:
    doc = document()
    planner = _planner(doc)
    first = planner.plan(np.asarray(doc["prices"]))
    building = planner.building
    planner.update(Building(building.id, building.base_kw + 1.0, building.devices))
    second = planner.plan(np.asarray(doc["prices"]))
    assert second.net_kw == pytest.approx(first.net_kw + 1.0, abs=1e-6)
    with pytest.raises(ValueError, match="same devices"):
        planner.update(Building(building.id, building.base_kw, building.devices[:2]))
    with pytest.raises(ValueError, match="no device"):
        planner.plan(np.asarray(doc["prices"]), state={"nobody": 1.0})
    with pytest.raises(ValueError, match="not 8 steps"):
        Planner(Building("b", np.zeros(3), ()), STEPS, 1.0)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.lists(st.tuples(st.floats(0.0, 1.0), st.floats(0.5, 2.0)), max_size=4))
def test_re_plans_on_one_planner_equal_fresh_plans(
    doc: dict[str, Any], moves: list[tuple[float, float]]
) -> None:
    """Receding horizon: each re-plan (new prices, limit, state and comfort offset) starts from
    the last basis and finds what a new Planner finds."""
    read = read_plan_document(doc)
    planner = Planner(read.building, read.steps, read.step_h)
    planner.plan(read.prices, GridRequests(import_limit_kw=read.import_limit_kw))
    n = read.steps
    for fraction, scale in moves:
        state: dict[str, float] = {}
        offsets: dict[str, np.ndarray] = {}
        for device in read.building.devices:
            if device.kind == "battery":
                low, high = device["soc_min"], device["soc_max"]
                state[device.id] = low + fraction * (high - low)
            elif device.kind == "heating":
                state[device.id] = 19.0 + 3.0 * fraction
                offsets[device.id] = np.full(n, -fraction)
            elif device.kind == "water_heater":
                state[device.id] = 1.0 + 7.0 * fraction
            else:
                state[device.id] = device["energy_kwh"] * fraction
        requests = GridRequests(
            import_limit_kw=read.import_limit_kw * scale, comfort_offset_c=offsets
        )
        prices = read.prices * scale
        again = planner.plan(prices, requests, state=state)
        fresh = Planner(read.building, n, read.step_h).plan(prices, requests, state=state)
        assert again.status == fresh.status
        if fresh.status == "optimal":
            assert _same_cost(again.cost, fresh.cost), (again.cost, fresh.cost)
        else:
            assert again.infeasible == fresh.infeasible


def test_a_time_limit_on_the_battery_modes_gives_a_schedule_the_battery_can_follow() -> None:
    """Negative prices and no export: the battery burns energy in its losses, which takes a
    MILP over its modes (seconds to prove optimal). Capped, the plan is the best schedule by
    then: every equation kept, never charging and discharging at once, its gap reported."""
    doc = document()
    n = doc["steps"]
    prices = np.asarray(doc["prices"], dtype=float)
    prices[n // 3 : 2 * n // 3] = -0.3
    doc["prices"] = prices.tolist()
    read = read_plan_document(doc)
    planner = Planner(read.building, read.steps, read.step_h, mode_time_limit_s=0.05)
    plan = planner.plan(prices, GridRequests(export_limit_kw=np.zeros(n)))
    assert plan.usable
    assert plan.exclusive
    assert plan.status in ("optimal", "feasible")
    assert plan.gap >= 0.0
    if plan.status == "optimal":
        assert plan.gap == 0.0
    assert (plan.net_kw >= -1e-7).all()  # no export
    result = {
        "status": "optimal",
        "devices": [{"id": k, "power_kw": v.tolist()} for k, v in plan.devices.items()],
        "net_kw": plan.net_kw.tolist(),
        "cost": plan.cost,
    }
    assert violations(*as_dac(doc, result)) == []
