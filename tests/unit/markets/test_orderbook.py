"""BilateralMarket: continuous limit order book with price-time priority."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osed.domain.cts.tenders import Side
from osed.domain.errors import ConflictError, ValidationError
from osed.markets.orderbook import BilateralMarket
from osed.markets.protocol import BookLevel, Fill, Market, Order, Outcome

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SLOT = "slot"


def order(order_id: str, side: Side, price: float, quantity: float, **extra: object) -> Order:
    return Order(order_id, side, price, quantity, party=f"p-{order_id}", **extra)  # type: ignore[arg-type]


def test_implements_the_market_protocol() -> None:
    market = BilateralMarket()
    assert isinstance(market, Market)
    assert market.continuous is True
    assert market.name == "bilateral"


def test_a_match_yields_two_fills_at_the_resting_price() -> None:
    market = BilateralMarket()
    assert market.submit(SLOT, order("s1", Side.SELL, 10, 3), now=NOW) == ()
    incoming, resting = market.submit(SLOT, order("b1", Side.BUY, 12, 2), now=NOW)
    assert incoming == Fill(1, SLOT, "b1", "p-b1", Side.BUY, 10, 2, "s1", "p-s1")
    assert resting == Fill(1, SLOT, "s1", "p-s1", Side.SELL, 10, 2, "b1", "p-b1")
    assert market.open_quantity(SLOT, "s1") == 1


def test_an_incoming_order_walks_levels_and_rests_its_remainder() -> None:
    market = BilateralMarket()
    for oid, price in (("s1", 10), ("s2", 11), ("s3", 12)):
        market.submit(SLOT, order(oid, Side.SELL, price, 2), now=NOW)
    fills = market.submit(SLOT, order("b1", Side.BUY, 11, 5), now=NOW)
    assert [(f.counter_order_id, f.price, f.quantity) for f in fills[0::2]] == [
        ("s1", 10, 2), ("s2", 11, 2),
    ]  # fmt: skip
    book = market.snapshot(SLOT)
    assert book.bids == (BookLevel(11, 1, 1),)
    assert book.offers == (BookLevel(12, 2, 1),)


def test_time_priority_survives_a_reduction() -> None:
    market = BilateralMarket()
    for oid in ("s1", "s2"):
        market.submit(SLOT, order(oid, Side.SELL, 10, 5), now=NOW)
    assert market.cancel(SLOT, "s1", remaining=1).canceled_quantity == 4
    fills = market.submit(SLOT, order("b1", Side.BUY, 10, 3), now=NOW)
    assert [(f.counter_order_id, f.quantity) for f in fills[0::2]] == [("s1", 1), ("s2", 2)]


def test_cancel_reports_canceled_and_remaining() -> None:
    market = BilateralMarket()
    market.submit(SLOT, order("b1", Side.BUY, 10, 5), now=NOW)
    result = market.cancel(SLOT, "b1")
    assert (result.found, result.canceled_quantity, result.remaining_quantity) == (True, 5, 0)
    assert not market.cancel(SLOT, "b1").found
    assert market.snapshot(SLOT).bids == ()
    assert market.submit(SLOT, order("s1", Side.SELL, 1, 1), now=NOW) == ()


def test_duplicate_live_ids_conflict_and_bad_orders_are_rejected() -> None:
    market = BilateralMarket()
    market.submit(SLOT, order("b1", Side.BUY, 10, 5), now=NOW)
    with pytest.raises(ConflictError):
        market.submit(SLOT, order("b1", Side.BUY, 10, 5), now=NOW)
    with pytest.raises(ValidationError) as info:
        market.submit(SLOT, Order("x", Side.BUY, None, 0), now=NOW)
    assert {p.path for p in info.value.problems} == {"$.price", "$.quantity"}


def test_expired_orders_are_skipped_lazily_and_reported_by_clear() -> None:
    market = BilateralMarket()
    market.submit(
        SLOT, order("old", Side.SELL, 9, 5, expires_at=NOW + timedelta(minutes=1)), now=NOW
    )
    market.submit(
        SLOT, order("late", Side.SELL, 11, 5, expires_at=NOW + timedelta(minutes=2)), now=NOW
    )
    market.submit(SLOT, order("s2", Side.SELL, 10, 5), now=NOW)
    later = NOW + timedelta(minutes=1)
    fills = market.submit(SLOT, order("b1", Side.BUY, 10, 2), now=later)
    assert [f.counter_order_id for f in fills[0::2]] == ["s2"]
    result = market.clear(SLOT, now=NOW + timedelta(minutes=5))
    assert result.expired == ("old", "late")
    assert result.outcome is Outcome.NO_ORDERS
    assert result.fills == ()
    assert market.snapshot(SLOT).offers == (BookLevel(10, 3, 1),)
    assert market.clear(SLOT, now=NOW + timedelta(minutes=5)).expired == ()


def test_an_all_or_none_order_trades_only_when_it_fills_whole() -> None:
    market = BilateralMarket()
    market.submit(SLOT, order("s1", Side.SELL, 10, 5), now=NOW)
    assert market.submit(SLOT, order("aon", Side.BUY, 10, 8, all_or_none=True), now=NOW) == ()
    # too small to take the resting AON order whole: passes it by and rests
    assert market.submit(SLOT, order("s2", Side.SELL, 9, 3), now=NOW) == ()
    fills = market.submit(SLOT, order("s3", Side.SELL, 10, 8), now=NOW)
    assert [(f.counter_order_id, f.quantity, f.price) for f in fills[0::2]] == [("aon", 8, 10)]
    fills = market.submit(SLOT, order("b2", Side.BUY, 10, 4, all_or_none=True), now=NOW)
    assert [(f.counter_order_id, f.quantity) for f in fills[0::2]] == [("s2", 3), ("s1", 1)]


def test_an_order_skips_a_resting_all_or_none_order_for_a_worse_price() -> None:
    market = BilateralMarket()
    market.submit(SLOT, order("aon", Side.SELL, 9, 10, all_or_none=True), now=NOW)
    market.submit(SLOT, order("s2", Side.SELL, 10, 10), now=NOW)
    fills = market.submit(SLOT, order("b1", Side.BUY, 10, 4), now=NOW)
    assert [(f.counter_order_id, f.price) for f in fills[0::2]] == [("s2", 10)]
    assert market.open_quantity(SLOT, "aon") == 10


actions = st.lists(
    st.one_of(
        st.tuples(
            st.just("submit"),
            st.sampled_from([Side.BUY, Side.SELL]),
            st.integers(95, 105).map(float),
            st.integers(1, 10).map(float),
            st.booleans(),
        ),
        st.tuples(st.just("cancel"), st.integers(0, 40), st.integers(0, 6).map(float)),
    ),
    max_size=60,
)


@settings(max_examples=200)
@given(actions)
def test_order_book_conserves_quantity(steps: list[tuple[object, ...]]) -> None:
    market = BilateralMarket()
    submitted: dict[str, float] = {}
    filled: dict[str, float] = {}
    canceled: dict[str, float] = {}
    bought = sold = 0.0
    for number, step in enumerate(steps):
        if step[0] == "submit":
            _, side, price, quantity, aon = step
            oid = f"o{number}"
            submitted[oid] = quantity  # type: ignore[assignment]
            fills = market.submit(
                SLOT,
                order(oid, side, price, quantity, all_or_none=aon),  # type: ignore[arg-type]
                now=NOW,
            )
            for fill in fills:
                filled[fill.order_id] = filled.get(fill.order_id, 0.0) + fill.quantity
                if fill.side is Side.BUY:
                    bought += fill.quantity
                    assert fill.price <= price or fill.order_id != oid  # type: ignore[operator]
                else:
                    sold += fill.quantity
        elif submitted:
            _, pick, remaining = step
            oid = sorted(submitted)[int(pick) % len(submitted)]  # type: ignore[call-overload]
            result = market.cancel(SLOT, oid, remaining=remaining)  # type: ignore[arg-type]
            canceled[oid] = canceled.get(oid, 0.0) + result.canceled_quantity
    assert bought == sold
    for oid, quantity in submitted.items():
        resting = market.open_quantity(SLOT, oid)
        assert resting + filled.get(oid, 0.0) + canceled.get(oid, 0.0) == quantity


def test_a_passed_by_all_or_none_order_keeps_its_place_in_the_queue() -> None:
    market = BilateralMarket()
    market.submit(SLOT, order("aon", Side.SELL, 10, 10, all_or_none=True), now=NOW)
    market.submit(SLOT, order("s2", Side.SELL, 10, 5), now=NOW)
    market.submit(SLOT, order("b1", Side.BUY, 10, 3), now=NOW)  # passes "aon" by
    fills = market.submit(SLOT, order("b2", Side.BUY, 10, 10), now=NOW)
    assert [(f.counter_order_id, f.quantity) for f in fills[0::2]] == [("aon", 10)]
