"""The GridLAB-D ``auction.cpp`` / TESP ``simple_auction.py`` uniform price rule.

The quantity is where the merged walk of both curves stops (see :func:`find_crossing`). The
price depends on how the walk ended:

- inside a buyer's quantity: MARGINAL_BUYER, price = that buyer's price;
- inside a seller's quantity: MARGINAL_SELLER, price = that seller's price;
- on a common boundary (a "price split" between the last buyer price ``a`` and the last seller
  price ``b``): next buyer at ``a`` -> MARGINAL_BUYER at ``a``; next seller at ``b`` ->
  MARGINAL_SELLER at ``b``; ``a == b`` -> EXACT; otherwise MARGINAL_PRICE, priced so that no
  further order would want to trade (midpoint, or just past the next buyer or seller).

Deliberate departures from upstream, each fixing a reported defect:

- Sellers exhausted on a split with buyers left at ``b``: upstream kept the buyer's price
  ``a`` (gridlab-d #485, duplicate marginal sellers); here a MARGINAL_SELLER gets ``b``.
- A clear with no quantity is priced at the midpoint of the best bid and the best offer
  (gridlab-d #401), a one-sided market just past its best order (gridlab-d #487), an empty
  one at 0 as upstream.
- FAILURE is decided from the unresponsive totals before anything else, so it is never
  reported as a marginal buyer or seller (gridlab-d #432).
- Upstream forces the price to 0 whenever only unresponsive orders traded, even if a price of
  0 would call responsive orders left in the book; here the split rule stands (it gives 0 when
  nothing is left on either side).
- ``bid_offset`` steps are kept inside ``[b, a]`` so no order trades beyond its limit price.
"""

from __future__ import annotations

from dataclasses import dataclass

from osed.markets._auction_result import ClearingType
from osed.markets._curves import Crossing, SortedSide
from osed.markets.protocol import Outcome


@dataclass(frozen=True, slots=True)
class GridlabdPrice:
    outcome: Outcome
    price: float | None
    clearing_type: ClearingType


def gridlabd_price(
    buyers: SortedSide,
    sellers: SortedSide,
    crossing: Crossing,
    *,
    price_cap: float | None,
    bid_offset: float,
) -> GridlabdPrice:
    if buyers.size == 0 or sellers.size == 0:
        return GridlabdPrice(
            Outcome.NO_ORDERS,
            _one_sided_price(buyers, sellers, price_cap, bid_offset),
            ClearingType.NULL,
        )
    quantity = crossing.quantity
    if price_cap is not None:
        unresponsive_demand = buyers.quantity_priced(price_cap)
        unresponsive_supply = sellers.quantity_priced(-price_cap)
        if quantity < unresponsive_demand:
            return GridlabdPrice(Outcome.FAILURE, price_cap, ClearingType.FAILURE)
        if quantity < unresponsive_supply:
            return GridlabdPrice(Outcome.FAILURE, -price_cap, ClearingType.FAILURE)
    if quantity <= 0.0:
        best_bid, best_offer = float(buyers.prices[0]), float(sellers.prices[0])
        midpoint = best_offer + (best_bid - best_offer) * 0.5
        return GridlabdPrice(Outcome.NO_CROSSING, midpoint, ClearingType.NULL)
    price, clearing_type = _crossed_price(buyers, sellers, crossing, price_cap, bid_offset)
    return GridlabdPrice(Outcome.CLEARED, price, clearing_type)


def _crossed_price(
    buyers: SortedSide,
    sellers: SortedSide,
    crossing: Crossing,
    price_cap: float | None,
    bid_offset: float,
) -> tuple[float, ClearingType]:
    i, j = crossing.buyers_done, crossing.sellers_done
    bought, sold = buyers.before(i), sellers.before(j)
    if sold > bought:  # the walk stopped inside buyer i's quantity
        return float(buyers.prices[i]), ClearingType.MARGINAL_BUYER
    if bought > sold:  # ... inside seller j's quantity
        return float(sellers.prices[j]), ClearingType.MARGINAL_SELLER
    a, b = float(buyers.prices[i - 1]), float(sellers.prices[j - 1])
    next_buyer = float(buyers.prices[i]) if i < buyers.size else None
    next_seller = float(sellers.prices[j]) if j < sellers.size else None
    if next_buyer == a:
        return a, ClearingType.MARGINAL_BUYER
    if next_seller == b:
        return b, ClearingType.MARGINAL_SELLER
    if a == b:
        return a, ClearingType.EXACT
    price = _split_price(
        a=a,
        b=b,
        next_buyer=next_buyer,
        next_seller=next_seller,
        price_cap=price_cap,
        bid_offset=bid_offset,
    )
    return min(max(price, b), a), ClearingType.MARGINAL_PRICE


def _split_price(
    *,
    a: float,
    b: float,
    next_buyer: float | None,
    next_seller: float | None,
    price_cap: float | None,
    bid_offset: float,
) -> float:
    """A price in [b, a] at which neither the next buyer nor the next seller would trade."""
    buyer_unresponsive = price_cap is not None and a == price_cap
    seller_unresponsive = price_cap is not None and b == -price_cap
    if buyer_unresponsive and not seller_unresponsive:
        return next_buyer + bid_offset if next_buyer is not None and next_buyer > b else b
    if seller_unresponsive and not buyer_unresponsive:
        return next_seller - bid_offset if next_seller is not None and next_seller < a else a
    if buyer_unresponsive and seller_unresponsive:
        if next_buyer is None and next_seller is None:
            return 0.0
        if next_seller is None:
            assert next_buyer is not None
            return next_buyer + bid_offset
        if next_buyer is None:
            return next_seller - bid_offset
        return (next_buyer + next_seller) / 2.0
    midpoint = (a + b) / 2.0
    if next_buyer is not None and midpoint < next_buyer:
        return next_buyer + bid_offset
    if next_seller is not None and midpoint > next_seller:
        return next_seller - bid_offset
    return midpoint


def _one_sided_price(
    buyers: SortedSide, sellers: SortedSide, price_cap: float | None, bid_offset: float
) -> float:
    if buyers.size:
        price = float(buyers.prices[0]) + bid_offset
    elif sellers.size:
        price = float(sellers.prices[0]) - bid_offset
    else:
        return 0.0  # GridLAB-D publishes 0 for an empty market
    if price_cap is not None:
        price = min(max(price, -price_cap), price_cap)
    return price
