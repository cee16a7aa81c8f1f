"""CTS payloads: requests carry ``request_id``; responses carry an :class:`EiResponse`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum

from osed.domain.cts.tenders import Quote, Rfq, Tender, Transaction
from osed.domain.parties import ResourceDesignator
from osed.domain.time import Interval


class ResponseCode(IntEnum):
    """Three-digit EI response codes: 1xx info, 2xx OK, 3xx pending, 4xx/5xx errors."""

    OK = 200
    CREATED = 201
    ACCEPTED = 202
    PENDING = 300
    BAD_REQUEST = 400
    NOT_FOUND = 404
    CONFLICT = 409
    TERMS_VIOLATED = 422
    INTERNAL_ERROR = 500

    @property
    def ok(self) -> bool:
        return 200 <= self < 300


class CancelReason(StrEnum):
    REQUESTED = "REQUESTED"
    SUPERVISORY = "SUPERVISORY"


@dataclass(frozen=True, slots=True)
class EiResponse:
    response_code: int
    ref_id: str
    created_date_time: datetime
    response_description: str = ""
    response_terms_violated: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return 200 <= self.response_code < 300


@dataclass(frozen=True, slots=True)
class EiCreateTender:
    request_id: str
    party_id: str
    counter_party_id: str
    tender: Tender
    market_id: str | None = None


@dataclass(frozen=True, slots=True)
class EiCreatedTender:
    response: EiResponse
    party_id: str
    counter_party_id: str
    tender_id: str
    market_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class EiCancelTender:
    """Cancel a tender, or reduce it to ``remaining_quantity`` when that is given."""

    request_id: str
    party_id: str
    counter_party_id: str
    tender_id: str
    market_order_id: str | None = None
    remaining_quantity: int | None = None


@dataclass(frozen=True, slots=True)
class EiCanceledTender:
    response: EiResponse
    party_id: str
    counter_party_id: str
    tender_id: str
    cancel_reason: CancelReason
    remaining_quantity: int
    success: bool
    market_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class EiCreateTransaction:
    request_id: str
    party_id: str
    counter_party_id: str
    transaction: Transaction
    market_transaction_id: str | None = None


@dataclass(frozen=True, slots=True)
class EiCreatedTransaction:
    response: EiResponse
    party_id: str
    counter_party_id: str
    transaction_id: str
    recipient_transaction_id: str | None = None


@dataclass(frozen=True, slots=True)
class EiRequestPosition:
    request_id: str
    requestor_party_id: str
    position_party_id: str
    bounding_interval: Interval
    market_id: str | None = None
    resource_designator: ResourceDesignator = ResourceDesignator.ENERGY


@dataclass(frozen=True, slots=True)
class PositionInterval:
    """The net signed quantity (buys positive) of one party in one interval."""

    interval: Interval
    quantity: int


@dataclass(frozen=True, slots=True)
class EiReplyPosition:
    response: EiResponse
    position_party_id: str
    positions: tuple[PositionInterval, ...] = field(default=())
    quantity_scale: int = 0


@dataclass(frozen=True, slots=True)
class EiCreateRfq:
    request_id: str
    party_id: str
    rfq: Rfq


@dataclass(frozen=True, slots=True)
class EiCreateQuote:
    request_id: str
    party_id: str
    quote: Quote


@dataclass(frozen=True, slots=True)
class EiAcceptQuote:
    """Take ``quantity`` of a quote at no more (buy) or no less (sell) than ``price``."""

    request_id: str
    party_id: str
    counter_party_id: str
    quote_id: str
    quantity: int
    price: int


@dataclass(frozen=True, slots=True)
class EiRejectQuote:
    request_id: str
    party_id: str
    quote_id: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class EiCancelQuote:
    request_id: str
    party_id: str
    quote_id: str


Message = (
    EiCreateTender
    | EiCreatedTender
    | EiCancelTender
    | EiCanceledTender
    | EiCreateTransaction
    | EiCreatedTransaction
    | EiRequestPosition
    | EiReplyPosition
    | EiCreateRfq
    | EiCreateQuote
    | EiAcceptQuote
    | EiRejectQuote
    | EiCancelQuote
    | EiResponse
)
