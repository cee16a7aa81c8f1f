"""Tenders, transactions, quotes and RFQs: the objects CTS messages carry."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from osed.domain.errors import Problem, ValidationError
from osed.domain.parties import ResourceDesignator
from osed.domain.time import Interval, require_aware


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        """+1 for a purchase, -1 for a sale: the sign of a position change."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class TransactiveState(StrEnum):
    INDICATION_OF_INTEREST = "indicationOfInterest"
    TENDER = "tender"
    TRANSACTION = "transaction"
    EXERCISE = "exercise"
    DELIVERY = "delivery"
    TRANSPORT_COMMITMENT = "transportCommitment"
    PUBLICATION = "publication"


@dataclass(frozen=True, slots=True)
class IntervalDetail:
    """One interval at one limit price for one quantity (both scaled integers)."""

    interval: Interval
    price: int
    quantity: int


@dataclass(frozen=True, slots=True)
class StreamInterval:
    uid: int
    price: int
    quantity: int


@dataclass(frozen=True, slots=True)
class StreamDetail:
    """Consecutive intervals of ``interval_duration`` from ``stream_start``, each priced."""

    stream_start: datetime
    interval_duration: timedelta
    intervals: tuple[StreamInterval, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "stream_start", require_aware(self.stream_start))
        if self.interval_duration <= timedelta(0):
            raise ValidationError(
                [Problem("$.intervalDuration", "non_positive_duration", "must be positive")]
            )
        if not self.intervals:
            raise ValidationError(
                [Problem("$.streamIntervals", "empty", "a stream needs at least one interval")]
            )

    def interval_of(self, index: int) -> Interval:
        return Interval(self.stream_start + index * self.interval_duration, self.interval_duration)


TenderDetail = IntervalDetail | StreamDetail


@dataclass(frozen=True, slots=True)
class Tender:
    """An offer to buy or sell (CTS TenderBase + EiTender)."""

    tender_id: str
    side: Side
    detail: TenderDetail
    price_scale: int = 0
    quantity_scale: int = 0
    all_or_none: bool = False
    expiration_time: datetime | None = None
    resource_designator: ResourceDesignator = ResourceDesignator.ENERGY
    currency: str = "USD"
    market_id: str | None = None
    execution_instructions: str | None = None
    referenced_quote_id: str | None = None

    def __post_init__(self) -> None:
        if self.expiration_time is not None:
            object.__setattr__(
                self,
                "expiration_time",
                require_aware(self.expiration_time, path="$.expirationTime"),
            )

    @property
    def interval_detail(self) -> IntervalDetail:
        if not isinstance(self.detail, IntervalDetail):
            raise ValidationError(
                [Problem("$.tenderDetail", "not_interval", "tender is a stream, not an interval")]
            )
        return self.detail


def split_stream(tender: Tender) -> tuple[Tender, ...]:
    """A stream tender as N consecutive interval tenders with ids ``<tenderId>-<uid>``.

    An interval tender comes back unchanged. Zero-quantity stream intervals are dropped: they
    trade nothing.
    """
    detail = tender.detail
    if isinstance(detail, IntervalDetail):
        return (tender,)
    return tuple(
        replace(
            tender,
            tender_id=f"{tender.tender_id}-{part.uid}",
            detail=IntervalDetail(detail.interval_of(index), part.price, part.quantity),
        )
        for index, part in enumerate(detail.intervals)
        if part.quantity != 0
    )


@dataclass(frozen=True, slots=True)
class Transaction:
    """A committed trade (EiTransaction): the tender with the cleared price and quantity."""

    transaction_id: str
    tender: Tender
    transactive_state: TransactiveState = TransactiveState.TRANSACTION


@dataclass(frozen=True, slots=True)
class Rfq:
    """A request for quotes over a bounding interval."""

    rfq_id: str
    side: Side
    bounding_interval: Interval
    duration: timedelta | None = None
    private_rfq: bool = False
    tradeable_only_response: bool = False


@dataclass(frozen=True, slots=True)
class Quote:
    """A priced answer that never enters a book; it is taken with EiAcceptQuote."""

    quote_id: str
    tender: Tender
    rfq_id: str | None = None
    private_quote: bool = False
    tradeable: bool = True
