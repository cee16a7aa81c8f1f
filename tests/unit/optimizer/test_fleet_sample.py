"""Starting the decomposition from a sample's multipliers: the sample is a fair miniature of
the fleet, and starting from it changes neither the bound's validity nor the optimum."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osed.optimizer.fleet_check import check_schedule
from osed.optimizer.fleet_decomposition import solve_fleet
from osed.optimizer.fleet_monolithic import solve_monolithic
from osed.optimizer.fleet_sample import sample_fleet
from tests.unit.optimizer.fleet_scenarios import fleet


def test_a_sample_keeps_households_whole_and_scales_the_caps() -> None:
    problem = fleet(100, steps=8, seed=3)
    sample = sample_fleet(problem, 10)
    sample.validate()
    assert sample.households == 10
    chosen = [
        int(np.flatnonzero((problem.net_load_kw == row).all(axis=1))[0])
        for row in sample.net_load_kw
    ]
    assert chosen[0] == 0
    assert chosen[-1] == 99
    assert np.all(np.diff(chosen) >= 10)  # spread over the fleet, not its first ten
    assert np.array_equal(sample.capacity_kwh, problem.capacity_kwh[chosen])
    assert np.allclose(sample.feeder_import_max_kw, 0.1 * problem.feeder_import_max_kw)
    assert np.allclose(sample.feeder_export_max_kw, 0.1 * problem.feeder_export_max_kw)


def test_uncapped_steps_stay_uncapped_in_the_sample() -> None:
    problem = fleet(20, steps=4)
    problem = dataclasses.replace(problem, feeder_import_max_kw=np.array([np.inf, 5, np.inf, 5]))
    sample = sample_fleet(problem, 5)
    assert np.isinf(sample.feeder_import_max_kw[[0, 2]]).all()
    assert np.allclose(sample.feeder_import_max_kw[[1, 3]], 5 * 5 / 20)


@pytest.mark.parametrize(("households", "seed"), [(120, 0), (150, 4)])
def test_a_sampled_start_reaches_the_monolithic_optimum(households: int, seed: int) -> None:
    problem = fleet(households, steps=48, seed=seed, cap_share=0.6)
    reference = solve_monolithic(problem)
    warm = solve_fleet(problem, gap=1e-3, sample_share=0.5)
    cold = solve_fleet(problem, gap=1e-3, sample_share=0.0)
    scale = abs(reference.objective)
    for schedule in (warm, cold):
        assert schedule.status == "optimal"
        assert check_schedule(problem, schedule) == []
        assert schedule.lower_bound <= reference.objective + 1e-7 * scale
        assert schedule.objective >= reference.objective - 1e-7 * scale
        assert schedule.objective - reference.objective <= 1e-3 * scale
    assert abs(warm.objective - cold.objective) <= 1e-3 * scale


@settings(max_examples=10, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    cap_share=st.floats(0.45, 1.1),
    final_share=st.none() | st.floats(0.1, 0.6),
)
def test_a_sampled_start_never_proves_a_bound_above_the_optimum(
    seed: int, cap_share: float, final_share: float | None
) -> None:
    problem = fleet(100, steps=12, seed=seed, cap_share=cap_share, final_share=final_share)
    reference = solve_monolithic(problem)
    warm = solve_fleet(problem, gap=1e-4, sample_share=0.5)
    assert warm.status == reference.status
    if reference.status == "optimal":
        scale = max(abs(reference.objective), 1.0)
        assert warm.lower_bound <= reference.objective + 1e-7 * scale
        assert warm.objective - reference.objective <= 1e-4 * scale
        assert check_schedule(problem, warm) == []
    else:
        assert warm.report


def test_an_infeasible_fleet_is_proven_so_with_a_sampled_start() -> None:
    # Loads only (no PV) and no import at all: half-full batteries cannot carry a whole day.
    problem = fleet(60, seed=1)
    problem = dataclasses.replace(
        problem,
        net_load_kw=np.abs(problem.net_load_kw) + 0.5,
        feeder_import_max_kw=np.zeros(96),
    )
    schedule = solve_fleet(problem, sample_share=0.9, max_iterations=200, time_limit_s=120)
    assert schedule.status == "infeasible"
    assert any("energy limits" in reason for reason in schedule.report)
