"""``DoubleAuctionMarket``: the call auction behind the Market Modular Interface."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from itertools import count

import numpy as np
from numpy.typing import NDArray

from osed.domain.cts.tenders import Side
from osed.domain.errors import ConflictError, Problem, ValidationError
from osed.markets._auction_result import AuctionResult, Pricing
from osed.markets._call_auction import DEFAULT_BID_OFFSET, clear_auction
from osed.markets._self_trade import net_own_fills, own_pairs
from osed.markets.protocol import (
    BookLevel,
    BookSnapshot,
    CancelResult,
    ClearingResult,
    Fill,
    Order,
    SelfTradePrevention,
)

# Each round drops every all-or-none order left part-filled; after this many rounds the last
# clear runs without any all-or-none order, which cannot part-fill one.
MAX_ALL_OR_NONE_ROUNDS = 8


class DoubleAuctionMarket:
    """A sealed-bid call market per instrument, cleared by :func:`clear_auction`.

    Orders collect until :meth:`clear`, which trades them all at once and empties the
    instrument's book: unfilled quantity does not carry over to a later call. With
    ``self_trade="net"`` (the default) a party's own bid and offer are never matched to each
    other (:mod:`osed.markets._self_trade`); ``"off"`` clears the curves as they are.
    """

    continuous = False

    def __init__(
        self,
        name: str = "double-auction",
        pricing: Pricing | str = Pricing.GRIDLABD,
        price_cap: float | None = None,
        bid_offset: float = DEFAULT_BID_OFFSET,
        self_trade: SelfTradePrevention | str = SelfTradePrevention.NET,
    ) -> None:
        self.name = name
        self.self_trade = SelfTradePrevention.parse(
            self_trade, (SelfTradePrevention.NET, SelfTradePrevention.OFF)
        )
        self.pricing = Pricing.parse(pricing) if not isinstance(pricing, Pricing) else pricing
        self.price_cap = price_cap
        self.bid_offset = bid_offset
        self._books: dict[str, dict[str, Order]] = {}
        self._match_ids = count(1)

    def submit(self, instrument: str, order: Order, *, now: datetime) -> tuple[Fill, ...]:
        del now  # a call market acts only at clear
        _check_order(order, self.price_cap)
        book = self._books.setdefault(instrument, {})
        if order.order_id in book:
            raise ConflictError(f"order {order.order_id!r} is already in {instrument!r}")
        book[order.order_id] = order
        return ()

    def cancel(
        self, instrument: str, order_id: str, *, remaining: float | None = None
    ) -> CancelResult:
        book = self._books.get(instrument, {})
        order = book.get(order_id)
        if order is None:
            return CancelResult(order_id, False, 0.0, 0.0)
        if remaining is not None and remaining < 0:
            raise ValidationError([Problem("$.remaining", "negative", "must be >= 0")])
        if not remaining:
            del book[order_id]
            return CancelResult(order_id, True, order.quantity, 0.0)
        if remaining >= order.quantity:
            return CancelResult(order_id, True, 0.0, order.quantity)
        book[order_id] = _with_quantity(order, remaining)
        return CancelResult(order_id, True, order.quantity - remaining, remaining)

    def clear(self, instrument: str, *, now: datetime) -> ClearingResult:
        orders = list(self._books.pop(instrument, {}).values())
        expired = tuple(o.order_id for o in orders if _expired(o, now))
        live = [o for o in orders if not _expired(o, now)]
        bids = [o for o in live if o.side is Side.BUY]
        offers = [o for o in live if o.side is Side.SELL]
        result, excluded = self._clear_honouring_all_or_none(bids, offers)
        detail = {"pricing": self.pricing.value}
        if result.clearing_type is not None:
            detail["clearing_type"] = result.clearing_type.value
        if excluded:
            detail["all_or_none_excluded"] = ",".join(sorted(excluded))
        fills, netted = self._fills(instrument, bids, offers, result)
        quantity = result.quantity
        if netted > 0.0:
            detail["self_trade_netted"] = repr(netted)
            quantity = max(quantity - netted, 0.0)
        return ClearingResult(
            instrument=instrument,
            outcome=result.outcome,
            price=result.price,
            quantity=quantity,
            fills=fills,
            expired=expired,
            detail=detail,
        )

    def snapshot(self, instrument: str) -> BookSnapshot:
        orders = self._books.get(instrument, {}).values()
        return BookSnapshot(
            instrument,
            bids=_levels((o for o in orders if o.side is Side.BUY), descending=True),
            offers=_levels((o for o in orders if o.side is Side.SELL), descending=False),
        )

    def _clear_honouring_all_or_none(
        self, bids: list[Order], offers: list[Order]
    ) -> tuple[AuctionResult, set[str]]:
        excluded: set[str] = set()
        for round_number in range(MAX_ALL_OR_NONE_ROUNDS + 1):
            if round_number == MAX_ALL_OR_NONE_ROUNDS:
                excluded |= {o.order_id for o in (*bids, *offers) if o.all_or_none}
            result = self._run(bids, offers, excluded)
            part_filled = _part_filled_all_or_none(bids, result.bid_fills) | (
                _part_filled_all_or_none(offers, result.offer_fills)
            )
            if not part_filled:
                return result, excluded
            excluded |= part_filled
        raise AssertionError("unreachable: the last round has no all-or-none order")

    def _run(self, bids: list[Order], offers: list[Order], excluded: set[str]) -> AuctionResult:
        def quantities(orders: list[Order]) -> list[float]:
            return [0.0 if o.order_id in excluded else o.quantity for o in orders]

        return clear_auction(
            [np.nan if o.price is None else o.price for o in bids],
            quantities(bids),
            [np.nan if o.price is None else o.price for o in offers],
            quantities(offers),
            pricing=self.pricing,
            price_cap=self.price_cap,
            bid_offset=self.bid_offset,
        )

    def _fills(
        self, instrument: str, bids: list[Order], offers: list[Order], result: AuctionResult
    ) -> tuple[tuple[Fill, ...], float]:
        """One fill per order that trades (all-or-none orders excluded from the clear have
        zero quantity, so none), a party's own bid and offer netted unless ``self_trade`` is
        off; and the quantity netted."""
        if result.pricing is Pricing.PAY_AS_BID:
            return self._pair_fills(instrument, bids, offers, result)
        bid_fills, offer_fills, netted = result.bid_fills, result.offer_fills, 0.0
        if self.self_trade is SelfTradePrevention.NET:
            bid_fills, offer_fills, netted = net_own_fills(bids, offers, bid_fills, offer_fills)
        fills: list[Fill] = []
        price = result.price if result.price is not None else 0.0
        for orders, quantities in ((bids, bid_fills), (offers, offer_fills)):
            for index in np.flatnonzero(quantities > 0.0):
                order = orders[int(index)]
                fills.append(
                    Fill(
                        next(self._match_ids),
                        instrument,
                        order.order_id,
                        order.party,
                        order.side,
                        price,
                        float(quantities[index]),
                    )
                )
        return tuple(fills), netted

    def _pair_fills(
        self, instrument: str, bids: list[Order], offers: list[Order], result: AuctionResult
    ) -> tuple[tuple[Fill, ...], float]:
        matches = result.matches
        own = (
            own_pairs(bids, offers, matches)
            if self.self_trade is SelfTradePrevention.NET
            else np.zeros(len(matches), dtype=bool)
        )
        fills: list[Fill] = []
        for k in np.flatnonzero(~own).tolist():
            bid, offer = bids[int(matches.bid_index[k])], offers[int(matches.offer_index[k])]
            price, quantity = float(matches.price[k]), float(matches.quantity[k])
            match_id = next(self._match_ids)
            for mine, other in ((bid, offer), (offer, bid)):
                fills.append(
                    Fill(
                        match_id,
                        instrument,
                        mine.order_id,
                        mine.party,
                        mine.side,
                        price,
                        quantity,
                        other.order_id,
                        other.party,
                    )
                )
        return tuple(fills), float(matches.quantity[own].sum())


def _check_order(order: Order, price_cap: float | None) -> None:
    problems: list[Problem] = []
    if not order.quantity > 0:
        problems.append(Problem("$.quantity", "non_positive", "must be > 0"))
    if order.price is None and price_cap is None:
        problems.append(
            Problem("$.price", "unresponsive_without_cap", "an unresponsive order needs price_cap")
        )
    if order.price is not None and not np.isfinite(order.price):
        problems.append(Problem("$.price", "not_finite", "must be finite"))
    if problems:
        raise ValidationError(problems, subject=f"order {order.order_id!r}")


def _expired(order: Order, now: datetime) -> bool:
    return order.expires_at is not None and order.expires_at <= now


def _with_quantity(order: Order, quantity: float) -> Order:
    return Order(
        order.order_id,
        order.side,
        order.price,
        quantity,
        order.party,
        order.all_or_none,
        order.expires_at,
    )


def _part_filled_all_or_none(orders: list[Order], fills: NDArray[np.float64]) -> set[str]:
    return {
        o.order_id
        for o, filled in zip(orders, fills.tolist(), strict=True)
        if o.all_or_none and 0.0 < filled < o.quantity
    }


def _levels(orders: Iterable[Order], *, descending: bool) -> tuple[BookLevel, ...]:
    """Aggregated levels; unresponsive orders (price None) come first, as they trade first."""
    totals: dict[float | None, list[float]] = {}
    for order in orders:
        level = totals.setdefault(order.price, [0.0, 0])
        level[0] += order.quantity
        level[1] += 1
    priced = sorted((p for p in totals if p is not None), reverse=descending)
    keys: list[float | None] = [None] if None in totals else []
    keys.extend(priced)
    return tuple(BookLevel(p, totals[p][0], int(totals[p][1])) for p in keys)
