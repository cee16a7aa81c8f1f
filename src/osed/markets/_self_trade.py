"""Self-trade prevention in the call auction: a party's own bid and offer never meet.

The auction is cleared on the full curves, so the price and every other party's fills are
what the pricing rule gives. Then a party that buys and sells in the same clearing is filled
only its net quantity: uniform pricing takes the smaller of its bought and sold quantity off
both sides (its position and its money at the uniform price are unchanged); pay-as-bid drops
the pairs that match a party's bid with its own offer. Orders whose ``party`` is empty are
never netted.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from numpy.typing import NDArray

from osed.markets._auction_result import Matches
from osed.markets.protocol import Order

Floats = NDArray[np.float64]


def net_own_fills(
    bids: list[Order], offers: list[Order], bid_fills: Floats, offer_fills: Floats
) -> tuple[Floats, Floats, float]:
    """The fills with each party's bought and sold quantity netted, and the quantity netted.

    A party's least eager orders give up their fill first: bids from the lowest price, offers
    from the highest (unresponsive orders last), later orders before earlier ones at a price.
    """
    bought = _filled_by_party(bids, bid_fills)
    sold = _filled_by_party(offers, offer_fills)
    both = bought.keys() & sold.keys()
    if not both:
        return bid_fills, offer_fills, 0.0
    bid_fills, offer_fills = bid_fills.copy(), offer_fills.copy()
    netted = 0.0
    for party in sorted(both):
        buys, sells = _total(bought[party], bid_fills), _total(sold[party], offer_fills)
        # The smaller side is zeroed outright, so that rounding leaves no sliver of a fill.
        if buys <= sells:
            bid_fills[bought[party]] = 0.0
            _take(sold[party], offers, offer_fills, buys, eager_high=False)
        else:
            offer_fills[sold[party]] = 0.0
            _take(bought[party], bids, bid_fills, sells, eager_high=True)
        netted += min(buys, sells)
    return bid_fills, offer_fills, netted


def own_pairs(bids: list[Order], offers: list[Order], matches: Matches) -> NDArray[np.bool_]:
    """Which pay-as-bid pairs match a party's bid with its own offer."""
    own = np.zeros(len(matches), dtype=bool)
    for k in range(len(matches)):
        party = bids[int(matches.bid_index[k])].party
        own[k] = bool(party) and party == offers[int(matches.offer_index[k])].party
    return own


def _filled_by_party(orders: list[Order], fills: Floats) -> dict[str, list[int]]:
    by_party: dict[str, list[int]] = defaultdict(list)
    for index in np.flatnonzero(fills > 0.0).tolist():
        party = orders[index].party
        if party:
            by_party[party].append(index)
    return by_party


def _total(indices: list[int], fills: Floats) -> float:
    return float(fills[indices].sum())


def _take(
    indices: list[int], orders: list[Order], fills: Floats, quantity: float, *, eager_high: bool
) -> None:
    """Take ``quantity`` off the fills of ``indices``, least eager order first."""
    unresponsive = float("inf") if eager_high else float("-inf")

    def eagerness(index: int) -> tuple[float, int]:
        price = orders[index].price
        level = unresponsive if price is None else price
        return (level if eager_high else -level, -index)

    for index in sorted(indices, key=eagerness):
        if quantity <= 0.0:
            break
        taken = min(float(fills[index]), quantity)
        fills[index] -= taken
        quantity -= taken
