"""DoubleAuctionMarket: the call auction behind the Market Modular Interface."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from osed.domain.cts.tenders import Side
from osed.domain.errors import ConfigurationError, ConflictError, ValidationError
from osed.markets.auction import DoubleAuctionMarket
from osed.markets.protocol import BookLevel, Market, Order, Outcome

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SLOT = "2026-01-01T00:00Z/PT15M"


def buy(order_id: str, price: float | None, quantity: float, **extra: object) -> Order:
    return Order(order_id, Side.BUY, price, quantity, party=f"p-{order_id}", **extra)  # type: ignore[arg-type]


def sell(order_id: str, price: float | None, quantity: float, **extra: object) -> Order:
    return Order(order_id, Side.SELL, price, quantity, party=f"p-{order_id}", **extra)  # type: ignore[arg-type]


def market_with(*orders: Order, **options: object) -> DoubleAuctionMarket:
    market = DoubleAuctionMarket(**options)  # type: ignore[arg-type]
    for order in orders:
        assert market.submit(SLOT, order, now=NOW) == ()
    return market


def test_implements_the_market_protocol() -> None:
    market = DoubleAuctionMarket()
    assert isinstance(market, Market)
    assert market.continuous is False
    assert market.name == "double-auction"


def test_unknown_pricing_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="pay-as-clear"):
        DoubleAuctionMarket(pricing="first-come")


def test_duplicate_order_ids_conflict() -> None:
    market = market_with(buy("a", 10, 1))
    with pytest.raises(ConflictError):
        market.submit(SLOT, sell("a", 5, 1), now=NOW)


def test_clear_fills_each_order_once_against_the_market() -> None:
    market = market_with(buy("b1", 10, 10), buy("b2", 8, 10), sell("s1", 5, 10), sell("s2", 6, 5))
    result = market.clear(SLOT, now=NOW)
    assert (result.outcome, result.price, result.quantity) == (Outcome.CLEARED, 8.0, 15.0)
    assert [(f.order_id, f.quantity) for f in result.fills] == [
        ("b1", 10.0), ("b2", 5.0), ("s1", 10.0), ("s2", 5.0),
    ]  # fmt: skip
    assert all(f.counter_order_id is None and f.price == 8.0 for f in result.fills)
    assert len({f.match_id for f in result.fills}) == 4
    assert result.detail == {"pricing": "gridlabd", "clearing_type": "marginal_buyer"}
    assert market.snapshot(SLOT).bids == ()  # a clear empties the call


def test_pay_as_bid_yields_two_fills_per_matched_pair() -> None:
    market = market_with(buy("b1", 10, 5), sell("s1", 4, 3), sell("s2", 5, 4), pricing="pay-as-bid")
    result = market.clear(SLOT, now=NOW)
    pairs = [
        (f.match_id, f.order_id, f.counter_order_id, f.quantity, f.price) for f in result.fills
    ]
    assert pairs == [
        (1, "b1", "s1", 3.0, 10.0), (1, "s1", "b1", 3.0, 10.0),
        (2, "b1", "s2", 2.0, 10.0), (2, "s2", "b1", 2.0, 10.0),
    ]  # fmt: skip
    assert result.fills[1].counter_party == "p-b1"
    assert result.price is None


def test_expired_orders_are_dropped_and_reported() -> None:
    market = market_with(buy("old", 20, 5, expires_at=NOW), buy("b1", 10, 5), sell("s1", 5, 10))
    result = market.clear(SLOT, now=NOW)
    assert result.expired == ("old",)
    assert [f.order_id for f in result.fills] == ["b1", "s1"]
    assert result.quantity == 5.0


def test_cancel_removes_or_reduces() -> None:
    market = market_with(buy("b1", 10, 5), sell("s1", 5, 10))
    reduced = market.cancel(SLOT, "b1", remaining=2)
    assert (reduced.found, reduced.canceled_quantity, reduced.remaining_quantity) == (True, 3, 2)
    unchanged = market.cancel(SLOT, "b1", remaining=7)
    assert (unchanged.canceled_quantity, unchanged.remaining_quantity) == (0.0, 2)
    assert market.clear(SLOT, now=NOW).quantity == 2.0
    market = market_with(buy("b1", 10, 5))
    gone = market.cancel(SLOT, "b1")
    assert (gone.found, gone.canceled_quantity, gone.remaining_quantity) == (True, 5, 0)
    assert not market.cancel(SLOT, "b1").found
    with pytest.raises(ValidationError):
        market_with(buy("b2", 1, 1)).cancel(SLOT, "b2", remaining=-1)


def test_an_all_or_none_order_is_never_part_filled() -> None:
    market = market_with(buy("big", 10, 8, all_or_none=True), buy("b2", 9, 3), sell("s1", 5, 5))
    result = market.clear(SLOT, now=NOW)
    assert [(f.order_id, f.quantity) for f in result.fills] == [("b2", 3.0), ("s1", 3.0)]
    assert result.detail["all_or_none_excluded"] == "big"


def test_an_all_or_none_order_filled_whole_stays() -> None:
    market = market_with(buy("aon", 10, 5, all_or_none=True), sell("s1", 5, 5))
    result = market.clear(SLOT, now=NOW)
    assert {f.order_id: f.quantity for f in result.fills} == {"aon": 5.0, "s1": 5.0}
    assert "all_or_none_excluded" not in result.detail


def test_unresponsive_orders_need_a_price_cap() -> None:
    with pytest.raises(ValidationError, match="price_cap"):
        market_with(buy("u", None, 5))
    market = market_with(buy("u", None, 5), sell("s", 1, 2), price_cap=100)
    result = market.clear(SLOT, now=NOW)
    assert (result.outcome, result.price) == (Outcome.FAILURE, 100)


def test_snapshot_aggregates_levels_best_first() -> None:
    market = market_with(
        buy("b1", 9, 1),
        buy("b2", 10, 2),
        buy("b3", 9, 3),
        sell("s1", 12, 1),
        sell("s2", 11, 4),
        buy("u", None, 1),
        price_cap=50,
    )
    book = market.snapshot(SLOT)
    assert book.bids == (BookLevel(None, 1, 1), BookLevel(10, 2, 1), BookLevel(9, 4, 2))
    assert book.offers == (BookLevel(11, 4, 1), BookLevel(12, 1, 1))


def test_instruments_clear_independently() -> None:
    market = market_with(buy("b1", 10, 5), sell("s1", 5, 5))
    other = "2026-01-01T00:15Z/PT15M"
    market.submit(other, sell("s1", 1, 1), now=NOW)
    assert market.clear(other, now=NOW + timedelta(minutes=1)).outcome is Outcome.NO_ORDERS
    assert market.clear(SLOT, now=NOW).quantity == 5.0
