"""Market units: the float price an order carries is the exact Decimal price, rounded."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from osed.agents.units import MarketUnits

UNITS = MarketUnits(4, 3, "USD")


@given(
    price=st.one_of(st.integers(-(10**20), 10**20), st.integers(-(10**400), 10**400)),
    scale=st.integers(-400, 400),
)
def test_float_price_is_the_decimal_price_rounded(price: int, scale: int) -> None:
    assert UNITS.float_price_of(price, scale) == float(UNITS.price_of(price, scale))
