"""The buildings' side of the DAC game: each building's best response to the prices it is
sent, plus a proximal term that keeps it near its previous schedule.

The proximal term (ρ/2)‖net − anchor‖² is represented piecewise linearly (``SEGMENTS`` pieces
either side of the anchor, exact at their breakpoints, the last one unbounded), so every
response stays a linear program: HiGHS re-solves it from the previous optimal basis after the
prices (costs) and the anchor (row bounds) change, in a few pivots — a convex QP through
HiGHS' QP solver was orders of magnitude slower on these models. Buildings are solved in
blocks (one block-diagonal LP each) on a small thread pool; each block only ever sees its own
buildings' data, as a building's controller would.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import highspy
import numpy as np

from osed.buildings.device_lp import BlockModel, block_model, device_powers, initial_rows
from osed.buildings.devices_schema import Array, Building
from osed.gridfunctions.builtin._dac_document import DacProblem
from osed.optimizer.highs import INF, pass_program
from osed.optimizer.highs_instance import quiet_highs

SEGMENTS = 4
RATIO = 6.0
"""Segment k spans [δ(RATIO^k − 1)/(RATIO − 1), δ(RATIO^(k+1) − 1)/(RATIO − 1)): fine near the
anchor, quadratic up to about half of a building's flexible power, then linear. Four pieces
either side took a quarter fewer rounds than six at 300 buildings (64 against 85), each round a
sixth cheaper (fewer columns); three were cheaper still per round but took more rounds."""


@dataclass(frozen=True, slots=True)
class Response:
    net_kw: Array
    """(B, N) each building's net power; NaN rows for buildings without a schedule."""
    devices: list[list[Array]]
    """Per building, each device's power (N,)."""
    infeasible: list[int]
    """Buildings (indices) that have no schedule at all."""


class _Block:
    def __init__(self, problem: DacProblem, first: int, buildings: list[Building]) -> None:
        self.problem = problem
        self.first = first
        self.count = len(buildings)
        self.scale = np.array([_flexible_kw(b) for b in buildings])
        model = block_model(
            buildings, steps=problem.steps, step_h=problem.step_h, prices=problem.prices
        )
        n = problem.steps
        program = model.program
        # Deviation columns: up[b, t, k] and down[b, t, k], then rows net − Σup + Σdown = anchor.
        size = self.count * n * SEGMENTS
        self.up = program.add_columns(size).reshape(self.count, n, SEGMENTS)
        self.down = program.add_columns(size).reshape(self.count, n, SEGMENTS)
        self.rows = program.add_rows(self.count * n, lower=0.0, upper=0.0).reshape(self.count, n)
        program.add_entries(self.rows, model.net, 1.0)
        for k in range(SEGMENTS):
            program.add_entries(self.rows, self.up[:, :, k], -1.0)
            program.add_entries(self.rows, self.down[:, :, k], 1.0)
        self.model: BlockModel = model
        self.highs = quiet_highs()
        self.highs.setOptionValue("threads", 1)
        self.highs.setOptionValue("presolve", "off")  # small blocks re-solved from a basis
        self.refused = not pass_program(self.highs, program)
        self.deviation = np.concatenate([self.up.ravel(), self.down.ravel()]).astype(np.int32)
        self.net = model.net.ravel().astype(np.int32)
        self.anchor_rows = self.rows.ravel().astype(np.int32)

    def start_from(self, other: _Block) -> None:
        """Start from ``other``'s last basis when the two models have the same shape (the same
        buildings' devices at another state)."""
        basis = other.highs.getBasis()
        same = (other.highs.getNumRow(), other.highs.getNumCol()) == (
            self.highs.getNumRow(),
            self.highs.getNumCol(),
        )
        if basis.valid and same and not self.refused:
            self.highs.setBasis(basis)

    def set_initial_states(self, buildings: Sequence[Building]) -> None:
        """The block's buildings at another state (the same devices, series and windows)."""
        devices = [device for building in buildings for device in building.devices]
        rows, rhs = initial_rows(self.model, devices, self.problem.step_h)
        if rows.size and not self.refused:
            self.highs.changeRowsBounds(  # type: ignore[attr-defined]  # not in highspy's stubs
                rows.size, rows, rhs, rhs
            )

    def respond(
        self, prices: Array, anchors: Array | None, rho: float, width: float
    ) -> tuple[Array | None, list[list[Array]]]:
        n, h = self.problem.steps, self.problem.step_h
        self.highs.changeColsCost(self.net.size, self.net, np.tile(h * prices, self.count))
        if anchors is None:
            # No proximal term: the anchor rows are free and the deviations fixed at zero, so
            # that the next round's anchor (this schedule) keeps this basis primal feasible.
            cost = np.zeros(self.deviation.size)
            upper = np.zeros(self.deviation.size)
            row_lower = np.full(self.count * n, -INF)
            row_upper = np.full(self.count * n, INF)
        else:
            delta = np.maximum(width * self.scale, 1e-4)[:, None, None]
            k = np.arange(SEGMENTS)[None, None, :]
            start = delta * (RATIO**k - 1) / (RATIO - 1)
            end = delta * (RATIO ** (k + 1) - 1) / (RATIO - 1)
            slope = rho * (start + end) / 2 * np.ones((self.count, n, 1))
            bound = np.where(k < SEGMENTS - 1, end - start, INF) * np.ones((self.count, n, 1))
            cost = np.concatenate([slope.ravel(), slope.ravel()])
            upper = np.concatenate([bound.ravel(), bound.ravel()])
            row_lower = row_upper = anchors.ravel()
        self.highs.changeColsCost(self.deviation.size, self.deviation, cost)
        self.highs.changeColsBounds(
            self.deviation.size, self.deviation, np.zeros(self.deviation.size), upper
        )
        self.highs.changeRowsBounds(  # type: ignore[attr-defined]  # not in highspy's stubs
            self.anchor_rows.size, self.anchor_rows, row_lower, row_upper
        )
        self.highs.run()
        if not self.refused and not self._optimal():
            # A warm start HiGHS could not finish (numerical trouble): once more from scratch.
            self.highs.clearSolver()
            self.highs.run()
        if self.refused or not self._optimal():
            return None, []
        x = np.asarray(self.highs.getSolution().col_value)
        powers = device_powers(self.model, x)
        per_building: list[list[Array]] = [[] for _ in range(self.count)]
        for placed, power in zip(self.model.devices, powers, strict=True):
            per_building[placed.building].append(power)
        base = self.problem.base_kw[self.first : self.first + self.count]
        net = base + np.array([np.sum(p, axis=0) if p else np.zeros(n) for p in per_building])
        return net, per_building

    def _optimal(self) -> bool:
        return bool(self.highs.getModelStatus() == highspy.HighsModelStatus.kOptimal)


class Buildings:
    """Every building's response, in blocks of ``block_size`` on ``workers`` threads."""

    def __init__(self, problem: DacProblem, *, block_size: int = 10, workers: int = 2) -> None:
        self.problem = problem
        everyone = list(problem.buildings)
        self.blocks = [
            _Block(problem, i, everyone[i : i + block_size])
            for i in range(0, len(everyone), block_size)
        ]
        self.pool = ThreadPoolExecutor(max_workers=max(1, workers))

    def respond(
        self, prices: Array, anchors: Array | None = None, rho: float = 0.0, width: float = 0.0
    ) -> Response:
        """Responses to ``prices`` (per kWh, (N,)); with ``anchors`` (B, N), each building also
        pays the proximal term ρ/2 ‖net − anchor‖² (segments ``width`` × its flexible kW)."""
        b, n = len(self.problem.buildings), self.problem.steps
        net = np.full((b, n), np.nan)
        devices: list[list[Array]] = [[] for _ in range(b)]
        infeasible: list[int] = []

        def one(block: _Block) -> tuple[Array | None, list[list[Array]]]:
            mine = None if anchors is None else anchors[block.first : block.first + block.count]
            return block.respond(prices, mine, rho, width)

        for block, (values, powers) in zip(
            self.blocks, self.pool.map(one, self.blocks), strict=True
        ):
            if values is None:
                infeasible.extend(range(block.first, block.first + block.count))
                continue
            net[block.first : block.first + block.count] = values
            devices[block.first : block.first + block.count] = powers
        return Response(net, devices, infeasible)

    def best_response_gaps(self, prices: Array, net_kw: Array) -> Array:
        """(B,) each schedule's cost over the building's own optimum under ``prices`` (no
        proximal term), relative to that optimum's gross bill h Σ prices·|net| (a net cost
        near zero, imports and exports cancelling, is no scale); +inf without an optimum."""
        h = self.problem.step_h
        alone = self.respond(prices).net_kw
        optimum = h * alone @ prices
        gross = h * np.abs(alone) @ prices
        gaps: Array = (h * net_kw @ prices - optimum) / np.maximum(
            np.maximum(np.abs(optimum), gross), 1e-6
        )
        return np.where(np.isnan(gaps), np.inf, gaps)

    def close(self) -> None:
        self.pool.shutdown()


def _flexible_kw(building: Building) -> float:
    """The building's total controllable power: the scale of its proximal segments."""
    total = 0.0
    for d in building.devices:
        if d.kind == "battery":
            total += d["charge_max_kw"] + d["discharge_max_kw"]
        elif d.kind == "ev":
            total += d["charge_max_kw"]
        else:
            total += d["power_max_kw"]
    return max(total, 0.1)
