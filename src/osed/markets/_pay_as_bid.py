"""Pay-as-bid: the highest bids meet the cheapest offers; each pair trades at the bid's price.

The volume is that of the merged walk (the same as a uniform clear). Each matched pair is one
segment of the quantity axis where one bid and one offer overlap, so the pairs come out of two
sorted breakpoint lists without a loop. gsy-e instead sorts offers by price descending and lets
each offer scan the bids, which pairs the dearest offers with the highest bids and can trade
a different volume; here the cheapest offer is always matched first.
"""

from __future__ import annotations

import numpy as np

from osed.markets._auction_result import Matches
from osed.markets._curves import SortedSide


def pay_as_bid_matches(buyers: SortedSide, sellers: SortedSide, volume: float) -> Matches:
    if volume <= 0.0:
        return Matches()
    buyer_ends = buyers.cumulative[: int(buyers.cumulative.searchsorted(volume, side="left"))]
    seller_ends = sellers.cumulative[: int(sellers.cumulative.searchsorted(volume, side="left"))]
    ends = np.concatenate((buyer_ends, seller_ends, np.array([volume])))
    ends.sort()
    keep = np.empty(ends.size, dtype=bool)
    keep[0] = ends[0] > 0.0
    np.greater(ends[1:], ends[:-1], out=keep[1:])
    ends = ends[keep]
    starts = np.empty_like(ends)
    starts[0] = 0.0
    starts[1:] = ends[:-1]
    buyer_rank = buyers.cumulative.searchsorted(starts, side="right")
    seller_rank = sellers.cumulative.searchsorted(starts, side="right")
    return Matches(
        bid_index=buyers.order[buyer_rank],
        offer_index=sellers.order[seller_rank],
        quantity=ends - starts,
        price=buyers.prices[buyer_rank],
    )
