"""The units a market trades in, and exact conversion of CTS scaled integers to them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from osed.domain.errors import Problem, ValidationError
from osed.domain.time import Interval
from osed.domain.units import check_currency

_EXACT_DECIMAL = 10**28  # the default Decimal context keeps 28 digits


@dataclass(frozen=True, slots=True)
class MarketUnits:
    """Price and quantity scales of a market (``real = integer × 10**-scale``), its currency,
    and the delivery-interval length it trades (None: any)."""

    price_scale: int
    quantity_scale: int
    currency: str
    resolution: timedelta | None = None

    def __post_init__(self) -> None:
        check_currency(self.currency)

    def price_of(self, price: int, scale: int) -> Decimal:
        """The real price of a scaled integer."""
        return Decimal(price).scaleb(-scale)

    def float_price_of(self, price: int, scale: int) -> float:
        """``float(price_of(price, scale))`` without the Decimal: a quotient of integers is
        rounded to the nearest float, as the conversion of the exact Decimal is."""
        if not -_EXACT_DECIMAL < price < _EXACT_DECIMAL:  # the Decimal rounds it: do the same
            return float(self.price_of(price, scale))
        try:
            if scale >= 0:
                return price / int(10**scale)
            return float(price * int(10**-scale))
        except OverflowError:  # beyond any float: the Decimal says ±inf
            return float(self.price_of(price, scale))

    def scaled_price(self, price: Decimal) -> int:
        """A real price at this market's price scale, rounded half to even."""
        return int(price.scaleb(self.price_scale).to_integral_value(ROUND_HALF_EVEN))

    def quantity_of(self, quantity: int, scale: int) -> int:
        """``quantity`` at ``scale`` expressed at this market's quantity scale, exactly."""
        shift = self.quantity_scale - scale
        if shift >= 0:
            return quantity * int(10**shift)
        whole, rest = divmod(quantity, int(10 ** (-shift)))
        if rest:
            raise ValidationError(
                [
                    Problem(
                        "$.tender.tenderDetail.interval.quantity",
                        "quantity_precision",
                        f"{quantity}e-{scale} is finer than the market's 1e-{self.quantity_scale}",
                    )
                ],
                subject="tender",
            )
        return whole

    def check_interval(self, interval: Interval) -> None:
        if self.resolution is not None and interval.duration != self.resolution:
            raise ValidationError(
                [
                    Problem(
                        "$.tender.tenderDetail.interval.interval.duration",
                        "wrong_resolution",
                        f"market trades {self.resolution} intervals, got {interval.duration}",
                    )
                ],
                subject="tender",
            )
