"""Self-trade prevention: a party never trades with itself in the book or the auction; the
policy is an option; the published auction cases clear unchanged when parties differ."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osed.domain.cts.tenders import Side
from osed.domain.errors import ConfigurationError
from osed.markets.auction import DoubleAuctionMarket
from osed.markets.orderbook import BilateralMarket
from osed.markets.protocol import Fill, Order, Withdrawal

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SLOT = "2026-01-01T00:00:00Z/PT15M"
AUCTION_CASES = sorted(
    p for p in (Path(__file__).resolve().parents[2] / "data" / "auction").iterdir() if p.is_dir()
)


def order(order_id: str, side: Side, price: float | None, quantity: float, party: str) -> Order:
    return Order(order_id, side, price, quantity, party=party)


def trades(fills: tuple[Fill, ...]) -> list[tuple[str, str, float, float]]:
    return [(f.order_id, f.counter_order_id or "", f.price, f.quantity) for f in fills]


# ---------------------------------------------------------------------- continuous book


def test_by_default_the_partys_resting_order_is_withdrawn_and_matching_goes_on() -> None:
    market = BilateralMarket()
    market.submit(SLOT, order("a-sell", Side.SELL, 10, 5, "A"), now=NOW)
    market.submit(SLOT, order("b-sell", Side.SELL, 11, 5, "B"), now=NOW)
    fills = market.submit(SLOT, order("a-buy", Side.BUY, 12, 8, "A"), now=NOW)
    assert trades(fills) == [("a-buy", "b-sell", 11, 5), ("b-sell", "a-buy", 11, 5)]
    assert market.take_withdrawals() == (Withdrawal(SLOT, "a-sell", "A", 5),)
    assert market.take_withdrawals() == ()
    assert market.open_quantity(SLOT, "a-sell") == 0
    assert market.open_quantity(SLOT, "a-buy") == 3  # the rest rests


def test_cancel_incoming_keeps_what_traded_and_withdraws_the_rest() -> None:
    market = BilateralMarket(self_trade="cancel-incoming")
    market.submit(SLOT, order("b-sell", Side.SELL, 9, 5, "B"), now=NOW)
    market.submit(SLOT, order("a-sell", Side.SELL, 10, 5, "A"), now=NOW)
    fills = market.submit(SLOT, order("a-buy", Side.BUY, 12, 8, "A"), now=NOW)
    assert trades(fills) == [("a-buy", "b-sell", 9, 5), ("b-sell", "a-buy", 9, 5)]
    assert market.take_withdrawals() == (Withdrawal(SLOT, "a-buy", "A", 3),)
    assert market.open_quantity(SLOT, "a-sell") == 5
    assert market.open_quantity(SLOT, "a-buy") == 0


def test_off_lets_a_party_trade_with_itself_and_empty_parties_always_trade() -> None:
    market = BilateralMarket(self_trade="off")
    market.submit(SLOT, order("a-sell", Side.SELL, 10, 5, "A"), now=NOW)
    assert len(market.submit(SLOT, order("a-buy", Side.BUY, 10, 5, "A"), now=NOW)) == 2
    anonymous = BilateralMarket()
    anonymous.submit(SLOT, order("s", Side.SELL, 10, 5, ""), now=NOW)
    assert len(anonymous.submit(SLOT, order("b", Side.BUY, 10, 5, ""), now=NOW)) == 2
    assert anonymous.take_withdrawals() == ()


def test_an_all_or_none_order_does_not_count_the_partys_own_orders() -> None:
    market = BilateralMarket()
    market.submit(SLOT, order("a-sell", Side.SELL, 10, 5, "A"), now=NOW)
    market.submit(SLOT, order("b-sell", Side.SELL, 11, 3, "B"), now=NOW)
    aon = Order("a-buy", Side.BUY, 12, 8, party="A", all_or_none=True)
    assert market.submit(SLOT, aon, now=NOW) == ()  # only 3 from others: it rests whole
    assert market.take_withdrawals() == ()  # nothing traded, so nothing withdrawn
    assert market.open_quantity(SLOT, "a-sell") == 5


def test_unknown_policies_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="self_trade"):
        BilateralMarket(self_trade="net")
    with pytest.raises(ConfigurationError, match="self_trade"):
        DoubleAuctionMarket(self_trade="cancel-resting")


book_orders = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(95, 105),
        st.integers(1, 20),
        st.sampled_from(["A", "B", "C"]),
        st.booleans(),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(book_orders, st.sampled_from(["cancel-resting", "cancel-incoming"]))
def test_no_book_fill_ever_has_one_party_on_both_sides(
    flow: list[tuple[Side, int, int, str, bool]], policy: str
) -> None:
    market = BilateralMarket(self_trade=policy)
    submitted: dict[str, float] = {}
    filled: dict[str, float] = defaultdict(float)
    withdrawn: dict[str, float] = defaultdict(float)
    for n, (side, price, quantity, party, aon) in enumerate(flow):
        new = Order(f"o{n}", side, float(price), float(quantity), party=party, all_or_none=aon)
        submitted[new.order_id] = quantity
        for fill in market.submit(SLOT, new, now=NOW):
            assert fill.party != fill.counter_party
            filled[fill.order_id] += fill.quantity
        for withdrawal in market.take_withdrawals():
            withdrawn[withdrawal.order_id] += withdrawal.quantity
    # Every order's quantity is filled, withdrawn or still open: none is lost or made up.
    for order_id, quantity in submitted.items():
        accounted = filled[order_id] + withdrawn[order_id] + market.open_quantity(SLOT, order_id)
        assert accounted == pytest.approx(quantity, abs=1e-9)


# ---------------------------------------------------------------------- call auction


def test_the_auction_fills_a_party_only_its_net_quantity() -> None:
    market = DoubleAuctionMarket(pricing="pay-as-clear")
    for new in (
        order("a-buy", Side.BUY, 10, 6, "A"),
        order("b-buy", Side.BUY, 9, 4, "B"),
        order("a-sell", Side.SELL, 1, 4, "A"),
        order("c-sell", Side.SELL, 2, 6, "C"),
    ):
        market.submit(SLOT, new, now=NOW)
    result = market.clear(SLOT, now=NOW)
    by_order = {f.order_id: f.quantity for f in result.fills}
    # The curves clear 10 at one price; A bought 6 and sold 4: it buys its net 2 only.
    assert by_order == {"a-buy": 2, "b-buy": 4, "c-sell": 6}
    assert result.quantity == 6
    assert result.detail["self_trade_netted"] == "4.0"
    assert {f.price for f in result.fills} == {result.price}


def test_pay_as_bid_drops_the_pairs_of_a_party_with_itself() -> None:
    market = DoubleAuctionMarket(pricing="pay-as-bid")
    for new in (
        order("a-buy", Side.BUY, 10, 5, "A"),
        order("a-sell", Side.SELL, 4, 3, "A"),
        order("b-sell", Side.SELL, 5, 4, "B"),
    ):
        market.submit(SLOT, new, now=NOW)
    result = market.clear(SLOT, now=NOW)
    assert all(f.party != f.counter_party for f in result.fills)
    assert {(f.order_id, f.quantity) for f in result.fills} == {("a-buy", 2), ("b-sell", 2)}
    assert result.quantity == 2


auction_orders = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(1, 20),
        st.integers(1, 10),
        st.sampled_from(["A", "B", "C", "D"]),
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(auction_orders, st.sampled_from(["gridlabd", "pay-as-clear", "pay-as-bid"]))
def test_netting_keeps_the_price_and_every_partys_net_position(
    flow: list[tuple[Side, int, int, str]], pricing: str
) -> None:
    def cleared(policy: str) -> tuple[float | None, dict[str, float], tuple[Fill, ...]]:
        market = DoubleAuctionMarket(pricing=pricing, self_trade=policy)
        for n, (side, price, quantity, party) in enumerate(flow):
            market.submit(SLOT, order(f"o{n}", side, price, quantity, party), now=NOW)
        result = market.clear(SLOT, now=NOW)
        net: dict[str, float] = defaultdict(float)
        for fill in result.fills:
            net[fill.party] += fill.quantity if fill.side is Side.BUY else -fill.quantity
        return result.price, {p: q for p, q in net.items() if abs(q) > 1e-9}, result.fills

    price, net, fills = cleared("net")
    price_off, net_off, _ = cleared("off")
    assert price == price_off
    assert net == pytest.approx(net_off)
    sides: dict[str, set[Side]] = defaultdict(set)
    for fill in fills:
        assert fill.party != fill.counter_party
        sides[fill.party].add(fill.side)
    if pricing != "pay-as-bid":  # (pairs at their own prices: a party may buy and sell)
        assert all(len(s) == 1 for s in sides.values())  # nobody both buys and sells
    bought = sum(f.quantity for f in fills if f.side is Side.BUY)
    assert bought == pytest.approx(sum(f.quantity for f in fills if f.side is Side.SELL))


@pytest.mark.parametrize("case", AUCTION_CASES, ids=lambda p: p.name)
def test_published_cases_clear_unchanged_with_distinct_parties(case: Path) -> None:
    document = json.loads((case / "input.json").read_text())
    expected = json.loads((case / "expected.json").read_text())
    market = DoubleAuctionMarket(pricing=document["pricing"], price_cap=document.get("price_cap"))
    for key, side in (("bids", Side.BUY), ("offers", Side.SELL)):
        for entry in document[key]:
            if entry["quantity"] > 0:
                party = f"party-{entry['id']}"
                new = order(str(entry["id"]), side, entry["price"], entry["quantity"], party)
                market.submit(SLOT, new, now=NOW)
    result = market.clear(SLOT, now=NOW)
    assert result.outcome.value == expected["outcome"]
    assert result.price == expected["price"]
    assert result.quantity == pytest.approx(expected["quantity"])
    assert "self_trade_netted" not in result.detail
    got = sorted((f.order_id, f.quantity, f.price) for f in result.fills)
    assert got == sorted((str(f["id"]), f["quantity"], f["price"]) for f in expected["fills"])
