"""Properties every clear must have, for every pricing rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osed.markets._keysort import stable_price_order
from osed.markets.auction import AuctionResult, ClearingType, Pricing, clear_auction
from osed.markets.protocol import Outcome

from .reference_walk import reference_gridlabd

RULES = list(Pricing)
# Small integer grids make ties, exact splits and equal cumulative quantities common.
prices = st.integers(min_value=-5, max_value=15).map(float)
quantities = st.integers(min_value=0, max_value=6).map(float)
orders = st.lists(st.tuples(prices, quantities), max_size=12)
float_orders = st.lists(
    st.tuples(
        st.floats(min_value=-1e3, max_value=1e3, allow_nan=False),
        st.floats(min_value=0, max_value=1e3, allow_nan=False),
    ),
    max_size=12,
)


def clear(
    bids: list[tuple[float, float]],
    offers: list[tuple[float, float]],
    rule: Pricing,
    price_cap: float | None = None,
) -> AuctionResult:
    return clear_auction(
        [p for p, _ in bids],
        [q for _, q in bids],
        [p for p, _ in offers],
        [q for _, q in offers],
        pricing=rule,
        price_cap=price_cap,
    )


def assert_conserved(result: AuctionResult, *, exact: bool) -> None:
    bought, sold = float(result.bid_fills.sum()), float(result.offer_fills.sum())
    if exact:
        assert bought == sold == result.quantity
    else:
        assert math.isclose(bought, result.quantity, rel_tol=1e-9, abs_tol=1e-9)
        assert math.isclose(sold, result.quantity, rel_tol=1e-9, abs_tol=1e-9)
    if len(result.matches):
        assert math.isclose(float(result.matches.quantity.sum()), result.quantity, abs_tol=1e-9)


@pytest.mark.parametrize("rule", RULES)
@given(bids=orders, offers=orders)
def test_energy_is_conserved_and_fills_stay_within_orders(
    rule: Pricing, bids: list[tuple[float, float]], offers: list[tuple[float, float]]
) -> None:
    result = clear(bids, offers, rule)
    assert_conserved(result, exact=True)
    assert np.all(result.bid_fills <= np.array([q for _, q in bids]))
    assert np.all(result.offer_fills <= np.array([q for _, q in offers]))
    assert np.all(result.bid_fills >= 0)
    assert np.all(result.offer_fills >= 0)
    assert (result.quantity > 0) == (result.outcome is Outcome.CLEARED)


@pytest.mark.parametrize("rule", RULES)
@given(bids=float_orders, offers=float_orders)
def test_energy_is_conserved_with_arbitrary_floats(
    rule: Pricing, bids: list[tuple[float, float]], offers: list[tuple[float, float]]
) -> None:
    assert_conserved(clear(bids, offers, rule), exact=False)


@pytest.mark.parametrize("rule", [Pricing.GRIDLABD, Pricing.PAY_AS_CLEAR])
@given(bids=orders, offers=orders)
def test_no_order_trades_beyond_its_limit_under_uniform_pricing(
    rule: Pricing, bids: list[tuple[float, float]], offers: list[tuple[float, float]]
) -> None:
    result = clear(bids, offers, rule)
    if result.quantity == 0:
        return
    assert result.price is not None
    for (limit, _), filled in zip(bids, result.bid_fills, strict=True):
        assert filled == 0 or limit >= result.price
    for (limit, _), filled in zip(offers, result.offer_fills, strict=True):
        assert filled == 0 or limit <= result.price


@given(bids=orders, offers=orders)
def test_pay_as_bid_pairs_cross_and_trade_at_the_bid(
    bids: list[tuple[float, float]], offers: list[tuple[float, float]]
) -> None:
    result = clear(bids, offers, Pricing.PAY_AS_BID)
    uniform = clear(bids, offers, Pricing.GRIDLABD)
    assert result.quantity == uniform.quantity
    matches = result.matches
    for k in range(len(matches)):
        bid_price = bids[int(matches.bid_index[k])][0]
        assert matches.price[k] == bid_price
        assert offers[int(matches.offer_index[k])][0] <= bid_price
    per_bid = np.bincount(matches.bid_index, matches.quantity, minlength=len(bids))
    assert np.allclose(per_bid, result.bid_fills)


@pytest.mark.parametrize("rule", RULES)
@given(bids=orders, offers=orders)
def test_same_input_gives_the_same_output(
    rule: Pricing, bids: list[tuple[float, float]], offers: list[tuple[float, float]]
) -> None:
    first, second = clear(bids, offers, rule), clear(bids, offers, rule)
    assert (first.price, first.quantity, first.outcome) == (
        second.price,
        second.quantity,
        second.outcome,
    )
    assert np.array_equal(first.bid_fills, second.bid_fills)
    assert np.array_equal(first.offer_fills, second.offer_fills)
    assert np.array_equal(first.matches.quantity, second.matches.quantity)


@settings(max_examples=300)
@given(bids=orders, offers=orders)
def test_gridlabd_matches_an_order_by_order_walk(
    bids: list[tuple[float, float]], offers: list[tuple[float, float]]
) -> None:
    result = clear(bids, offers, Pricing.GRIDLABD)
    expected = reference_gridlabd(bids, offers)
    assert result.quantity == expected.quantity
    assert result.price == pytest.approx(expected.price, abs=1e-12)


@pytest.mark.parametrize("rule", RULES)
@given(bids=orders, offers=orders)
def test_equal_prices_are_served_in_submission_order(
    rule: Pricing, bids: list[tuple[float, float]], offers: list[tuple[float, float]]
) -> None:
    result = clear(bids, offers, rule)
    for side, fills in ((bids, result.bid_fills), (offers, result.offer_fills)):
        for m, (price, _) in enumerate(side):
            if fills[m] == 0:
                continue
            # a served order: every earlier order at its price is served in full
            earlier = [k for k in range(m) if side[k][0] == price]
            assert all(fills[k] == side[k][1] for k in earlier)


def test_unresponsive_orders_sit_at_the_cap_and_prices_are_clipped() -> None:
    result = clear([(float("nan"), 5.0), (500.0, 5.0)], [(1.0, 20.0)], Pricing.GRIDLABD, 100.0)
    assert result.outcome is Outcome.CLEARED
    assert result.quantity == 10.0
    assert result.clearing_type is ClearingType.MARGINAL_SELLER
    assert result.price == 1.0


def test_failure_when_unresponsive_demand_exceeds_supply() -> None:
    result = clear_auction([None], [10.0], [5.0], [4.0], pricing="gridlabd", price_cap=50.0)
    assert (result.outcome, result.price, result.quantity) == (Outcome.FAILURE, 50.0, 4.0)
    assert result.clearing_type is ClearingType.FAILURE


def test_failure_when_unresponsive_supply_exceeds_demand() -> None:
    result = clear_auction([5.0], [4.0], [None], [10.0], pricing="gridlabd", price_cap=50.0)
    assert (result.outcome, result.price, result.quantity) == (Outcome.FAILURE, -50.0, 4.0)


def test_engine_input_errors_name_every_entry() -> None:
    from osed.domain.errors import ValidationError

    with pytest.raises(ValidationError) as info:
        clear_auction([1.0, None], [-1.0, 1.0], [math.inf], [1.0, 2.0], pricing="gridlabd")
    paths = {p.path for p in info.value.problems}
    assert paths == {"$.bids[0].quantity", "$.bids[1].price", "$.offers"}


def test_unknown_pricing_is_a_configuration_error_naming_the_rules() -> None:
    from osed.domain.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="gridlabd, pay-as-clear, pay-as-bid"):
        clear_auction([1.0], [1.0], [1.0], [1.0], pricing="vickrey")


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=300))
def test_key_sort_equals_a_stable_argsort(values: list[float]) -> None:
    prices = np.array(values, dtype=np.float64) + 0.0
    assert np.array_equal(stable_price_order(prices), np.argsort(prices, kind="stable"))


def test_key_sort_resolves_prices_that_differ_only_in_low_bits() -> None:
    rng = np.random.default_rng(3)
    base = 1.0 + np.arange(4) * 2.0**-52  # differ only in the last mantissa bit
    prices = rng.choice(base, size=5000)
    assert np.array_equal(stable_price_order(prices), np.argsort(prices, kind="stable"))


def test_large_clear_takes_the_parallel_path_and_agrees_with_argsort() -> None:
    rng = np.random.default_rng(5)
    n = 60_000
    bid_prices, offer_prices = rng.integers(0, 50, n).astype(float), rng.uniform(0, 50, n)
    result = clear_auction(
        bid_prices, np.ones(n), offer_prices, np.ones(n), pricing=Pricing.GRIDLABD
    )
    assert result.bid_fills.sum() == result.offer_fills.sum() == result.quantity
    order = np.argsort(-bid_prices, kind="stable")
    served = int(result.quantity)
    assert np.all(result.bid_fills[order[:served]] == 1.0)
    assert np.all(result.bid_fills[order[served:]] == 0.0)


@pytest.mark.parametrize(
    ("bids", "offers", "clearing_type", "price"),
    [
        ([(12, 5), (10, 5), (8, 5)], [(6, 5), (10, 5), (14, 5)], ClearingType.EXACT, 10),
        ([(10, 5), (10, 5), (7, 5)], [(4, 5), (12, 5)], ClearingType.MARGINAL_BUYER, 10),
        ([(10, 5), (3, 5)], [(4, 5), (4, 5)], ClearingType.MARGINAL_SELLER, 4),
        ([(10, 10)], [(5, 5), (5, 5), (5, 5)], ClearingType.MARGINAL_SELLER, 5),
        ([(10, 5), (2, 5)], [(4, 5), (12, 5)], ClearingType.MARGINAL_PRICE, 7),
        ([(10, 10)], [(5, 4), (6, 3), (12, 10)], ClearingType.MARGINAL_BUYER, 10),
        ([(10, 3), (9, 3), (2, 5)], [(5, 10)], ClearingType.MARGINAL_SELLER, 5),
        ([(4, 5)], [(6, 5)], ClearingType.NULL, 5),
    ],
)
def test_gridlabd_clearing_types(
    bids: list[tuple[float, float]],
    offers: list[tuple[float, float]],
    clearing_type: ClearingType,
    price: float,
) -> None:
    result = clear(bids, offers, Pricing.GRIDLABD)
    assert (result.clearing_type, result.price) == (clearing_type, price)
