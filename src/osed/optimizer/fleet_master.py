"""The restricted master LP of the decomposition.

Columns are household schedules found by pricing; the master picks, per household, a convex
combination of its columns (one convexity row each, = 1) under the feeder caps (one row per
capped step over the columns' net power). Each household's feasible set is convex, so any
master solution is a feasible fleet schedule. Artificial columns, priced far above any bill,
absorb cap violations until pricing has found enough columns.

The master is solved by primal simplex and kept between iterations: new columns leave the
previous basis primal feasible, so each re-solve is a warm start.

HiGHS holds only part of the columns (sifting). Primal simplex computes a row of the tableau and
updates the reduced costs over every column at each pivot, so a master that keeps every column
of every round slows down faster than linearly (at 10,000 households ≈ 8,000 pivots per
re-solve over up to 80,000 columns). After each solve the columns that left the basis with a
positive reduced cost are taken out of HiGHS and kept in a pool; the reduced costs of the pool
are computed with NumPy after each solve, and pool columns that would improve the solution go
back in before it is accepted. The accepted solution is therefore optimal over every column
found so far, exactly as if all were in HiGHS.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np

from osed.optimizer.fleet_lp import Index
from osed.optimizer.fleet_problem import Array, FleetProblem
from osed.optimizer.highs_instance import quiet_highs

ARTIFICIAL_PRICE = 1e4
"""Cost per kW of cap violation per step, in units of the largest |price|·Δt (plus one)."""
IMPROVING = 1e-9
"""A pool column improves the master when its reduced cost is below −IMPROVING·(1 + |cost|)."""


@dataclass(frozen=True, slots=True)
class MasterSolution:
    objective: float
    weights: Array  # per column, in the order added
    convexity_duals: Array  # (N,) π
    multipliers: Array  # (T,) ν ≥ 0 on import caps, ≤ 0 on export caps, 0 where uncapped
    violation: Array  # (T,) kW of cap violation still carried by the artificial columns


class Master:
    def __init__(self, problem: FleetProblem) -> None:
        n, t = problem.households, problem.steps
        self.households = n
        self.steps = t
        capped = np.isfinite(problem.feeder_import_max_kw) | np.isfinite(
            problem.feeder_export_max_kw
        )
        self.capped_steps: Index = np.flatnonzero(capped)
        self.highs = quiet_highs()
        self.highs.setOptionValue("threads", 1)
        self.highs.setOptionValue("presolve", "off")  # it would discard the warm basis
        self.highs.setOptionValue("solver", "simplex")
        self.highs.setOptionValue("simplex_strategy", 4)  # primal: new columns keep feasibility
        inf = highspy.kHighsInf
        empty_i, empty_v = np.empty(0, np.int32), np.empty(0)
        self.highs.addRows(n, np.ones(n), np.ones(n), 0, empty_i, empty_i, empty_v)
        k = self.capped_steps.size
        self.row_lower = np.maximum(-problem.feeder_export_max_kw[self.capped_steps], -inf)
        self.row_upper = np.minimum(problem.feeder_import_max_kw[self.capped_steps], inf)
        self.reference = np.full((n, t), np.nan)
        self.highs.addRows(k, self.row_lower, self.row_upper, 0, empty_i, empty_i, empty_v)
        price = ARTIFICIAL_PRICE * (
            problem.dt_h * float(np.abs(problem.import_price).max() + problem.cycling_cost) + 1.0
        )
        rows = (n + np.arange(k)).astype(np.int32)
        for sign in (-1.0, 1.0):
            self.highs.addCols(
                k,
                np.full(k, price),
                np.zeros(k),
                np.full(k, inf),
                k,
                np.arange(k, dtype=np.int32),
                rows,
                np.full(k, sign),
            )
        self.artificials = 2 * k
        self.columns = 0
        # Every column by order of addition: household, cost, net less reference (capped steps).
        self.pool_household: Index = np.empty(0, dtype=np.int64)
        self.pool_cost: Array = np.empty(0)
        self.pool_deviation: Array = np.empty((0, k))
        self.live: Index = np.empty(0, dtype=np.int64)  # pool columns in HiGHS, in its order

    def add(self, households: Index, cost: Array, net: Array) -> None:
        """Columns: household ``households[j]`` costing ``cost[j]`` with net power ``net[j]``.

        The first column of each household is its reference: the cap rows hold Σ reference
        net in their bounds and every column only its difference to its reference, which is
        zero wherever the schedules agree (most steps), so the master stays sparse."""
        count = households.size
        if count == 0:
            return
        fresh = self.reference[households, 0] != self.reference[households, 0]
        if fresh.any():
            self.reference[households[fresh]] = net[fresh]
            shift = net[fresh][:, self.capped_steps].sum(axis=0)
            self.row_lower -= shift
            self.row_upper -= shift
            rows = (self.households + np.arange(self.capped_steps.size)).astype(np.int32)
            # In highspy since 1.7, missing from its type stubs.
            self.highs.changeRowsBounds(  # type: ignore[attr-defined]
                rows.size, rows, self.row_lower, self.row_upper
            )
        net = net - self.reference[households]
        net[np.abs(net) <= 1e-12] = 0.0
        deviation = net[:, self.capped_steps]
        self.live = np.concatenate([self.live, self.columns + np.arange(count)])
        self.pool_household = np.concatenate([self.pool_household, households])
        self.pool_cost = np.concatenate([self.pool_cost, cost])
        self.pool_deviation = np.concatenate([self.pool_deviation, deviation])
        self.columns += count
        self._insert(households, cost, deviation)

    def _insert(self, households: Index, cost: Array, deviation: Array) -> None:
        """Columns into HiGHS: a 1 in the household's convexity row, then the cap rows."""
        count, k = households.size, self.capped_steps.size
        rows = np.concatenate(
            [households[:, None], self.households + np.broadcast_to(np.arange(k), (count, k))],
            axis=1,
        )
        values = np.concatenate([np.ones((count, 1)), deviation], axis=1)
        keep = values != 0.0
        sizes = keep.sum(axis=1)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int32)
        self.highs.addCols(
            count,
            cost,
            np.zeros(count),
            np.full(count, highspy.kHighsInf),
            int(sizes.sum()),
            starts,
            rows[keep].astype(np.int32),
            values[keep],
        )

    def reduced_costs(
        self, households: Index, cost: Array, net: Array, solution: MasterSolution
    ) -> Array:
        """What adding these columns would save per unit weight (negative: they improve)."""
        deviation = net - np.nan_to_num(self.reference[households])
        reduced: Array = (
            cost + deviation @ solution.multipliers - solution.convexity_duals[households]
        )
        return reduced

    def solve(self) -> MasterSolution:
        """Optimal over every column added so far (pool columns return while they improve)."""
        while True:
            self.highs.run()
            solution = self.highs.getSolution()
            duals = np.asarray(solution.row_dual)
            outside = np.ones(self.columns, dtype=bool)
            outside[self.live] = False
            pool = np.flatnonzero(outside)
            reduced = (
                self.pool_cost[pool]
                - duals[self.pool_household[pool]]
                - self.pool_deviation[pool] @ duals[self.households :]
            )
            back = pool[reduced < -IMPROVING * (1.0 + np.abs(self.pool_cost[pool]))]
            if not back.size:
                break
            self.live = np.concatenate([self.live, back])
            self._insert(self.pool_household[back], self.pool_cost[back], self.pool_deviation[back])
        x = np.asarray(solution.col_value)
        n = self.households
        multipliers = np.zeros(self.steps)
        # HiGHS: reduced cost = cost − aᵀy, so a binding ≤ row has y ≤ 0; ν = −y prices net power.
        multipliers[self.capped_steps] = -duals[n:]
        k = self.capped_steps.size
        violation = np.zeros(self.steps)
        violation[self.capped_steps] = x[:k] + x[k : 2 * k]
        weights = np.zeros(self.columns)
        weights[self.live] = x[self.artificials :]
        result = MasterSolution(
            float(self.highs.getInfo().objective_function_value),
            weights,
            duals[:n],
            multipliers,
            violation,
        )
        self._retire(np.asarray(solution.col_dual)[self.artificials :])
        return result

    def _retire(self, reduced: Array) -> None:
        """Take the columns that are non-basic with a positive reduced cost out of HiGHS."""
        basic = np.fromiter(
            (s == highspy.HighsBasisStatus.kBasic for s in self.highs.getBasis().col_status),
            dtype=bool,
            count=self.artificials + self.live.size,
        )[self.artificials :]
        out = ~basic & (reduced > 0.0)
        if out.any():
            gone = (self.artificials + np.flatnonzero(out)).astype(np.int32)
            self.highs.deleteCols(gone.size, gone)
            self.live = self.live[~out]
