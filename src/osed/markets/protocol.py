"""The Market Modular Interface: the one protocol every market mechanism implements.

Markets are engines: they take values and return values, never doing I/O. Each delivery
interval is its own instrument, named by :meth:`osed.domain.time.Interval.key`. Prices and
quantities are floats here; the Market Agent feeds integer-valued quantities (CTS scaled
integers), for which every fill is exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from osed.domain.cts.tenders import Side
from osed.domain.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class Order:
    """A limit order for one instrument. ``price=None`` marks an unresponsive (price-taking) bid."""

    order_id: str
    side: Side
    price: float | None
    quantity: float
    party: str = ""
    all_or_none: bool = False
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Fill:
    """One side of a match. A bilateral match yields two fills sharing ``match_id``; an auction
    yields one fill per order, with the market as counterparty (``counter_order_id`` None)."""

    match_id: int
    instrument: str
    order_id: str
    party: str
    side: Side
    price: float
    quantity: float
    counter_order_id: str | None = None
    counter_party: str | None = None


class SelfTradePrevention(StrEnum):
    """What a market does when an order would trade with an order of the same party (orders
    with an empty ``party`` are never taken for the same party).

    Continuous book: ``cancel-resting`` (the default) withdraws the party's resting order and
    matching goes on; ``cancel-incoming`` withdraws the rest of the incoming order, keeping
    what it traded before. Call auction: ``net`` (the default) fills a party only its net
    quantity, its own bid and offer never matched to each other. ``off`` lets a party trade
    with itself.
    """

    CANCEL_RESTING = "cancel-resting"
    CANCEL_INCOMING = "cancel-incoming"
    NET = "net"
    OFF = "off"

    @classmethod
    def parse(
        cls, value: SelfTradePrevention | str, allowed: tuple[SelfTradePrevention, ...]
    ) -> SelfTradePrevention:
        try:
            policy = cls(value)
        except ValueError:
            policy = None
        if policy not in allowed:
            names = ", ".join(p.value for p in allowed)
            raise ConfigurationError(f"self_trade {value!r}: expected one of {names}")
        assert policy is not None
        return policy


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """An order the market withdrew on its own, with the open quantity it withdrew."""

    instrument: str
    order_id: str
    party: str
    quantity: float
    reason: str = "self_trade"


def take_withdrawals(market: object) -> tuple[Withdrawal, ...]:
    """The orders ``market`` withdrew on its own since the last call (none for a market that
    never does)."""
    take = getattr(market, "take_withdrawals", None)
    return tuple(take()) if callable(take) else ()


class Outcome(StrEnum):
    """How a call auction ended."""

    CLEARED = "cleared"  # a crossing: price and quantity found
    NO_CROSSING = "no_crossing"  # orders on both sides but no buyer pays a seller's price
    NO_ORDERS = "no_orders"  # one side (or both) empty
    FAILURE = "failure"  # unresponsive demand or supply cannot be met (GridLAB-D FAILURE)


@dataclass(frozen=True, slots=True)
class CancelResult:
    """``canceled_quantity`` was withdrawn; ``remaining_quantity`` stays live in the book."""

    order_id: str
    found: bool
    canceled_quantity: float
    remaining_quantity: float


@dataclass(frozen=True, slots=True)
class ClearingResult:
    instrument: str
    outcome: Outcome
    price: float | None
    quantity: float
    fills: tuple[Fill, ...] = ()
    expired: tuple[str, ...] = ()
    detail: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BookLevel:
    price: float | None
    quantity: float
    orders: int


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    instrument: str
    bids: tuple[BookLevel, ...]
    offers: tuple[BookLevel, ...]


@runtime_checkable
class Market(Protocol):
    """Market Modular Interface.

    - ``submit`` enters an order; a continuous market returns the fills it caused at once, a
      call market returns ``()`` and fills at ``clear``.
    - ``cancel`` removes an order, or reduces it to ``remaining`` when that is given.
    - ``clear`` runs the call (auction) or removes expired orders (continuous book).
    - ``snapshot`` shows the aggregated book of one instrument.

    A market that withdraws orders on its own (self-trade prevention) also has
    ``take_withdrawals() -> tuple[Withdrawal, ...]``, read through :func:`take_withdrawals`.
    """

    name: str
    continuous: bool

    def submit(self, instrument: str, order: Order, *, now: datetime) -> tuple[Fill, ...]: ...

    def cancel(
        self, instrument: str, order_id: str, *, remaining: float | None = None
    ) -> CancelResult: ...

    def clear(self, instrument: str, *, now: datetime) -> ClearingResult: ...

    def snapshot(self, instrument: str) -> BookSnapshot: ...
