"""Fleet scheduling: the decomposition matches the monolithic LP within its proven gap, and
every schedule passes the independent check."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osed.domain.errors import ValidationError
from osed.optimizer.fleet_decomposition import solve_fleet
from osed.optimizer.fleet_model import solve_monolithic
from osed.optimizer.fleet_problem import FleetSchedule, check_fleet_schedule
from tests.unit.optimizer.fleet_scenarios import fleet


@pytest.mark.parametrize(("households", "seed"), [(20, 0), (60, 1)])
def test_the_decomposition_matches_the_monolithic_lp(households: int, seed: int) -> None:
    problem = fleet(households, seed=seed)
    reference = solve_monolithic(problem)
    fast = solve_fleet(problem, gap=1e-3)
    assert reference.status == "optimal"
    assert fast.status == "optimal"
    assert check_fleet_schedule(problem, fast) == []
    assert check_fleet_schedule(problem, reference) == []
    assert fast.gap <= 1e-3
    scale = max(abs(reference.objective), 1.0)
    # The bound is proven: never above the optimum; the schedule never below it.
    assert fast.lower_bound <= reference.objective + 1e-7 * scale
    assert fast.objective >= reference.objective - 1e-7 * scale
    assert fast.objective - reference.objective <= 1e-3 * scale


def test_the_caps_bind_in_the_scenarios() -> None:
    problem = fleet(50, seed=3)
    relaxed = dataclasses.replace(
        problem,
        feeder_import_max_kw=np.full(problem.steps, np.inf),
        feeder_export_max_kw=np.full(problem.steps, np.inf),
    )
    free = solve_monolithic(relaxed)
    capped = solve_monolithic(problem)
    over_import = free.feeder_net_kw > problem.feeder_import_max_kw + 1e-6
    over_export = -free.feeder_net_kw > problem.feeder_export_max_kw + 1e-6
    assert (over_import | over_export).sum() >= 10
    assert capped.objective > 1.05 * free.objective


def test_the_checker_catches_a_broken_schedule() -> None:
    problem = fleet(5, steps=24)
    schedule = solve_fleet(problem)
    assert check_fleet_schedule(problem, schedule) == []
    soc = schedule.soc_kwh.copy()
    soc[2, 10] += 0.5
    broken = dataclasses.replace(schedule, soc_kwh=soc)
    assert "SoC recursion broken" in check_fleet_schedule(problem, broken)
    cheaper = dataclasses.replace(schedule, objective=schedule.objective - 1.0)
    assert "objective does not match the schedule" in check_fleet_schedule(problem, cheaper)


@settings(max_examples=25, deadline=None)
@given(
    households=st.integers(1, 6),
    steps=st.integers(4, 12),
    seed=st.integers(0, 10_000),
    cap_share=st.floats(0.5, 1.2),
)
def test_random_small_fleets(households: int, steps: int, seed: int, cap_share: float) -> None:
    problem = fleet(households, steps=steps, seed=seed, cap_share=cap_share)
    reference = solve_monolithic(problem)
    fast = solve_fleet(problem, gap=1e-4)
    assert fast.status == reference.status
    if reference.status != "optimal":
        return
    assert check_fleet_schedule(problem, fast) == []
    scale = max(abs(reference.objective), 1.0)
    assert fast.lower_bound <= reference.objective + 1e-7 * scale
    assert fast.objective - reference.objective <= 1e-4 * scale + 1e-9


def test_an_unreachable_final_soc_is_named() -> None:
    problem = fleet(4, steps=8, final_share=0.9)
    problem = dataclasses.replace(problem, charge_max_kw=np.full(4, 0.1))
    schedule = solve_fleet(problem)
    assert schedule.status == "infeasible"
    assert any("household 0: final SoC" in reason for reason in schedule.report)


def test_a_cap_no_battery_power_can_meet_is_named() -> None:
    problem = fleet(10, steps=24)
    # Every household draws 10 kW more than its battery can give: no way under a 5 kW cap.
    problem = dataclasses.replace(
        problem,
        net_load_kw=np.abs(problem.net_load_kw) + 10.0,
        feeder_import_max_kw=np.full(24, 5.0),
    )
    schedule: FleetSchedule = solve_fleet(problem)
    assert schedule.status == "infeasible"
    assert any("even with every battery discharging" in reason for reason in schedule.report)


def test_bad_input_names_every_problem() -> None:
    problem = fleet(3, steps=4)
    bad = dataclasses.replace(
        problem,
        capacity_kwh=np.array([10.0, -1.0, 10.0]),
        charge_efficiency=np.array([1.0, 1.0, 1.5]),
        export_price=np.array([0.05, 0.5, 0.05, 0.05]),
        import_price=np.array([0.2, 0.2, 0.2]),
    )
    with pytest.raises(ValidationError) as caught:
        solve_fleet(bad)
    assert {p.path for p in caught.value.problems} == {"$.import_price"}
    bad = dataclasses.replace(bad, import_price=problem.import_price)
    with pytest.raises(ValidationError) as caught:
        solve_fleet(bad)
    assert {p.path for p in caught.value.problems} >= {
        "$.capacity_kwh[1]",
        "$.charge_efficiency[2]",
        "$.export_price[1]",
    }
