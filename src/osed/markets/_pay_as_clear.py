"""gsy-e pay-as-clear: one clearing rate taken from the bid curve.

The clearing rate is the lowest bid price ``r`` at which the offers priced at or below ``r``
cover the demand priced at or above ``r``; the energy is that demand. When no bid price
qualifies, the rate is the best bid price and the energy whatever the offers at or below it
supply. Bids in priority order then take offers in priority order, so every bid priced at or
above ``r`` is served and the cheapest offers serve it. Unlike gsy-e, prices are compared
exactly (gsy-e allows 1e-8) and the rule runs by bisection instead of a scan of all pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from osed.markets._curves import SortedSide


@dataclass(frozen=True, slots=True)
class ClearingPoint:
    rate: float
    energy: float


def pay_as_clear_point(buyers: SortedSide, sellers: SortedSide) -> ClearingPoint | None:
    """The clearing rate and energy, or ``None`` when no offer is priced at or below any bid."""
    if buyers.size == 0 or sellers.size == 0:
        return None

    def supply_at(rate: float) -> float:
        return sellers.before(int(np.searchsorted(sellers.prices, rate, side="right")))

    def demand_at(rate: float) -> float:
        return buyers.before(int(np.searchsorted(buyers.ranks, -rate, side="right")))

    def covered(rank: int) -> bool:
        rate = float(buyers.prices[rank])
        return supply_at(rate) >= demand_at(rate)

    # Along the bids (price descending) coverage holds for a prefix: demand grows, supply falls.
    low, high = 0, buyers.size
    while low < high:
        middle = (low + high) // 2
        if covered(middle):
            low = middle + 1
        else:
            high = middle
    if low > 0:
        rate = float(buyers.prices[low - 1])
        return ClearingPoint(rate, demand_at(rate))
    best_bid = float(buyers.prices[0])
    supply = supply_at(best_bid)
    return ClearingPoint(best_bid, supply) if supply > 0.0 else None
