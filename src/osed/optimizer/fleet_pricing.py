"""Each household's best response to feeder multipliers ν: the pricing step of the
decomposition.

With the caps relaxed, household i minimises its bill plus Σ_t ν[t]·(import − export): an LP
of its own. Households are solved in blocks (one block-diagonal HiGHS LP each, single-threaded,
presolve off) that are kept between calls: only the import and export costs change, so each
re-solve starts from the previous optimal basis and needs few simplex pivots. Blocks run on a
small thread pool (HiGHS releases the GIL while it solves).
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


class _PricingBlock:
    def __init__(self, problem: FleetProblem, households: Index) -> None:
        self.households = households
        self.problem = problem
        self.highs = _quiet_highs()
        household_lp(problem, households, caps=False).pass_to(self.highs)
        self.highs.setBasis(_idle_basis(problem, households))
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


class Pricer:
    """Best responses of every household, in ``block_size`` blocks on ``workers`` threads."""

    def __init__(self, problem: FleetProblem, *, block_size: int = 10, workers: int = 2) -> None:
        self.problem = problem
        everyone = np.arange(problem.households)
        self.blocks = [
            _PricingBlock(problem, everyone[i : i + block_size])
            for i in range(0, problem.households, block_size)
        ]
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

    def close(self) -> None:
        self.pool.shutdown()


def _idle_basis(problem: FleetProblem, households: Index) -> highspy.HighsBasis:
    """The basis of the idle battery (c = d = 0, SoC constant, the meter takes the load):
    a cold start from it needs about a sixth of the pivots of a start from the slack basis."""
    n, t = households.size, problem.steps
    basic = np.zeros((n, Block(t).width), dtype=np.int64)
    importing = problem.net_load_kw[households] >= 0
    basic[:, 2 * t : 3 * t] = importing
    basic[:, 3 * t : 4 * t] = ~importing
    basic[:, 4 * t + 1 :] = 1  # the SoC after each step
    status = np.array([highspy.HighsBasisStatus.kLower, highspy.HighsBasisStatus.kBasic])
    basis = highspy.HighsBasis()
    basis.col_status = status[basic.ravel()].tolist()
    basis.row_status = [highspy.HighsBasisStatus.kLower] * (2 * t * n)
    basis.valid = True
    return basis


def _quiet_highs() -> highspy.Highs:
    highs = quiet_highs()
    highs.setOptionValue("threads", 1)
    # Tiny blocks re-solved from a warm basis: presolve would only discard that basis.
    highs.setOptionValue("presolve", "off")
    return highs
