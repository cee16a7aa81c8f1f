"""A representative sub-fleet: evenly spaced households under proportionally scaled caps.

Household data are drawn from one population, so the Lagrangian dual of a sample of k of N
households under caps scaled by k/N has nearly the same optimal multipliers as the whole
fleet's. Solving the sample first (about a tenth of the work) gives the decomposition of the
whole fleet multipliers whose bound is close to the optimum from its first round. Any
multipliers of the right signs give a valid bound, so a poor sample costs rounds, never the
bound's validity.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from osed.optimizer.fleet_problem import HOUSEHOLD_FIELDS, FleetProblem

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
