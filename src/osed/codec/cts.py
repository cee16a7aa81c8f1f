"""CTS messages as JSON: camelCase fields, a ``messageType`` discriminator, strict validation.

:func:`decode` is the gate for everything that arrives from outside: it reports every problem
of a message at once, each with its JSON path and a stable code, in one
:class:`~osed.domain.errors.ValidationError`. :func:`encode` trusts the domain objects it is
given. The format is described in ``docs/cts-wire-format.md``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from osed.codec._iso import format_duration, format_instant, parse_duration, parse_instant
from osed.codec._reader import (
    BadValueError,
    Parse,
    Reader,
    boolean,
    enum_of,
    identifier,
    integer_in,
    json_type,
    shown,
    text,
)
from osed.codec.cts_direct import direct_dumps
from osed.domain.cts import (
    CancelReason,
    EiAcceptQuote,
    EiCanceledTender,
    EiCancelQuote,
    EiCancelTender,
    EiCreatedTender,
    EiCreatedTransaction,
    EiCreateQuote,
    EiCreateRfq,
    EiCreateTender,
    EiCreateTransaction,
    EiRejectQuote,
    EiReplyPosition,
    EiRequestPosition,
    EiResponse,
    IntervalDetail,
    Message,
    PositionInterval,
    Quote,
    Rfq,
    Side,
    StreamDetail,
    StreamInterval,
    Tender,
    TenderDetail,
    Transaction,
    TransactiveState,
)
from osed.domain.errors import Problem, ValidationError
from osed.domain.parties import ResourceDesignator
from osed.domain.problems import Problems
from osed.domain.time import Interval

__all__ = ["MESSAGE_TYPES", "SUBJECT", "Wire", "decode", "dumps", "encode", "loads"]

SUBJECT = "CTS message"
Wire = dict[str, object]
T = TypeVar("T")

# Scaled integers travel as Java longs in the reference implementations.
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
long = integer_in(LONG_MIN, LONG_MAX)
scale = integer_in(-18, 18)
response_code = integer_in(100, 599)
side = enum_of(Side)
resource = enum_of(ResourceDesignator)
transactive_state = enum_of(TransactiveState)
cancel_reason = enum_of(CancelReason)
_CURRENCY = re.compile("[A-Z]{3}")


def positive_quantity(value: object) -> int:
    """Tenders, quotes and accepts must trade something."""
    quantity = long(value)
    if quantity <= 0:
        raise BadValueError("non_positive_quantity", "must be greater than zero")
    return quantity


def non_negative_quantity(value: object) -> int:
    quantity = long(value)
    if quantity < 0:
        raise BadValueError("negative_quantity", "must not be negative")
    return quantity


def positive_duration(value: object) -> timedelta:
    duration = parse_duration(value)
    if duration <= timedelta(0):
        raise BadValueError("non_positive_duration", "must be positive")
    return duration


def currency(value: object) -> str:
    code = text(value)
    # fullmatch: check_currency's "^[A-Z]{3}$" also lets "USD\n" through.
    if not _CURRENCY.fullmatch(code):
        raise BadValueError("bad_currency", f"{shown(code)} is not an ISO 4217 code")
    return code


def _optional(name: str, value: T | None, encode: Callable[[T], object]) -> Wire:
    """A nullable field is left out of the wire object when it is ``None``."""
    return {} if value is None else {name: encode(value)}


def _ends_in_range(start: datetime, step: timedelta, count: int, path: str) -> None:
    """Refuse intervals whose end lies past year 9999, where datetime arithmetic overflows."""
    try:
        start + step * count
    except OverflowError:
        raise ValidationError([Problem(path, "out_of_range", "ends after year 9999")]) from None


# Intervals and tender details.


def _encode_interval(interval: Interval) -> Wire:
    return {
        "dtStart": format_instant(interval.start),
        "duration": format_duration(interval.duration),
    }


def _decode_interval(r: Reader) -> Interval:
    return r.build(
        _checked_interval,
        r.required("dtStart", parse_instant),
        r.required("duration", positive_duration),
    )


def _checked_interval(start: datetime, duration: timedelta) -> Interval:
    _ends_in_range(start, duration, 1, "$.duration")
    return Interval(start, duration)


def _encode_detail(detail: TenderDetail) -> Wire:
    if isinstance(detail, IntervalDetail):
        return {
            "interval": {
                "interval": _encode_interval(detail.interval),
                "price": detail.price,
                "quantity": detail.quantity,
            }
        }
    return {
        "stream": {
            "streamStart": format_instant(detail.stream_start),
            "intervalDuration": format_duration(detail.interval_duration),
            "streamIntervals": [
                {"streamUid": part.uid, "price": part.price, "quantity": part.quantity}
                for part in detail.intervals
            ],
        }
    }


def _decode_interval_detail(r: Reader) -> IntervalDetail:
    return r.build(
        IntervalDetail,
        interval=r.nested("interval", _decode_interval),
        price=r.required("price", long),
        quantity=r.required("quantity", positive_quantity),
    )


def _decode_stream(r: Reader) -> StreamDetail:
    # Split stream tenders are named <tenderId>-<uid>, so a uid may appear only once.
    uid = _distinct_uid(set())
    return r.build(
        _checked_stream,
        r.required("streamStart", parse_instant),
        r.required("intervalDuration", positive_duration),
        r.objects("streamIntervals", lambda item: _decode_stream_interval(item, uid)),
    )


def _distinct_uid(seen: set[int]) -> Parse[int]:
    def parse(value: object) -> int:
        uid = long(value)
        if uid in seen:
            raise BadValueError("duplicate_uid", f"uid {uid} is used by an earlier interval")
        seen.add(uid)
        return uid

    return parse


def _checked_stream(
    start: datetime, step: timedelta, parts: tuple[StreamInterval, ...]
) -> StreamDetail:
    detail = StreamDetail(start, step, parts)  # refuses an empty stream
    if not any(part.quantity > 0 for part in parts):
        raise ValidationError(
            [Problem("$.streamIntervals", "non_positive_quantity", "no interval has a quantity")]
        )
    _ends_in_range(start, step, len(parts), "$.intervalDuration")
    return detail


def _decode_stream_interval(r: Reader, uid: Parse[int]) -> StreamInterval:
    return r.build(
        StreamInterval,
        uid=r.required("streamUid", uid),
        price=r.required("price", long),
        quantity=r.required("quantity", non_negative_quantity),
    )


_DETAIL_KINDS: dict[str, Callable[[Reader], TenderDetail]] = {
    "interval": _decode_interval_detail,
    "stream": _decode_stream,
}


def _decode_detail(r: Reader) -> TenderDetail:
    return r.choice(_DETAIL_KINDS)


# Tenders, transactions, RFQs and quotes.


def _encode_tender(tender: Tender) -> Wire:
    return {
        "tenderId": tender.tender_id,
        "side": tender.side.value,
        "tenderDetail": _encode_detail(tender.detail),
        "priceScale": tender.price_scale,
        "quantityScale": tender.quantity_scale,
        "allOrNone": tender.all_or_none,
        **_optional("expirationTime", tender.expiration_time, format_instant),
        "resourceDesignator": tender.resource_designator.value,
        "currency": tender.currency,
        **_optional("marketId", tender.market_id, str),
        **_optional("executionInstructions", tender.execution_instructions, str),
        **_optional("referencedQuoteId", tender.referenced_quote_id, str),
    }


def _decode_tender(r: Reader) -> Tender:
    # The scales and the currency give every number its meaning, so they have no default.
    return r.build(
        Tender,
        tender_id=r.required("tenderId", identifier),
        side=r.required("side", side),
        detail=r.nested("tenderDetail", _decode_detail),
        price_scale=r.required("priceScale", scale),
        quantity_scale=r.required("quantityScale", scale),
        all_or_none=r.defaulted("allOrNone", boolean, False),
        expiration_time=r.optional("expirationTime", parse_instant),
        resource_designator=r.defaulted("resourceDesignator", resource, ResourceDesignator.ENERGY),
        currency=r.required("currency", currency),
        market_id=r.optional("marketId", identifier),
        execution_instructions=r.optional("executionInstructions", text),
        referenced_quote_id=r.optional("referencedQuoteId", identifier),
    )


def _encode_transaction(transaction: Transaction) -> Wire:
    return {
        "transactionId": transaction.transaction_id,
        "tender": _encode_tender(transaction.tender),
        "transactiveState": transaction.transactive_state.value,
    }


def _decode_transaction(r: Reader) -> Transaction:
    return r.build(
        Transaction,
        transaction_id=r.required("transactionId", identifier),
        tender=r.nested("tender", _decode_tender),
        transactive_state=r.defaulted(
            "transactiveState", transactive_state, TransactiveState.TRANSACTION
        ),
    )


def _encode_rfq(rfq: Rfq) -> Wire:
    return {
        "rfqId": rfq.rfq_id,
        "side": rfq.side.value,
        "boundingInterval": _encode_interval(rfq.bounding_interval),
        **_optional("duration", rfq.duration, format_duration),
        "privateRfq": rfq.private_rfq,
        "tradeableOnlyResponse": rfq.tradeable_only_response,
    }


def _decode_rfq(r: Reader) -> Rfq:
    return r.build(
        Rfq,
        rfq_id=r.required("rfqId", identifier),
        side=r.required("side", side),
        bounding_interval=r.nested("boundingInterval", _decode_interval),
        duration=r.optional("duration", positive_duration),
        private_rfq=r.defaulted("privateRfq", boolean, False),
        tradeable_only_response=r.defaulted("tradeableOnlyResponse", boolean, False),
    )


def _encode_quote(quote: Quote) -> Wire:
    return {
        "quoteId": quote.quote_id,
        "tender": _encode_tender(quote.tender),
        **_optional("rfqId", quote.rfq_id, str),
        "privateQuote": quote.private_quote,
        "tradeable": quote.tradeable,
    }


def _decode_quote(r: Reader) -> Quote:
    return r.build(
        Quote,
        quote_id=r.required("quoteId", identifier),
        tender=r.nested("tender", _decode_tender),
        rfq_id=r.optional("rfqId", identifier),
        private_quote=r.defaulted("privateQuote", boolean, False),
        tradeable=r.defaulted("tradeable", boolean, True),
    )


def _encode_response(response: EiResponse) -> Wire:
    return {
        "responseCode": int(response.response_code),
        "responseDescription": response.response_description,
        "refId": response.ref_id,
        "responseTermsViolated": list(response.response_terms_violated),
        "createdDateTime": format_instant(response.created_date_time),
    }


def _decode_response(r: Reader) -> EiResponse:
    return r.build(
        EiResponse,
        response_code=r.required("responseCode", response_code),
        response_description=r.defaulted("responseDescription", text, ""),
        ref_id=r.required("refId", identifier),
        response_terms_violated=r.values("responseTermsViolated", text),
        created_date_time=r.required("createdDateTime", parse_instant),
    )


def _encode_position(position: PositionInterval) -> Wire:
    return {"interval": _encode_interval(position.interval), "quantity": position.quantity}


def _decode_position(r: Reader) -> PositionInterval:
    return r.build(
        PositionInterval,
        interval=r.nested("interval", _decode_interval),
        quantity=r.required("quantity", long),  # a net position is signed
    )


# Messages: each body is the wire object without its "messageType".


def _encode_body(message: Message) -> Wire:
    match message:
        case EiCreateTender():
            return {
                "requestId": message.request_id,
                "partyId": message.party_id,
                "counterPartyId": message.counter_party_id,
                "tender": _encode_tender(message.tender),
                **_optional("marketId", message.market_id, str),
            }
        case EiCreatedTender():
            return {
                "eiResponse": _encode_response(message.response),
                "partyId": message.party_id,
                "counterPartyId": message.counter_party_id,
                "tenderId": message.tender_id,
                **_optional("marketOrderId", message.market_order_id, str),
            }
        case EiCancelTender():
            return {
                "requestId": message.request_id,
                "partyId": message.party_id,
                "counterPartyId": message.counter_party_id,
                "tenderId": message.tender_id,
                **_optional("marketOrderId", message.market_order_id, str),
                **_optional("remainingQuantity", message.remaining_quantity, int),
            }
        case EiCanceledTender():
            return {
                "eiResponse": _encode_response(message.response),
                "partyId": message.party_id,
                "counterPartyId": message.counter_party_id,
                "tenderId": message.tender_id,
                "cancelReason": message.cancel_reason.value,
                "remainingQuantity": message.remaining_quantity,
                "success": message.success,
                **_optional("marketOrderId", message.market_order_id, str),
            }
        case EiCreateTransaction():
            return {
                "requestId": message.request_id,
                "partyId": message.party_id,
                "counterPartyId": message.counter_party_id,
                "transaction": _encode_transaction(message.transaction),
                **_optional("marketTransactionId", message.market_transaction_id, str),
            }
        case EiCreatedTransaction():
            return {
                "eiResponse": _encode_response(message.response),
                "partyId": message.party_id,
                "counterPartyId": message.counter_party_id,
                "transactionId": message.transaction_id,
                **_optional("recipientTransactionId", message.recipient_transaction_id, str),
            }
        case EiRequestPosition():
            return {
                "requestId": message.request_id,
                "requestorPartyId": message.requestor_party_id,
                "positionPartyId": message.position_party_id,
                "boundingInterval": _encode_interval(message.bounding_interval),
                **_optional("marketId", message.market_id, str),
                "resourceDesignator": message.resource_designator.value,
            }
        case EiReplyPosition():
            return {
                "eiResponse": _encode_response(message.response),
                "positionPartyId": message.position_party_id,
                "positions": [_encode_position(p) for p in message.positions],
                "quantityScale": message.quantity_scale,
            }
        case EiCreateRfq():
            return {
                "requestId": message.request_id,
                "partyId": message.party_id,
                "rfq": _encode_rfq(message.rfq),
            }
        case EiCreateQuote():
            return {
                "requestId": message.request_id,
                "partyId": message.party_id,
                "quote": _encode_quote(message.quote),
            }
        case EiAcceptQuote():
            return {
                "requestId": message.request_id,
                "partyId": message.party_id,
                "counterPartyId": message.counter_party_id,
                "quoteId": message.quote_id,
                "quantity": message.quantity,
                "price": message.price,
            }
        case EiRejectQuote():
            return {
                "requestId": message.request_id,
                "partyId": message.party_id,
                "quoteId": message.quote_id,
                "reason": message.reason,
            }
        case EiCancelQuote():
            return {
                "requestId": message.request_id,
                "partyId": message.party_id,
                "quoteId": message.quote_id,
            }
        case EiResponse():
            return _encode_response(message)


def _decode_create_tender(r: Reader) -> EiCreateTender:
    return r.build(
        EiCreateTender,
        request_id=r.required("requestId", identifier),
        party_id=r.required("partyId", identifier),
        counter_party_id=r.required("counterPartyId", identifier),
        tender=r.nested("tender", _decode_tender),
        market_id=r.optional("marketId", identifier),
    )


def _decode_created_tender(r: Reader) -> EiCreatedTender:
    return r.build(
        EiCreatedTender,
        response=r.nested("eiResponse", _decode_response),
        party_id=r.required("partyId", identifier),
        counter_party_id=r.required("counterPartyId", identifier),
        tender_id=r.required("tenderId", identifier),
        market_order_id=r.optional("marketOrderId", identifier),
    )


def _decode_cancel_tender(r: Reader) -> EiCancelTender:
    return r.build(
        EiCancelTender,
        request_id=r.required("requestId", identifier),
        party_id=r.required("partyId", identifier),
        counter_party_id=r.required("counterPartyId", identifier),
        tender_id=r.required("tenderId", identifier),
        market_order_id=r.optional("marketOrderId", identifier),
        remaining_quantity=r.optional("remainingQuantity", non_negative_quantity),
    )


def _decode_canceled_tender(r: Reader) -> EiCanceledTender:
    return r.build(
        EiCanceledTender,
        response=r.nested("eiResponse", _decode_response),
        party_id=r.required("partyId", identifier),
        counter_party_id=r.required("counterPartyId", identifier),
        tender_id=r.required("tenderId", identifier),
        cancel_reason=r.required("cancelReason", cancel_reason),
        remaining_quantity=r.required("remainingQuantity", non_negative_quantity),
        success=r.required("success", boolean),
        market_order_id=r.optional("marketOrderId", identifier),
    )


def _decode_create_transaction(r: Reader) -> EiCreateTransaction:
    return r.build(
        EiCreateTransaction,
        request_id=r.required("requestId", identifier),
        party_id=r.required("partyId", identifier),
        counter_party_id=r.required("counterPartyId", identifier),
        transaction=r.nested("transaction", _decode_transaction),
        market_transaction_id=r.optional("marketTransactionId", identifier),
    )


def _decode_created_transaction(r: Reader) -> EiCreatedTransaction:
    return r.build(
        EiCreatedTransaction,
        response=r.nested("eiResponse", _decode_response),
        party_id=r.required("partyId", identifier),
        counter_party_id=r.required("counterPartyId", identifier),
        transaction_id=r.required("transactionId", identifier),
        recipient_transaction_id=r.optional("recipientTransactionId", identifier),
    )


def _decode_request_position(r: Reader) -> EiRequestPosition:
    return r.build(
        EiRequestPosition,
        request_id=r.required("requestId", identifier),
        requestor_party_id=r.required("requestorPartyId", identifier),
        position_party_id=r.required("positionPartyId", identifier),
        bounding_interval=r.nested("boundingInterval", _decode_interval),
        market_id=r.optional("marketId", identifier),
        resource_designator=r.defaulted("resourceDesignator", resource, ResourceDesignator.ENERGY),
    )


def _decode_reply_position(r: Reader) -> EiReplyPosition:
    return r.build(
        EiReplyPosition,
        response=r.nested("eiResponse", _decode_response),
        position_party_id=r.required("positionPartyId", identifier),
        positions=r.objects("positions", _decode_position, required=False),
        quantity_scale=r.required("quantityScale", scale),
    )


def _decode_create_rfq(r: Reader) -> EiCreateRfq:
    return r.build(
        EiCreateRfq,
        request_id=r.required("requestId", identifier),
        party_id=r.required("partyId", identifier),
        rfq=r.nested("rfq", _decode_rfq),
    )


def _decode_create_quote(r: Reader) -> EiCreateQuote:
    return r.build(
        EiCreateQuote,
        request_id=r.required("requestId", identifier),
        party_id=r.required("partyId", identifier),
        quote=r.nested("quote", _decode_quote),
    )


def _decode_accept_quote(r: Reader) -> EiAcceptQuote:
    return r.build(
        EiAcceptQuote,
        request_id=r.required("requestId", identifier),
        party_id=r.required("partyId", identifier),
        counter_party_id=r.required("counterPartyId", identifier),
        quote_id=r.required("quoteId", identifier),
        quantity=r.required("quantity", positive_quantity),
        price=r.required("price", long),
    )


def _decode_reject_quote(r: Reader) -> EiRejectQuote:
    return r.build(
        EiRejectQuote,
        request_id=r.required("requestId", identifier),
        party_id=r.required("partyId", identifier),
        quote_id=r.required("quoteId", identifier),
        reason=r.defaulted("reason", text, ""),
    )


def _decode_cancel_quote(r: Reader) -> EiCancelQuote:
    return r.build(
        EiCancelQuote,
        request_id=r.required("requestId", identifier),
        party_id=r.required("partyId", identifier),
        quote_id=r.required("quoteId", identifier),
    )


_DECODERS: dict[str, Callable[[Reader], Message]] = {
    "EiCreateTender": _decode_create_tender,
    "EiCreatedTender": _decode_created_tender,
    "EiCancelTender": _decode_cancel_tender,
    "EiCanceledTender": _decode_canceled_tender,
    "EiCreateTransaction": _decode_create_transaction,
    "EiCreatedTransaction": _decode_created_transaction,
    "EiRequestPosition": _decode_request_position,
    "EiReplyPosition": _decode_reply_position,
    "EiCreateRfq": _decode_create_rfq,
    "EiCreateQuote": _decode_create_quote,
    "EiAcceptQuote": _decode_accept_quote,
    "EiRejectQuote": _decode_reject_quote,
    "EiCancelQuote": _decode_cancel_quote,
    "EiResponse": _decode_response,
}
MESSAGE_TYPES: tuple[str, ...] = tuple(_DECODERS)


def _message_decoder(value: object) -> Callable[[Reader], Message]:
    if not isinstance(value, str):
        raise BadValueError("wrong_type", f"must be a string, not {json_type(value)}")
    if value not in _DECODERS:
        raise BadValueError("unknown_message_type", f"{shown(value)} is not a CTS message type")
    return _DECODERS[value]


# The public API.


def encode(message: Message) -> Wire:
    """The JSON object of ``message``; its class name is the ``messageType``."""
    return {"messageType": type(message).__name__, **_encode_body(message)}


def decode(obj: object) -> Message:
    """The message a JSON value (as from :func:`json.loads`) holds.

    Raises :class:`ValidationError` (subject ``"CTS message"``) naming every problem found.
    """
    if not isinstance(obj, dict):
        raise _rejected("wrong_type", f"must be an object, not {json_type(obj)}")
    problems = Problems(SUBJECT)
    root = Reader(obj, "$", problems)
    decoder = root.required("messageType", _message_decoder)
    problems.check()  # without a known type no other field can be judged
    message = decoder(root)
    problems.check()
    return message


def dumps(message: Message) -> bytes:
    """Compact, ASCII-only JSON (non-ASCII text is escaped, so any string can be sent)."""
    direct = direct_dumps(message)  # the frequent messages, without intermediate dicts
    if direct is not None:
        return direct
    return json.dumps(encode(message), separators=(",", ":"), allow_nan=False).encode("ascii")


def loads(data: bytes | str) -> Message:
    """Parse JSON text and :func:`decode` it; malformed JSON is a ``bad_json`` problem at ``$``."""
    try:
        obj = json.loads(
            data, object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant
        )
    except _DuplicateKeyError as error:
        raise _rejected("duplicate_key", f"key {shown(error.key)} appears twice") from None
    except (ValueError, RecursionError) as error:  # JSONDecodeError, bad UTF-8, huge numbers
        raise _rejected("bad_json", f"is not valid JSON: {error}") from None
    return decode(obj)


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _refuse_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """Python keeps the last of repeated keys; other parsers keep the first. Refuse both."""
    obj: dict[str, object] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKeyError(key)
        obj[key] = value
    return obj


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _rejected(code: str, message: str) -> ValidationError:
    return ValidationError([Problem("$", code, message)], subject=SUBJECT)
