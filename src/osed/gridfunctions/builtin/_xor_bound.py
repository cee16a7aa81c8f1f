"""The Lagrangian (LP) bound of an XOR round and a first feasible acceptance.

Offers are a matrix with a leading column for "not accepted" (0 kW, cost 0). For a multiplier
λ >= 0 on the covering row, each building's best offer minimises its reduced cost c - λq, and
g(λ) = λR + Σ_b min_j (c_bj - λ q_bj) is a lower bound on the least cost of every acceptance
covering R (weak duality). g is concave; its maximum, the LP bound, lies where the best offers'
total quantity crosses R, found by bisection on λ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Matrix = NDArray[np.float64]
BISECTIONS = 60


@dataclass(frozen=True, slots=True)
class Bound:
    multiplier: float
    """λ: the marginal cost of a kW at the bound."""
    lower_bound: float
    incumbent: NDArray[np.intp]
    """Per building, the column of a feasible acceptance (0: not accepted)."""
    incumbent_cost: float


def best_offers(
    quantity: Matrix, cost: Matrix, multiplier: float, *, larger: bool = True
) -> NDArray[np.intp]:
    """Per building, the column of least reduced cost (ties: the larger quantity, or the
    smaller with ``larger`` False)."""
    reduced = cost - multiplier * quantity
    least = reduced.min(axis=1, keepdims=True)
    tied = reduced <= least
    if larger:
        return np.asarray(np.argmax(np.where(tied, quantity, -1.0), axis=1), dtype=np.intp)
    return np.asarray(np.argmin(np.where(tied, quantity, np.inf), axis=1), dtype=np.intp)


def lagrangian_bound(
    quantity: Matrix, cost: Matrix, request: float, *, tolerance: float = 0.0
) -> Bound:
    """The LP bound and the better of two roundings of the LP solution; the round must be
    feasible (Σ_b max_j q_bj >= request)."""
    rows = np.arange(quantity.shape[0])

    def covered(multiplier: float) -> float:
        return float(quantity[rows, best_offers(quantity, cost, multiplier)].sum())

    low = 0.0
    high = float(np.max(cost / np.where(quantity > 0, quantity, np.inf), initial=0.0)) + 1.0
    needed = request - tolerance
    for _ in range(200):  # a larger λ prefers larger offers; at the end, the largest
        if covered(high) >= needed:
            break
        low, high = high, 2.0 * high
    if covered(low) >= needed:
        high = low
    else:
        for _ in range(BISECTIONS):
            middle = 0.5 * (low + high)
            if covered(middle) >= needed:
                high = middle
            else:
                low = middle

    def bound(multiplier: float) -> float:
        reduced = cost - multiplier * quantity
        return multiplier * request + float(reduced.min(axis=1).sum())

    multiplier = max((low, high), key=bound)
    above = best_offers(quantity, cost, high)  # covers the request
    incumbent, incumbent_cost = above, float(cost[rows, above].sum())
    below = best_offers(quantity, cost, multiplier, larger=False)
    filled = fill(quantity, cost, below, request, multiplier)
    if filled is not None and filled[1] < incumbent_cost:
        incumbent, incumbent_cost = filled
    return Bound(multiplier, bound(multiplier), incumbent, incumbent_cost)


def fill(
    quantity: Matrix, cost: Matrix, base: NDArray[np.intp], request: float, multiplier: float
) -> tuple[NDArray[np.intp], float] | None:
    """``base`` (short of the request) topped up: each building's cheapest larger offer is a
    step (Δq > 0, δ = its reduced cost above the base's); steps are taken by δ per kW while
    they fit in the deficit, and the rest is covered by the best single step or exchange of
    one taken step for a larger one. Prices make many steps cost exactly λ per kW (δ = 0), so
    this usually meets the LP bound to rounding."""
    rows = np.arange(quantity.shape[0])
    base_q, base_c = quantity[rows, base], cost[rows, base]
    deficit = request - float(base_q.sum())
    if deficit <= 0:
        return base, float(base_c.sum())
    grows = quantity > base_q[:, None]
    reduced = cost - multiplier * quantity
    excess = np.where(grows, reduced - reduced[rows, base][:, None], np.inf)
    step_column = np.argmin(excess - 1e-12 * np.where(grows, quantity, 0), axis=1)
    has_step = np.isfinite(excess[rows, step_column])
    building = rows[has_step]
    column = step_column[has_step]
    dq = quantity[building, column] - base_q[building]
    delta = excess[building, column]
    # Stable: ties keep the buildings' order, so taken and untaken steps of every size remain
    # for the exchange at the end.
    by_value = np.argsort(delta / dq, kind="stable")
    building, column, dq, delta = (
        building[by_value],
        column[by_value],
        dq[by_value],
        delta[by_value],
    )
    # Take steps in order while they fit: a step fits when the running total stays <= deficit.
    taken = np.zeros(len(dq), dtype=bool)
    left = deficit
    # Only the steps the LP solution uses (those up to where their total reaches the deficit):
    # a later, dearer step to fill a small rest costs more than an exchange at the margin.
    used = int(np.searchsorted(np.cumsum(dq), deficit)) + 1
    for k in np.flatnonzero(dq[:used] <= deficit):
        if dq[k] <= left:
            taken[k] = True
            left -= float(dq[k])
            if left <= 0:
                break
    choice = base.copy()
    choice[building[taken]] = column[taken]
    return _cover_rest(quantity, cost, choice, request, multiplier)


def _cover_rest(
    quantity: Matrix, cost: Matrix, choice: NDArray[np.intp], request: float, multiplier: float
) -> tuple[NDArray[np.intp], float] | None:
    """``choice`` made to cover ``request``: the cheapest single change of one building's
    offer, or exchange of a change for another building's."""
    rows = np.arange(quantity.shape[0])
    q_now, c_now = quantity[rows, choice], cost[rows, choice]
    rest = request - float(q_now.sum())
    if rest <= 0:
        return choice, float(c_now.sum())
    gain_q = quantity - q_now[:, None]
    gain_c = cost - c_now[:, None]
    single = np.where(gain_q >= rest, gain_c, np.inf)
    best_single = int(np.argmin(single))
    candidates: list[tuple[float, NDArray[np.intp]]] = []
    if np.isfinite(single.flat[best_single]):
        building, column = np.unravel_index(best_single, single.shape)
        changed = choice.copy()
        changed[building] = column
        candidates.append((float(c_now.sum() + single.flat[best_single]), changed))
    exchanged = _exchange(quantity, cost, choice, rest, multiplier)
    if exchanged is not None:
        candidates.append((float(cost[rows, exchanged].sum()), exchanged))
    if not candidates:
        return None
    total, best = min(candidates, key=lambda item: item[0])
    return best, total


def _exchange(
    quantity: Matrix, cost: Matrix, choice: NDArray[np.intp], rest: float, multiplier: float
) -> NDArray[np.intp] | None:
    """Swap one building's step at cost λ per kW for another's just larger one, covering
    ``rest`` with the least overshoot (sorted search, O(B log B))."""
    rows = np.arange(quantity.shape[0])
    reduced = cost - multiplier * quantity
    at_margin = np.isclose(reduced, reduced[rows, choice][:, None], rtol=0, atol=1e-12)
    gain = quantity - quantity[rows, choice][:, None]
    up = at_margin & (gain > 0)
    down = at_margin & (gain < 0)
    if not up.any() or not down.any():
        return None
    up_building, up_column = np.nonzero(up)
    up_gain = gain[up_building, up_column]
    order = np.argsort(up_gain)
    up_building, up_column, up_gain = up_building[order], up_column[order], up_gain[order]
    down_building, down_column = np.nonzero(down)
    need = rest - gain[down_building, down_column]  # the up step must give at least this
    at = np.searchsorted(up_gain, need)
    valid = at < len(up_gain)
    if not valid.any():
        return None
    over = np.where(valid, up_gain[np.minimum(at, len(up_gain) - 1)] - need, np.inf)
    # The up step must be another building's: take the next larger one when it is the same.
    same = valid & (up_building[np.minimum(at, len(up_gain) - 1)] == down_building)
    over[same] = np.inf
    k = int(np.argmin(over))
    if not np.isfinite(over[k]):
        return None
    changed = choice.copy()
    changed[down_building[k]] = down_column[k]
    changed[up_building[at[k]]] = up_column[at[k]]
    return changed
