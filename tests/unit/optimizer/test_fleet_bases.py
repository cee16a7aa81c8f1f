"""Pricing started from borrowed bases: the sample household most alike lends its final basis,
which changes the number of pivots, never the responses' value."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from osed.optimizer.fleet_pricing import Pricer
from osed.optimizer.fleet_problem import FleetProblem
from osed.optimizer.fleet_sample import most_alike, sample_fleet
from tests.unit.optimizer.fleet_scenarios import fleet


def _pivots(pricer: Pricer) -> int:
    return sum(block.highs.getInfo().simplex_iteration_count for block in pricer.blocks)


@settings(max_examples=20, deadline=None)
@given(households=st.integers(2, 300), share=st.floats(0.05, 1.0), seed=st.integers(0, 1000))
def test_every_sampled_household_is_most_alike_itself(
    households: int, share: float, seed: int
) -> None:
    problem = fleet(households, steps=24, seed=seed)
    size = max(1, int(share * households))
    sample = sample_fleet(problem, size)
    chosen = np.unique(np.linspace(0, households - 1, size).round().astype(np.int64))
    nearest = most_alike(problem, sample, chunk=7)
    assert nearest.shape == (households,)
    assert np.array_equal(nearest[chosen], np.arange(chosen.size))
    assert nearest.min() >= 0
    assert nearest.max() < sample.households


def test_borrowed_bases_cut_the_pivots_not_the_value() -> None:
    problem = fleet(300, seed=5)
    sample = sample_fleet(problem, 30)
    nu = np.where(np.arange(96) % 7 == 0, 0.01, 0.0)
    borrowed, idle = _borrowing_and_idle(problem, sample, nu)
    try:
        first, second = borrowed.respond(nu), idle.respond(nu)
        assert abs(first.value - second.value) <= 1e-7 * abs(second.value)
        assert _pivots(borrowed) < 0.5 * _pivots(idle)
    finally:
        borrowed.close()
        idle.close()


def test_bases_borrowed_across_other_targets_and_meter_limits_still_price_exactly() -> None:
    lender_fleet = fleet(40, steps=24, seed=2)
    problem = dataclasses.replace(
        fleet(40, steps=24, seed=9, final_share=0.7),
        meter_import_max_kw=np.full(40, 5.0),
    )
    nu = np.linspace(-0.02, 0.03, 24)
    borrowed, idle = _borrowing_and_idle(problem, lender_fleet, nu)
    try:
        first, second = borrowed.respond(nu), idle.respond(nu)
        assert first.infeasible.size == second.infeasible.size == 0
        assert abs(first.value - second.value) <= 1e-7 * max(abs(second.value), 1.0)
    finally:
        borrowed.close()
        idle.close()


def _borrowing_and_idle(
    problem: FleetProblem, lender_fleet: FleetProblem, nu: np.ndarray
) -> tuple[Pricer, Pricer]:
    """A pricer of ``problem`` starting from the bases ``lender_fleet``'s pricer ended with at
    ``nu`` (each household from its most alike lender), and one starting idle."""
    lender = Pricer(lender_fleet, workers=1)
    lender.respond(nu)
    bases = lender.bases().of(most_alike(problem, lender_fleet))
    lender.close()
    return Pricer(problem, workers=1, start=bases), Pricer(problem, workers=1)
