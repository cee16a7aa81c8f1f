"""Physical and monetary units.

Plain numbers carry their unit in their name (``p_kw``, ``e_kwh``, ``price_per_kwh``); values
that travel between parties carry it in their type (:class:`Price`). CTS wire values are scaled
integers: ``real = integer × 10**(-scale)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from osed.domain.errors import Problem, ValidationError

_CURRENCY = re.compile(r"[A-Z]{3}")


class EnergyUnit(StrEnum):
    WH = "Wh"
    KWH = "kWh"
    MWH = "MWh"


KWH_PER: dict[EnergyUnit, Decimal] = {
    EnergyUnit.WH: Decimal("0.001"),
    EnergyUnit.KWH: Decimal(1),
    EnergyUnit.MWH: Decimal(1000),
}


def check_currency(code: str, *, path: str = "$.currency") -> str:
    if not _CURRENCY.fullmatch(code):
        raise ValidationError([Problem(path, "bad_currency", f"{code!r} is not an ISO 4217 code")])
    return code


@dataclass(frozen=True, slots=True)
class Price:
    """A price per unit of energy in a currency, e.g. ``Price(Decimal("0.21"), "EUR")`` €/kWh."""

    amount: Decimal
    currency: str
    per: EnergyUnit = EnergyUnit.KWH

    def __post_init__(self) -> None:
        check_currency(self.currency)

    def per_kwh(self) -> Decimal:
        return self.amount / KWH_PER[self.per]


def scaled_to_decimal(value: int, scale: int) -> Decimal:
    """The real value of a CTS scaled integer: ``value × 10**(-scale)``."""
    return Decimal(value).scaleb(-scale)


def decimal_to_scaled(value: Decimal, scale: int) -> int:
    """The CTS scaled integer of ``value``; rounds half to even when ``value`` has finer digits."""
    return int(value.scaleb(scale).to_integral_value())
