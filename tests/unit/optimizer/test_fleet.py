"""Fleet scheduling: the decomposition matches the monolithic LP within its proven gap, every
schedule passes the independent checker (which can fail), infeasible fleets are explained and
bad input is rejected with every problem's path."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osed.domain.errors import ValidationError
from osed.optimizer.fleet_check import check_schedule
from osed.optimizer.fleet_decomposition import solve_fleet
from osed.optimizer.fleet_monolithic import solve_monolithic
from osed.optimizer.fleet_problem import FleetProblem, FleetSchedule
from tests.unit.optimizer.fleet_scenarios import fleet


def assert_within_gap(
    problem: FleetProblem, fast: FleetSchedule, reference: FleetSchedule, gap: float
) -> None:
    assert reference.status == "optimal"
    assert fast.status == "optimal"
    assert check_schedule(problem, fast) == []
    assert check_schedule(problem, reference) == []
    assert fast.gap <= gap
    scale = max(abs(reference.objective), 1.0)
    # The bound is proven (never above the optimum) and the schedule feasible (never below).
    assert fast.lower_bound <= reference.objective + 1e-7 * scale
    assert fast.objective >= reference.objective - 1e-7 * scale
    assert fast.objective - reference.objective <= gap * scale


@pytest.mark.parametrize(("households", "seed"), [(20, 0), (50, 1), (120, 2)])
def test_the_decomposition_matches_the_monolithic_lp(households: int, seed: int) -> None:
    problem = fleet(households, seed=seed, cap_share=0.6)
    assert_within_gap(problem, solve_fleet(problem, gap=1e-3), solve_monolithic(problem), 1e-3)


def test_the_caps_bind_and_cost_money() -> None:
    problem = fleet(50, seed=3, cap_share=0.6)
    free = dataclasses.replace(
        problem,
        feeder_import_max_kw=np.full(problem.steps, np.inf),
        feeder_export_max_kw=np.full(problem.steps, np.inf),
    )
    uncapped = solve_fleet(free)
    capped = solve_monolithic(problem)
    assert uncapped.status == "optimal"
    # Without caps the households are independent: one round, no gap beyond rounding.
    assert uncapped.gap == pytest.approx(0.0, abs=1e-12)
    over = (uncapped.feeder_net_kw > problem.feeder_import_max_kw + 1e-6) | (
        -uncapped.feeder_net_kw > problem.feeder_export_max_kw + 1e-6
    )
    assert over.sum() >= 10
    assert capped.objective > uncapped.objective + 0.003 * abs(uncapped.objective)


def test_the_checker_catches_broken_schedules() -> None:
    problem = fleet(5, steps=24)
    schedule = solve_fleet(problem)
    assert check_schedule(problem, schedule) == []

    def broken(**changes: object) -> list[str]:
        return check_schedule(problem, dataclasses.replace(schedule, **changes))  # type: ignore[arg-type]

    soc = schedule.soc_kwh.copy()
    soc[2, 10] += 0.5
    assert any("SoC recursion broken at household 2" in i for i in broken(soc_kwh=soc))
    charge = schedule.charge_kw.copy()
    charge[1, 3] = problem.charge_max_kw[1] + 1.0
    issues = broken(charge_kw=charge)
    assert any("charge above its limit at household 1, step 3" in i for i in issues)
    assert any("household balance violated" in i for i in issues)
    exports = schedule.export_kw + 1000.0
    issues = broken(export_kw=exports, import_kw=schedule.import_kw + 1000.0)
    assert not any("balance" in i for i in issues)  # both sides moved: still balanced
    assert any("objective" in i for i in issues)
    assert any("objective" in i for i in broken(objective=schedule.objective - 1.0))
    assert any("lower bound" in i for i in broken(lower_bound=schedule.objective + 1.0))
    tight = dataclasses.replace(
        problem, feeder_import_max_kw=np.full(24, float(schedule.feeder_net_kw.max()) - 1.0)
    )
    assert any("feeder import cap exceeded" in i for i in check_schedule(tight, schedule))


@settings(max_examples=25, deadline=None)
@given(
    households=st.integers(1, 6),
    steps=st.integers(4, 12),
    seed=st.integers(0, 10_000),
    cap_share=st.floats(0.5, 1.2),
    final_share=st.none() | st.floats(0.1, 0.6),
)
def test_random_small_fleets(
    households: int, steps: int, seed: int, cap_share: float, final_share: float | None
) -> None:
    problem = fleet(
        households, steps=steps, seed=seed, cap_share=cap_share, final_share=final_share
    )
    reference = solve_monolithic(problem)
    fast = solve_fleet(problem, gap=1e-4)
    assert fast.status == reference.status
    if reference.status == "optimal":
        assert_within_gap(problem, fast, reference, 1e-4)
    else:
        assert fast.report


def test_an_unreachable_final_soc_is_named() -> None:
    problem = fleet(4, steps=8, final_share=0.9)
    problem = dataclasses.replace(problem, charge_max_kw=np.array([5.0, 0.1, 5.0, 5.0]))
    for schedule in (solve_fleet(problem), solve_monolithic(problem)):
        assert schedule.status == "infeasible"
        assert any(r.startswith("household 1: final SoC") for r in schedule.report)
        assert not schedule.feasible


def test_a_step_no_battery_power_can_meet_is_named() -> None:
    problem = fleet(10, steps=24)
    load = np.abs(problem.net_load_kw) + 1.0
    load[:, 7] += 10.0  # at step 7 every household draws 10 kW more than its battery gives
    problem = dataclasses.replace(
        problem, net_load_kw=load, feeder_import_max_kw=np.full(24, 10.0 * load[:, 0].sum())
    )
    problem = dataclasses.replace(
        problem, feeder_import_max_kw=np.where(np.arange(24) == 7, 5.0, np.inf)
    )
    for schedule in (solve_fleet(problem), solve_monolithic(problem)):
        assert schedule.status == "infeasible"
        assert any(r.startswith("step 7: the feeder imports at least") for r in schedule.report)


def test_caps_short_of_energy_over_the_horizon_are_explained() -> None:
    # Each step alone could be met by discharging, but not all 12 in a row: the batteries
    # run empty. No single-step or single-household condition fails.
    problem = fleet(3, steps=12, cap_share=1.0)
    load = np.full((3, 12), 3.0)
    problem = dataclasses.replace(
        problem,
        net_load_kw=load,
        feeder_import_max_kw=np.full(12, 1.0),
        feeder_export_max_kw=np.full(12, np.inf),
        dt_h=2.0,
    )
    for schedule in (solve_fleet(problem), solve_monolithic(problem)):
        assert schedule.status == "infeasible"
        assert any("energy limits" in reason for reason in schedule.report)


def test_a_fleet_short_of_energy_is_proven_infeasible_in_few_rounds() -> None:
    # No import at all: the night load cannot be carried by half-full batteries. The bound
    # must cross the cost ceiling quickly, well before the iteration limit.
    problem = dataclasses.replace(fleet(6, seed=1), feeder_import_max_kw=np.zeros(96))
    schedule = solve_fleet(problem, max_iterations=200)
    assert schedule.status == "infeasible"
    assert schedule.iterations <= 60
    assert any("energy limits" in reason for reason in schedule.report)
    assert solve_monolithic(problem).status == "infeasible"


def test_the_time_budget_returns_a_valid_bound() -> None:
    problem = fleet(40, seed=5, cap_share=0.6)
    optimum = solve_monolithic(problem).objective
    hurried = solve_fleet(problem, time_limit_s=0.0)
    assert hurried.status == "time_limit"
    assert hurried.iterations == 1
    assert hurried.lower_bound <= optimum + 1e-7 * abs(optimum)
    if hurried.feasible:
        assert check_schedule(problem, hurried) == []


def test_bad_input_names_every_problem_with_its_path() -> None:
    problem = fleet(3, steps=4)
    bad = dataclasses.replace(
        problem,
        capacity_kwh=np.array([10.0, -1.0, 10.0]),
        charge_efficiency=np.array([1.0, 1.0, 1.5]),
        import_price=np.array([0.2, 0.01, 0.2, 0.2]),
    )
    with pytest.raises(ValidationError) as caught:
        solve_fleet(bad)
    paths = {p.path for p in caught.value.problems}
    assert paths >= {
        "$.households[1].capacity_kwh",
        "$.households[2].charge_efficiency",
        "$.steps[1].export_price",
    }
    wrong_shape = dataclasses.replace(problem, import_price=np.array([0.2, 0.2]))
    with pytest.raises(ValidationError) as caught:
        solve_monolithic(wrong_shape)
    assert [p.path for p in caught.value.problems] == ["$.steps[*].import_price"]
