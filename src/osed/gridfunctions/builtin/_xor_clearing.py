"""Exact clearing of an XOR flexibility round: a covering multiple-choice knapsack.

Each building b offers at each price p_j a quantity q_bj; at most one of its offers is accepted,
in full, and paid as bid (cost c_bj = p_j q_bj h). The EDC needs Σ accepted q >= R at least
cost. Method (docs/grid-functions.md):

1. Dominance: an offer is dropped when another offer of the same building gives at least as
   much for at most the same cost (and offers of 0 kW). Vectorised: offers sorted by cost within
   each building, one running maximum of the quantity, O(B·P log P).
2. Feasibility: the round is infeasible exactly when Σ_b max_j q_bj < R (the shortfall).
3. The remaining offers form a 0-1 program with one row per building and one covering row;
   HiGHS solves it by branch and bound from the LP bound (whose optimum has at most two
   fractional offers, so the bound is tight) and stops only when the incumbent's cost is within
   ``ABS_GAP`` of the proven lower bound. The answer is therefore proven, not estimated. The
   worst case is exponential (the problem is NP-hard); the LP bound and reduced-cost fixing keep
   the search to a few nodes on rounds of 10,000 buildings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import highspy
import numpy as np
from numpy.typing import NDArray

from osed.gridfunctions.builtin._xor_bound import lagrangian_bound
from osed.gridfunctions.builtin._xor_search import Found, search
from osed.optimizer.highs_instance import quiet_highs

Status = Literal["optimal", "infeasible", "time_limit"]
ABS_GAP = 1e-9
"""The largest difference in cost between the answer and the proven bound."""
PROOF_GAP = 1e-7
"""An acceptance whose cost is within this share of the LP bound is optimal (to rounding)."""
FEASIBILITY = 1e-9
"""Relative tolerance (to the request) on the covering row."""


@dataclass(frozen=True, slots=True)
class Clearing:
    status: Status
    choice: NDArray[np.intp]
    """Per building, the index of its accepted price, or -1."""
    cost: float
    procured_kw: float
    lower_bound: float
    """A proven lower bound on the least cost (equal to ``cost`` within ``ABS_GAP``)."""
    available_kw: float
    """The most the buildings can give together (one offer each)."""
    lp_bound: float
    """The LP (Lagrangian) bound the search started from."""
    core_buildings: int
    """The buildings whose choice the search had to decide (the others were fixed by the
    bound)."""
    seconds: float


def clear(
    quantities_kw: NDArray[np.float64],
    prices: NDArray[np.float64],
    *,
    request_kw: float,
    duration_h: float,
    time_limit_s: float = 60.0,
) -> Clearing:
    """The least-cost acceptance of at most one offer per building covering ``request_kw``."""
    started = time.perf_counter()
    buildings = quantities_kw.shape[0]
    available = float(quantities_kw.max(axis=1).sum()) if quantities_kw.size else 0.0
    tolerance = FEASIBILITY * max(1.0, request_kw)
    if available < request_kw - tolerance:
        nothing = np.full(buildings, -1, dtype=np.intp)
        return Clearing("infeasible", nothing, 0.0, 0.0, 0.0, available, 0.0, 0, _since(started))
    # Column 0: not accepted; column j + 1: the offer at price j.
    quantity = np.concatenate([np.zeros((buildings, 1)), quantities_kw], axis=1)
    cost = quantity * np.concatenate([[0.0], prices])[np.newaxis, :] * duration_h
    bound = lagrangian_bound(quantity, cost, request_kw, tolerance=tolerance)
    proof_gap = PROOF_GAP * max(1.0, abs(bound.lower_bound))
    if bound.incumbent_cost - bound.lower_bound <= proof_gap:  # the bound proves it
        found: Found | None = Found(bound.incumbent, bound.incumbent_cost, 0, 1, bound.lower_bound)
    else:
        found = search(quantity, cost, request_kw, bound, tolerance=tolerance, proof_gap=proof_gap)
    if found is not None:
        status: Status = "optimal"
        choice, lower_bound, core = found.choice, found.lower_bound, found.core_buildings
    else:  # too many near-optimal combinations for the search: branch and bound instead
        building, column = undominated(quantities_kw, cost[:, 1:])
        status, chosen, lower_bound = _branch_and_bound(
            quantities_kw[building, column],
            cost[building, column + 1],
            building,
            request_kw=request_kw,
            time_limit_s=time_limit_s,
        )
        choice = np.zeros(buildings, dtype=np.intp)
        choice[building[chosen]] = column[chosen] + 1
        core = len(building)
    rows = np.arange(buildings)
    total = float(cost[rows, choice].sum())
    procured = float(quantity[rows, choice].sum())
    return Clearing(
        status,
        choice - 1,
        total,
        procured,
        min(lower_bound, total),
        available,
        bound.lower_bound,
        core,
        _since(started),
    )


def _since(started: float) -> float:
    return time.perf_counter() - started


def undominated(
    quantities_kw: NDArray[np.float64], costs: NDArray[np.float64]
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """(building, price index) of every offer no other offer of its building dominates."""
    order = np.lexsort((-quantities_kw, costs), axis=1)  # by cost, larger quantity first
    q = np.take_along_axis(quantities_kw, order, axis=1)
    best_before = np.maximum.accumulate(q, axis=1)
    best_before = np.concatenate([np.zeros((q.shape[0], 1)), best_before[:, :-1]], axis=1)
    keep = q > best_before  # more than every cheaper (or equally cheap) offer, and above 0
    building, position = np.nonzero(keep)
    return building.astype(np.intp), order[building, position].astype(np.intp)


def _branch_and_bound(
    quantity: NDArray[np.float64],
    cost: NDArray[np.float64],
    building: NDArray[np.intp],
    *,
    request_kw: float,
    time_limit_s: float,
) -> tuple[Status, NDArray[np.bool_], float]:
    """The 0-1 program over the kept offers: one row per building (at most one offer), one
    covering row; returns the status, the chosen offers and the proven lower bound."""
    offers = len(quantity)
    _, group = np.unique(building, return_inverse=True)
    groups = int(group.max()) + 1 if offers else 0
    # Column k has two entries: the covering row 0 (its quantity) and its building's row.
    indptr = np.arange(0, 2 * offers + 1, 2, dtype=np.int32)
    indices = np.empty(2 * offers, dtype=np.int32)
    indices[0::2] = 0
    indices[1::2] = 1 + group
    values = np.empty(2 * offers)
    values[0::2] = quantity
    values[1::2] = 1.0
    row_lower = np.concatenate(
        [[request_kw * (1 - FEASIBILITY)], np.full(groups, -highspy.kHighsInf)]
    )
    row_upper = np.concatenate([[highspy.kHighsInf], np.ones(groups)])
    highs = quiet_highs()
    for option, value in (
        ("threads", 1),
        ("mip_rel_gap", 0.0),
        ("mip_abs_gap", ABS_GAP),
        ("mip_feasibility_tolerance", FEASIBILITY),
        ("primal_feasibility_tolerance", FEASIBILITY),
        ("time_limit", float(time_limit_s)),
    ):
        highs.setOptionValue(option, value)
    highs.passModel(
        offers,
        groups + 1,
        2 * offers,
        int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize),
        0.0,
        cost,
        np.zeros(offers),
        np.ones(offers),
        row_lower,
        row_upper,
        indptr,
        indices,
        values,
        np.ones(offers, dtype=np.int32),
    )
    highs.run()
    model_status = highs.getModelStatus()
    info = highs.getInfo()
    if info.primal_solution_status != 2:  # no incumbent (cannot happen once feasible)
        return "time_limit", np.zeros(offers, dtype=bool), float(info.mip_dual_bound)
    chosen = np.asarray(highs.getSolution().col_value) > 0.5
    proven = model_status == highspy.HighsModelStatus.kOptimal
    return ("optimal" if proven else "time_limit"), chosen, float(info.mip_dual_bound)
