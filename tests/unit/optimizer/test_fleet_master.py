"""The restricted master keeps only part of its columns in HiGHS: its optimum must still be the
optimum over every column it was given."""

from __future__ import annotations

import highspy
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from osed.optimizer.fleet_master import Master
from osed.optimizer.fleet_problem import FleetProblem
from osed.optimizer.highs_instance import quiet_highs
from tests.unit.optimizer.fleet_scenarios import fleet


def _every_column_at_once(
    problem: FleetProblem, households: np.ndarray, cost: np.ndarray, net: np.ndarray
) -> float:
    """The same master as one LP with every column and a row for every cap, no artificials."""
    n, t = problem.households, problem.steps
    highs = quiet_highs()
    count = households.size
    matrix = np.zeros((n + t, count))
    matrix[households, np.arange(count)] = 1.0
    matrix[n:] = net.T
    lower = np.concatenate([np.ones(n), -problem.feeder_export_max_kw])
    upper = np.concatenate([np.ones(n), problem.feeder_import_max_kw])
    rows, cols = np.nonzero(matrix)
    order = np.lexsort((rows, cols))
    rows, cols = rows[order], cols[order]
    starts = np.searchsorted(cols, np.arange(count)).astype(np.int32)
    highs.passModel(
        count,
        n + t,
        rows.size,
        int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize),
        0.0,
        cost,
        np.zeros(count),
        np.full(count, highspy.kHighsInf),
        np.clip(lower, -highspy.kHighsInf, None),
        np.clip(upper, None, highspy.kHighsInf),
        starts,
        rows.astype(np.int32),
        matrix[rows, cols],
        np.zeros(count, dtype=np.int32),
    )
    highs.run()
    assert highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return float(highs.getInfo().objective_function_value)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), rounds=st.integers(2, 6))
def test_the_master_is_optimal_over_every_column_it_was_given(seed: int, rounds: int) -> None:
    problem = fleet(12, steps=8, seed=seed, cap_share=0.8)
    rng = np.random.default_rng(seed)
    master = Master(problem)
    everyone = np.arange(problem.households)
    # Round 0 is each household alone: then random schedules in its net power range, enough
    # for the caps to be met by some mix and for columns to enter and leave the basis.
    given_households, given_cost, given_net = [], [], []
    for round_ in range(rounds):
        households = everyone if round_ == 0 else rng.choice(everyone, 8, replace=False)
        spread = problem.charge_max_kw[households, None] * rng.uniform(
            -1.0, 1.0, (households.size, problem.steps)
        )
        net = problem.net_load_kw[households] + (0.0 if round_ == 0 else spread)
        cost = (
            np.maximum(net, 0) @ problem.import_price - np.maximum(-net, 0) @ problem.export_price
        ) * problem.dt_h + rng.uniform(0.0, 0.05, households.size)
        master.add(households, cost, net)
        solution = master.solve()
        given_households.append(households)
        given_cost.append(cost)
        given_net.append(net)
    if solution.violation.sum() > 1e-9:
        return  # the columns cannot meet the caps: no finite optimum to compare
    households = np.concatenate(given_households)
    expected = _every_column_at_once(
        problem, households, np.concatenate(given_cost), np.concatenate(given_net)
    )
    assert abs(solution.objective - expected) <= 1e-7 * (1.0 + abs(expected))
    # The weights are those of every column given, in order: a convex mix per household.
    assert solution.weights.size == households.size
    per_household = np.bincount(households, solution.weights, problem.households)
    np.testing.assert_allclose(per_household, 1.0, atol=1e-7)
