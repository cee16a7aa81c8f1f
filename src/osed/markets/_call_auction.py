"""``clear_auction``: a vectorised uniform-price (or pay-as-bid) call auction over arrays."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from osed.domain.problems import Problems
from osed.markets._auction_result import AuctionResult, ClearingType, Pricing
from osed.markets._curves import SortedSide, find_crossing, sort_both
from osed.markets._gridlabd import gridlabd_price
from osed.markets._pay_as_bid import pay_as_bid_matches
from osed.markets._pay_as_clear import pay_as_clear_point
from osed.markets.protocol import Outcome

DEFAULT_BID_OFFSET = 1e-4  # GridLAB-D market/init.cpp
_LISTED_PER_ARRAY = 20  # problems named per array before summarising the rest


def clear_auction(
    bid_prices: ArrayLike | Sequence[float | None],
    bid_quantities: ArrayLike,
    offer_prices: ArrayLike | Sequence[float | None],
    offer_quantities: ArrayLike,
    *,
    pricing: Pricing | str,
    price_cap: float | None = None,
    bid_offset: float = DEFAULT_BID_OFFSET,
) -> AuctionResult:
    """Clear one call auction.

    A price of ``None``/NaN marks an unresponsive order: a bid placed at ``+price_cap``, an
    offer at ``-price_cap``; it needs ``price_cap``. With a cap, every price is clipped into
    ``[-price_cap, price_cap]``. Equal prices are served in input order. Orders of zero
    quantity are ignored. Raises :class:`ValidationError` naming every bad entry.
    """
    rule = Pricing.parse(pricing) if not isinstance(pricing, Pricing) else pricing
    bids_p, bids_q = _as_floats(bid_prices), _as_floats(bid_quantities)
    offers_p, offers_q = _as_floats(offer_prices), _as_floats(offer_quantities)
    _validate(
        bid_prices=bids_p,
        bid_quantities=bids_q,
        offer_prices=offers_p,
        offer_quantities=offers_q,
        price_cap=price_cap,
        bid_offset=bid_offset,
    )
    bids_p = _effective_prices(bids_p, price_cap, unresponsive_at=price_cap)
    offers_p = _effective_prices(offers_p, price_cap, unresponsive_at=-(price_cap or 0.0))
    buyers, sellers = sort_both(bids_p, bids_q, offers_p, offers_q)
    if rule is Pricing.PAY_AS_CLEAR:
        return _pay_as_clear(buyers, sellers, bids_q.size, offers_q.size)
    crossing = find_crossing(buyers, sellers)
    bid_fills = buyers.fills_up_to(crossing.quantity, bids_q.size)
    offer_fills = sellers.fills_up_to(crossing.quantity, offers_q.size)
    if rule is Pricing.PAY_AS_BID:
        matches = pay_as_bid_matches(buyers, sellers, crossing.quantity)
        outcome = _volume_outcome(buyers, sellers, crossing.quantity)
        return AuctionResult(
            outcome, None, crossing.quantity, bid_fills, offer_fills, rule, matches=matches
        )
    priced = gridlabd_price(buyers, sellers, crossing, price_cap=price_cap, bid_offset=bid_offset)
    return AuctionResult(
        priced.outcome,
        priced.price,
        crossing.quantity,
        bid_fills,
        offer_fills,
        rule,
        clearing_type=priced.clearing_type,
    )


def _pay_as_clear(
    buyers: SortedSide, sellers: SortedSide, bid_count: int, offer_count: int
) -> AuctionResult:
    point = pay_as_clear_point(buyers, sellers)
    energy = point.energy if point is not None else 0.0
    return AuctionResult(
        _volume_outcome(buyers, sellers, energy),
        point.rate if point is not None else None,
        energy,
        buyers.fills_up_to(energy, bid_count),
        sellers.fills_up_to(energy, offer_count),
        Pricing.PAY_AS_CLEAR,
    )


def _volume_outcome(buyers: SortedSide, sellers: SortedSide, volume: float) -> Outcome:
    if buyers.size == 0 or sellers.size == 0:
        return Outcome.NO_ORDERS
    return Outcome.CLEARED if volume > 0.0 else Outcome.NO_CROSSING


def _as_floats(values: ArrayLike | Sequence[float | None]) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)  # None becomes NaN: unresponsive
    if array.ndim != 1:
        array = array.reshape(-1)
    return array


def _effective_prices(
    prices: NDArray[np.float64], price_cap: float | None, *, unresponsive_at: float | None
) -> NDArray[np.float64]:
    if price_cap is None:
        return prices + 0.0  # also turns -0.0 into 0.0
    clipped = np.clip(prices, -price_cap, price_cap) + 0.0
    unresponsive = np.isnan(clipped)
    if unresponsive.any():
        clipped[unresponsive] = unresponsive_at
    return clipped


def _validate(
    *,
    bid_prices: NDArray[np.float64],
    bid_quantities: NDArray[np.float64],
    offer_prices: NDArray[np.float64],
    offer_quantities: NDArray[np.float64],
    price_cap: float | None,
    bid_offset: float,
) -> None:
    problems = Problems("auction")
    if price_cap is not None and not (math.isfinite(price_cap) and price_cap > 0):
        problems.add("$.price_cap", "bad_price_cap", "must be a positive finite number")
    if not (math.isfinite(bid_offset) and bid_offset >= 0):
        problems.add("$.bid_offset", "bad_bid_offset", "must be a finite number >= 0")
    for name, prices, quantities in (
        ("bids", bid_prices, bid_quantities),
        ("offers", offer_prices, offer_quantities),
    ):
        if prices.size != quantities.size:
            problems.add(
                f"$.{name}",
                "length_mismatch",
                f"{prices.size} prices but {quantities.size} quantities",
            )
            continue
        bad_quantity = ~(np.isfinite(quantities) & (quantities >= 0.0))
        _name_entries(
            problems,
            name,
            "quantity",
            np.flatnonzero(bad_quantity),
            code="bad_quantity",
            message="must be a finite number >= 0",
        )
        _name_entries(
            problems,
            name,
            "price",
            np.flatnonzero(np.isinf(prices)),
            code="bad_price",
            message="must be finite",
        )
        if price_cap is None:
            _name_entries(
                problems,
                name,
                "price",
                np.flatnonzero(np.isnan(prices)),
                code="unresponsive_without_cap",
                message="an unresponsive order needs price_cap",
            )
    problems.check()


def _name_entries(
    problems: Problems,
    name: str,
    field: str,
    indices: Sequence[int] | NDArray[np.intp],
    *,
    code: str,
    message: str,
) -> None:
    for index in list(indices[:_LISTED_PER_ARRAY]):
        problems.add(f"$.{name}[{int(index)}].{field}", code, message)
    if len(indices) > _LISTED_PER_ARRAY:
        problems.add(
            f"$.{name}", code, f"{len(indices) - _LISTED_PER_ARRAY} more entries: {message}"
        )


__all__ = ["DEFAULT_BID_OFFSET", "AuctionResult", "ClearingType", "Pricing", "clear_auction"]
