"""A representative sub-fleet: evenly spaced households under proportionally scaled caps.

Household data are drawn from one population, so the Lagrangian dual of a sample of k of N
households under caps scaled by k/N has nearly the same optimal multipliers as the whole
fleet's. Solving the sample first (about a tenth of the work) gives the decomposition of the
whole fleet multipliers whose bound is close to the optimum from its first round. Any
multipliers of the right signs give a valid bound, so a poor sample costs rounds, never the
bound's validity.

The sample's pricing bases also start the fleet's: each household borrows the final basis of
the sample household most like it (net load, battery), which is optimal or nearly so for it
(at 3,000 households 7 pivots per household in the first round instead of 73 from the idle
battery's basis).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from osed.optimizer.fleet_lp import Index
from osed.optimizer.fleet_problem import HOUSEHOLD_FIELDS, Array, FleetProblem

HOUSEHOLD_ARRAYS = ("net_load_kw", *HOUSEHOLD_FIELDS)


def sample_fleet(problem: FleetProblem, size: int) -> FleetProblem:
    """``size`` households spread evenly over the fleet, the feeder caps scaled by their share."""
    chosen = np.unique(np.linspace(0, problem.households - 1, size).round().astype(np.int64))
    share = chosen.size / problem.households
    households = {name: getattr(problem, name)[chosen] for name in HOUSEHOLD_ARRAYS}
    return dataclasses.replace(
        problem,
        **households,
        feeder_import_max_kw=share * problem.feeder_import_max_kw,
        feeder_export_max_kw=share * problem.feeder_export_max_kw,
    )


def most_alike(problem: FleetProblem, sample: FleetProblem, *, chunk: int = 2000) -> Index:
    """For each household of ``problem``, the sample household nearest to it in net load
    (every step) and battery (capacity over four hours, power): Euclidean, in kW."""
    fleet, pool = _features(problem), _features(sample)
    pool_norms = (pool**2).sum(axis=1)
    nearest = np.empty(problem.households, dtype=np.int64)
    for start in range(0, problem.households, chunk):
        part = fleet[start : start + chunk]
        distance = pool_norms[None, :] - 2.0 * part @ pool.T  # |part|² is the same per row
        nearest[start : start + chunk] = distance.argmin(axis=1)
    return nearest


def _features(problem: FleetProblem) -> Array:
    return np.concatenate(
        [
            problem.net_load_kw,
            problem.capacity_kwh[:, None] / 4.0,
            problem.charge_max_kw[:, None],
            problem.discharge_max_kw[:, None],
        ],
        axis=1,
    )
