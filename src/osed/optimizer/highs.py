"""A linear program in arrays, solved by HiGHS (highspy) without a modelling layer.

:class:`LinearProgram` collects columns (cost, bounds, integrality) and rows (bounds, sparse
coefficients) as flat arrays; :func:`solve` hands them to HiGHS in one ``passModel`` call
(arrays straight into HiGHS: a model of millions of entries passes in a fraction of a second)
and returns the primal values with the status, the objective, the proven bound and the gap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

import highspy
import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_array

from osed.optimizer.highs_instance import quiet_highs

INF = math.inf
Array = NDArray[np.float64]


class SolveStatus(StrEnum):
    OPTIMAL = "optimal"
    TIME_LIMIT = "time_limit"
    """Stopped by the time budget: the best incumbent is returned with its gap."""
    INFEASIBLE = "infeasible"
    FAILED = "failed"


@dataclass
class LinearProgram:
    """Columns and rows added block by block; coefficients as (row, column, value) triples."""

    cost: list[Array] = field(default_factory=list)
    col_lower: list[Array] = field(default_factory=list)
    col_upper: list[Array] = field(default_factory=list)
    integer: list[NDArray[np.bool_]] = field(default_factory=list)
    row_lower: list[Array] = field(default_factory=list)
    row_upper: list[Array] = field(default_factory=list)
    entries: list[tuple[NDArray[np.int64], NDArray[np.int64], Array]] = field(default_factory=list)
    cost_updates: list[tuple[NDArray[np.int64], Array]] = field(default_factory=list)
    columns: int = 0
    rows: int = 0

    def set_cost(self, columns: NDArray[np.int64] | int, values: float | Array) -> None:
        """Set the cost of columns already added."""
        at = np.atleast_1d(np.asarray(columns, dtype=np.int64))
        self.cost_updates.append((at, np.broadcast_to(np.asarray(values, float), at.shape).copy()))

    def costs(self) -> Array:
        cost = np.concatenate(self.cost) if self.cost else np.empty(0)
        for at, values in self.cost_updates:
            cost[at] = values
        return cost

    def add_columns(
        self,
        count: int,
        *,
        lower: float | Array = 0.0,
        upper: float | Array = INF,
        cost: float | Array = 0.0,
        integer: bool = False,
    ) -> NDArray[np.int64]:
        """Add ``count`` columns; returns their indices."""
        self.cost.append(np.broadcast_to(np.asarray(cost, dtype=float), (count,)).copy())
        self.col_lower.append(np.broadcast_to(np.asarray(lower, dtype=float), (count,)).copy())
        self.col_upper.append(np.broadcast_to(np.asarray(upper, dtype=float), (count,)).copy())
        self.integer.append(np.full(count, integer))
        first = self.columns
        self.columns += count
        return np.arange(first, first + count, dtype=np.int64)

    def add_rows(
        self, count: int, *, lower: float | Array = -INF, upper: float | Array = INF
    ) -> NDArray[np.int64]:
        """Add ``count`` rows with these bounds; returns their indices."""
        self.row_lower.append(np.broadcast_to(np.asarray(lower, dtype=float), (count,)).copy())
        self.row_upper.append(np.broadcast_to(np.asarray(upper, dtype=float), (count,)).copy())
        first = self.rows
        self.rows += count
        return np.arange(first, first + count, dtype=np.int64)

    def add_entries(
        self,
        rows: NDArray[np.int64],
        columns: NDArray[np.int64],
        values: float | Array,
    ) -> None:
        rows, columns = np.broadcast_arrays(np.asarray(rows), np.asarray(columns))
        flat_rows = rows.ravel().astype(np.int64)
        flat_values = np.broadcast_to(np.asarray(values, dtype=float), rows.shape).ravel()
        self.entries.append((flat_rows, columns.ravel().astype(np.int64), flat_values.copy()))

    def has_integers(self) -> bool:
        return any(block.any() for block in self.integer)


@dataclass(frozen=True, slots=True)
class Solution:
    status: SolveStatus
    x: Array
    """Column values (empty when there is no feasible point)."""
    objective: float
    bound: float
    """A proven lower bound on the optimum (equal to ``objective`` for a solved LP)."""
    gap: float
    seconds: float
    mip: bool
    detail: str = ""
    """HiGHS' own words for the model status (why it failed, when it did)."""


def solve(
    program: LinearProgram,
    *,
    time_limit_s: float | None = None,
    mip_gap: float = 1e-6,
    threads: int = 1,
) -> Solution:
    """Minimise the program. A MILP stopped by ``time_limit_s`` returns its incumbent."""
    highs = quiet_highs()
    highs.setOptionValue("threads", threads)
    highs.setOptionValue("mip_rel_gap", mip_gap)
    if time_limit_s is not None:
        highs.setOptionValue("time_limit", float(time_limit_s))
    if not _pass_model(highs, program):
        refused = "HiGHS refused the model: a coefficient, cost or bound is out of its range"
        return Solution(
            SolveStatus.FAILED, np.empty(0), INF, -INF, INF, 0.0, program.has_integers(), refused
        )
    highs.run()
    status = highs.getModelStatus()
    info = highs.getInfo()
    mip = program.has_integers()
    seconds = float(highs.getRunTime())
    has_point = info.primal_solution_status == 2  # kSolutionStatusFeasible
    x = np.asarray(highs.getSolution().col_value, dtype=float) if has_point else np.empty(0)
    objective = float(info.objective_function_value) if has_point else INF
    if mip:
        bound = float(info.mip_dual_bound)
        gap = float(info.mip_gap) if has_point else INF
    else:
        bound, gap = objective, 0.0
    if status == highspy.HighsModelStatus.kOptimal:
        result = SolveStatus.OPTIMAL
    elif status in (highspy.HighsModelStatus.kInfeasible,):
        result = SolveStatus.INFEASIBLE
    elif status == highspy.HighsModelStatus.kTimeLimit:
        result = SolveStatus.TIME_LIMIT  # with or without an incumbent (``x`` empty)
    else:
        result = SolveStatus.FAILED
    detail = str(highs.modelStatusToString(status))
    return Solution(result, x, objective, bound, gap, seconds, mip, detail)


def pass_program(highs: highspy.Highs, program: LinearProgram) -> bool:
    """Load ``program`` into ``highs`` (to re-solve it with changed costs, or add a Hessian);
    False if HiGHS refuses it."""
    return _pass_model(highs, program)


def _pass_model(highs: highspy.Highs, program: LinearProgram) -> bool:
    """The program into ``highs`` as a column-wise matrix; False if HiGHS refuses it."""
    rows = np.concatenate([e[0] for e in program.entries]) if program.entries else np.empty(0, int)
    cols = np.concatenate([e[1] for e in program.entries]) if program.entries else np.empty(0, int)
    vals = np.concatenate([e[2] for e in program.entries]) if program.entries else np.empty(0)
    # Column-wise storage, rows sorted within each column; repeated (row, column) entries add up.
    matrix = coo_array((vals, (rows, cols)), shape=(program.rows, program.columns)).tocsc()
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    matrix.sort_indices()
    # 1: kInteger, 0: kContinuous (HiGHS takes an all-continuous list as an LP).
    integrality = (
        np.concatenate(program.integer).astype(np.int32)
        if program.integer
        else np.zeros(0, np.int32)
    )
    status = highs.passModel(
        program.columns,
        program.rows,
        int(matrix.nnz),
        int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize),
        0.0,
        program.costs(),
        _finite(np.concatenate(program.col_lower) if program.col_lower else np.empty(0)),
        _finite(np.concatenate(program.col_upper) if program.col_upper else np.empty(0)),
        _finite(np.concatenate(program.row_lower) if program.row_lower else np.empty(0)),
        _finite(np.concatenate(program.row_upper) if program.row_upper else np.empty(0)),
        matrix.indptr.astype(np.int32),
        matrix.indices.astype(np.int32),
        matrix.data.astype(float),
        integrality,
    )
    return bool(status != highspy.HighsStatus.kError)


def _finite(values: Array | list[float]) -> Array:
    """HiGHS's own infinity for unbounded sides."""
    array = np.asarray(values, dtype=float)
    clipped: Array = np.clip(array, -highspy.kHighsInf, highspy.kHighsInf)
    return clipped
