"""What a call auction returns, shared by every pricing rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from osed.domain.errors import ConfigurationError
from osed.markets.protocol import Outcome


class Pricing(StrEnum):
    """How a call auction prices what it clears."""

    GRIDLABD = "gridlabd"  # uniform, GridLAB-D / TESP marginal rule
    PAY_AS_CLEAR = "pay-as-clear"  # uniform, gsy-e clearing rate
    PAY_AS_BID = "pay-as-bid"  # each matched pair trades at the bid's price

    @classmethod
    def parse(cls, value: str) -> Pricing:
        try:
            return cls(value)
        except ValueError:
            known = ", ".join(rule.value for rule in cls)
            raise ConfigurationError(f"unknown pricing {value!r}; known: {known}") from None


class ClearingType(StrEnum):
    """GridLAB-D's account of how the price was set (``gridlabd`` pricing only)."""

    EXACT = "exact"
    MARGINAL_BUYER = "marginal_buyer"
    MARGINAL_SELLER = "marginal_seller"
    MARGINAL_PRICE = "marginal_price"
    NULL = "null"
    FAILURE = "failure"


def _empty_floats() -> NDArray[np.float64]:
    return np.zeros(0, dtype=np.float64)


def _empty_indices() -> NDArray[np.intp]:
    return np.zeros(0, dtype=np.intp)


@dataclass(frozen=True, slots=True)
class Matches:
    """Matched bid/offer pairs (pay-as-bid), highest bid first; indices are input positions."""

    bid_index: NDArray[np.intp] = field(default_factory=_empty_indices)
    offer_index: NDArray[np.intp] = field(default_factory=_empty_indices)
    quantity: NDArray[np.float64] = field(default_factory=_empty_floats)
    price: NDArray[np.float64] = field(default_factory=_empty_floats)

    def __len__(self) -> int:
        return int(self.quantity.size)


@dataclass(frozen=True, slots=True)
class AuctionResult:
    """The result of one clear.

    ``bid_fills`` / ``offer_fills`` hold the quantity each order trades, in input order.
    ``price`` is the uniform price (``None`` for pay-as-bid, and when a rule publishes none).
    """

    outcome: Outcome
    price: float | None
    quantity: float
    bid_fills: NDArray[np.float64]
    offer_fills: NDArray[np.float64]
    pricing: Pricing
    clearing_type: ClearingType | None = None
    matches: Matches = field(default_factory=Matches)
