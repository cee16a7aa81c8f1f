from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osed.agents.needs import CurvePoint, Need, tenders_toward
from osed.domain.cts import Side
from osed.domain.errors import ValidationError
from osed.domain.time import Interval

SLOT = Interval(datetime(2026, 6, 1, tzinfo=UTC), timedelta(minutes=15))


@st.composite
def curves(draw: st.DrawFn) -> tuple[CurvePoint, ...]:
    prices = sorted(draw(st.sets(st.integers(-500, 5000), min_size=1, max_size=6)))
    positions = sorted(
        draw(st.lists(st.integers(-10_000, 10_000), min_size=len(prices), max_size=len(prices))),
        reverse=True,
    )
    return tuple(CurvePoint(p, q) for p, q in zip(prices, positions, strict=True))


@given(curve=curves(), committed=st.integers(-20_000, 20_000), data=st.data())
def test_tenders_reach_the_curve_at_every_breakpoint_price(
    curve: tuple[CurvePoint, ...], committed: int, data: st.DataObject
) -> None:
    need = Need(SLOT, curve)
    orders = tenders_toward(need, committed)
    clearing = data.draw(st.sampled_from(curve))
    bought = sum(o.quantity for o in orders if o.side is Side.BUY and o.price >= clearing.price)
    sold = sum(o.quantity for o in orders if o.side is Side.SELL and o.price <= clearing.price)
    assert committed + bought - sold == clearing.position
    assert all(o.quantity > 0 for o in orders)


@given(curve=curves())
def test_nothing_is_tendered_when_the_position_already_matches_a_flat_need(
    curve: tuple[CurvePoint, ...],
) -> None:
    flat = Need(SLOT, tuple(CurvePoint(p.price, curve[0].position) for p in curve))
    assert tenders_toward(flat, curve[0].position) == []


def test_limit_need_tenders_only_the_difference() -> None:
    need = Need.at_limit(SLOT, 5_000, 2_500)
    (buy,) = tenders_toward(need, 3_000)
    assert (buy.side, buy.quantity, buy.price) == (Side.BUY, 2_000, 2_500)
    (sell,) = tenders_toward(need, 6_500)
    assert (sell.side, sell.quantity, sell.price) == (Side.SELL, 1_500, 2_500)


def test_shortfall_bought_high_and_surplus_resold_low() -> None:
    need = Need(SLOT, (CurvePoint(100, 800), CurvePoint(5_000, 800)))
    assert [(o.side, o.quantity, o.price) for o in tenders_toward(need, 500)] == [
        (Side.BUY, 300, 5_000)
    ]
    assert [(o.side, o.quantity, o.price) for o in tenders_toward(need, 1_000)] == [
        (Side.SELL, 200, 100)
    ]


def test_bad_curve_names_every_problem() -> None:
    with pytest.raises(ValidationError) as info:
        Need(SLOT, (CurvePoint(10, 5), CurvePoint(10, 7), CurvePoint(5, 9)))
    codes = {(p.path, p.code) for p in info.value.problems}
    assert codes == {
        ("$.curve[1].price", "not_increasing"),
        ("$.curve[1].position", "rising_demand"),
        ("$.curve[2].price", "not_increasing"),
        ("$.curve[2].position", "rising_demand"),
    }
