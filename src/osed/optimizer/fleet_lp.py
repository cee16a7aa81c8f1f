"""Households of a fleet as one HiGHS LP in column-wise arrays, with or without the caps.

Columns are household-major: for each household c[T], d[T], import[T], export[T], s[T + 1]
(``WIDTH`` = 5T + 1 columns), so a block of households is a contiguous slice and a solution
reshapes to (n, 5T + 1). Rows: per household T balances (import − export − c + d = L) and T
SoC steps (s[t+1] − s[t] − η_c·Δt·c + Δt/η_d·d = 0); then, with the caps, T feeder rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from osed.optimizer.fleet_problem import Array, FleetProblem

Index = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class ColumnwiseLp:
    """An LP as the arrays of HiGHS's column-wise ``passModel``: they go to HiGHS as they are,
    where a ``HighsLp`` would copy them element by element (most of the time of building
    thousands of small pricing LPs)."""

    cost: Array
    col_lower: Array
    col_upper: Array
    row_lower: Array
    row_upper: Array
    starts: NDArray[np.int32]
    index: NDArray[np.int32]
    values: Array

    def pass_to(self, highs: highspy.Highs) -> None:
        def finite(side: Array) -> Array:
            clipped: Array = np.clip(side, -highspy.kHighsInf, highspy.kHighsInf)
            return clipped

        status = highs.passModel(
            self.cost.size,
            self.row_lower.size,
            self.values.size,
            int(highspy.MatrixFormat.kColwise),
            int(highspy.ObjSense.kMinimize),
            0.0,
            self.cost,
            finite(self.col_lower),
            finite(self.col_upper),
            finite(self.row_lower),
            finite(self.row_upper),
            self.starts,
            self.index,
            self.values,
            np.zeros(self.cost.size, dtype=np.int32),  # every column continuous
        )
        if status == highspy.HighsStatus.kError:
            raise ValueError("HiGHS rejected the households' LP")


@dataclass(frozen=True, slots=True)
class Block:
    """Where the parts of one household's schedule sit in its row of a reshaped solution."""

    steps: int

    @property
    def width(self) -> int:
        return 5 * self.steps + 1

    def part(self, x: Array, which: int) -> Array:
        """``which``: 0 charge, 1 discharge, 2 import, 3 export, 4 SoC (T + 1 values)."""
        t = self.steps
        stop = (which + 1) * t + (which == 4)
        part: Array = x.reshape(-1, self.width)[:, which * t : stop]
        return part


def household_lp(problem: FleetProblem, households: Index, *, caps: bool) -> ColumnwiseLp:
    """The LP of these households, with the feeder rows only when ``caps``."""
    n, t, dt = households.size, problem.steps, problem.dt_h
    width = Block(t).width
    steps = np.arange(t)

    cost = np.zeros((n, width))
    cost[:, t : 2 * t] = dt * problem.cycling_cost
    cost[:, 2 * t : 3 * t] = dt * problem.import_price
    cost[:, 3 * t : 4 * t] = -dt * problem.export_price
    lower = np.zeros((n, width))
    upper = np.empty((n, width))
    upper[:, :t] = problem.charge_max_kw[households, None]
    upper[:, t : 2 * t] = problem.discharge_max_kw[households, None]
    upper[:, 2 * t : 3 * t] = problem.meter_import_kw[households, None]
    upper[:, 3 * t : 4 * t] = problem.meter_export_kw[households, None]
    lower[:, 4 * t :] = problem.soc_min_kwh[households, None]
    upper[:, 4 * t :] = problem.soc_max_kwh[households, None]
    lower[:, 4 * t] = upper[:, 4 * t] = problem.soc_initial_kwh[households]
    lower[:, -1] = problem.final_soc_kwh[households]

    # Entries household by household: local rows 0..T-1 balance, T..2T-1 SoC steps.
    eta_c = problem.charge_efficiency[households, None]
    eta_d = problem.discharge_efficiency[households, None]
    ones = np.ones((n, t))
    local_rows = [steps, steps + t, steps, steps + t, steps, steps]
    local_cols = [steps, steps, steps + t, steps + t, steps + 2 * t, steps + 3 * t]
    values = [-ones, -dt * eta_c * ones, ones, dt / eta_d * ones, ones, -ones]
    local_rows += [steps + t, steps + t]  # s[t+1] and s[t] in SoC step t
    local_cols += [steps + 4 * t + 1, steps + 4 * t]
    values += [ones, -ones]
    base_row = (2 * t * np.arange(n))[:, None]
    base_col = (width * np.arange(n))[:, None]
    rows = np.concatenate([base_row + r for r in local_rows], axis=1).ravel()
    cols = np.concatenate([base_col + c for c in local_cols], axis=1).ravel()
    vals = np.concatenate(values, axis=1).ravel()
    rhs = np.zeros((n, 2 * t))
    rhs[:, :t] = problem.net_load_kw[households]
    row_lower, row_upper = rhs.ravel(), rhs.ravel()
    row_count = 2 * t * n
    if caps:
        feeder = 2 * t * n + steps
        imports = (base_col + 2 * t + steps).ravel()
        exports = (base_col + 3 * t + steps).ravel()
        rows = np.concatenate([rows, np.tile(feeder, n), np.tile(feeder, n)])
        cols = np.concatenate([cols, imports, exports])
        vals = np.concatenate([vals, np.ones(n * t), -np.ones(n * t)])
        row_lower = np.concatenate([row_lower, -problem.feeder_export_max_kw])
        row_upper = np.concatenate([row_upper, problem.feeder_import_max_kw])
        row_count += t
    matrix = sp.csc_matrix((vals, (rows, cols)), shape=(row_count, n * width))
    matrix.sort_indices()

    return ColumnwiseLp(
        cost.ravel(),
        lower.ravel(),
        upper.ravel(),
        row_lower,
        row_upper,
        matrix.indptr.astype(np.int32),
        matrix.indices.astype(np.int32),
        matrix.data,
    )
