"""Each household's best response to feeder multipliers ν: the pricing step of the
decomposition.

With the caps relaxed, household i minimises its bill plus Σ_t ν[t]·(import − export): an LP
of its own. Households are solved in blocks (one block-diagonal HiGHS LP each, single-threaded,
presolve off) that are kept between calls: only the import and export costs change, so each
re-solve starts from the previous optimal basis and needs few simplex pivots. Blocks run on a
small thread pool (HiGHS releases the GIL while it solves).

The first solve starts from a given basis per household (:class:`Bases`, e.g. those of similar
households in a solved sample) or else from the idle battery's.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import highspy
import numpy as np
from numpy.typing import NDArray

from osed.optimizer.fleet_lp import Block, Index, household_lp
from osed.optimizer.fleet_problem import Array, FleetProblem
from osed.optimizer.highs_instance import quiet_highs


@dataclass(frozen=True, slots=True)
class Responses:
    """Best responses of all households to one ν."""

    charge: Array  # (N, T)
    discharge: Array  # (N, T)
    value: float
    """Σ_i min(bill_i + ν·net_i): the Lagrangian value before the caps' constant."""
    infeasible: Index
    """Households without any feasible schedule of their own (then nothing else is valid)."""


@dataclass(frozen=True, slots=True)
class Bases:
    """Simplex basis statuses (``highspy.HighsBasisStatus`` values) of households' pricing
    LPs, one row per household: its 5T + 1 columns and its 2T rows."""

    columns: NDArray[np.int8]  # (n, 5T + 1)
    rows: NDArray[np.int8]  # (n, 2T)

    def of(self, households: Index) -> Bases:
        return Bases(self.columns[households], self.rows[households])

    def basis(self) -> highspy.HighsBasis:
        basis = highspy.HighsBasis()
        basis.col_status = _STATUS[self.columns.ravel()].tolist()
        basis.row_status = _STATUS[self.rows.ravel()].tolist()
        basis.valid = True
        return basis


_STATUS = np.array([highspy.HighsBasisStatus(code) for code in range(5)])


class _PricingBlock:
    def __init__(self, problem: FleetProblem, households: Index, start: Bases | None) -> None:
        self.households = households
        self.problem = problem
        self.highs = _quiet_highs()
        household_lp(problem, households, caps=False).pass_to(self.highs)
        self.highs.setBasis((idle_bases(problem, households) if start is None else start).basis())
        n, t, dt = households.size, problem.steps, problem.dt_h
        base = Block(t).width * np.arange(n)[:, None] + np.arange(t)
        self.columns: NDArray[np.int32] = np.concatenate(
            [(base + 2 * t).ravel(), (base + 3 * t).ravel()]
        ).astype(np.int32)
        self.base_cost = np.concatenate(
            [np.tile(dt * problem.import_price, n), np.tile(-dt * problem.export_price, n)]
        )
        self.sign = np.concatenate([np.ones(n * t), -np.ones(n * t)])

    def respond(self, nu: Array) -> tuple[Array | None, float]:
        """The block's solution (None when infeasible) and its objective."""
        n = self.households.size
        cost = self.base_cost + self.sign * np.tile(nu, 2 * n)
        self.highs.changeColsCost(self.columns.size, self.columns, cost)
        self.highs.run()
        if self.highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            # Once more from the idle battery's basis, in case a borrowed one misled HiGHS.
            self.highs.setBasis(idle_bases(self.problem, self.households).basis())
            self.highs.run()
        if self.highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None, np.inf
        x = np.asarray(self.highs.getSolution().col_value)
        return x, float(self.highs.getInfo().objective_function_value)

    def infeasible_households(self) -> Index:
        """Which households of this block have no schedule (each solved on its own)."""
        bad = []
        for i in self.households:
            highs = _quiet_highs()
            household_lp(self.problem, np.array([i]), caps=False).pass_to(highs)
            highs.run()
            if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                bad.append(i)
        return np.array(bad, dtype=np.int64)

    def bases(self) -> Bases:
        basis = self.highs.getBasis()
        n = self.households.size
        columns = np.fromiter(map(int, basis.col_status), dtype=np.int8).reshape(n, -1)
        rows = np.fromiter(map(int, basis.row_status), dtype=np.int8).reshape(n, -1)
        return Bases(columns, rows)


class Pricer:
    """Best responses of every household, in ``block_size`` blocks on ``workers`` threads,
    the first solve starting from ``start`` (one basis per household) or the idle battery."""

    def __init__(
        self,
        problem: FleetProblem,
        *,
        block_size: int = 10,
        workers: int = 2,
        start: Bases | None = None,
    ) -> None:
        self.problem = problem
        everyone = np.arange(problem.households)
        self.blocks = []
        for i in range(0, problem.households, block_size):
            households = everyone[i : i + block_size]
            self.blocks.append(
                _PricingBlock(problem, households, None if start is None else start.of(households))
            )
        self.pool = ThreadPoolExecutor(max_workers=max(1, workers))
        self.block = Block(problem.steps)

    def respond(self, nu: Array) -> Responses:
        n, t = self.problem.households, self.problem.steps
        charge, discharge = np.empty((n, t)), np.empty((n, t))
        value, bad = 0.0, []
        results = self.pool.map(lambda block: block.respond(nu), self.blocks)
        for block, (x, objective) in zip(self.blocks, results, strict=True):
            if x is None:
                bad.append(block.infeasible_households())
                continue
            value += objective
            at = block.households
            charge[at] = np.clip(self.block.part(x, 0), 0.0, self.problem.charge_max_kw[at, None])
            discharge[at] = np.clip(
                self.block.part(x, 1), 0.0, self.problem.discharge_max_kw[at, None]
            )
        infeasible = np.concatenate(bad) if bad else np.empty(0, dtype=np.int64)
        return Responses(charge, discharge, value, infeasible)

    def bases(self) -> Bases:
        """Every household's current basis (after a solve: optimal for the last ν)."""
        parts = [block.bases() for block in self.blocks]
        return Bases(
            np.concatenate([part.columns for part in parts]),
            np.concatenate([part.rows for part in parts]),
        )

    def close(self) -> None:
        self.pool.shutdown()


def idle_bases(problem: FleetProblem, households: Index) -> Bases:
    """The basis of the idle battery (c = d = 0, SoC constant, the meter takes the load):
    a cold start from it needs about a sixth of the pivots of a start from the slack basis."""
    n, t = households.size, problem.steps
    lower, basic = int(highspy.HighsBasisStatus.kLower), int(highspy.HighsBasisStatus.kBasic)
    columns = np.full((n, Block(t).width), lower, dtype=np.int8)
    importing = problem.net_load_kw[households] >= 0
    columns[:, 2 * t : 3 * t] = np.where(importing, basic, lower)
    columns[:, 3 * t : 4 * t] = np.where(importing, lower, basic)
    columns[:, 4 * t + 1 :] = basic  # the SoC after each step
    return Bases(columns, np.full((n, 2 * t), lower, dtype=np.int8))


def _quiet_highs() -> highspy.Highs:
    highs = quiet_highs()
    highs.setOptionValue("threads", 1)
    # Tiny blocks re-solved from a warm basis: presolve would only discard that basis.
    highs.setOptionValue("presolve", "off")
    return highs
