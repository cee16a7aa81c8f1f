"""The most frequent CTS messages written straight to JSON text, byte for byte as
:func:`osed.codec.cts.dumps` writes them, without building the intermediate dicts.

The Market Agent traces every request it answers and every confirmation it receives; for a
message that arrives as a Python object (in process) this is the encoding of the hot path.
:func:`direct_dumps` returns None for any other message, or for one of these whose values
are not of the plain types the format expects (``dumps`` then encodes it the general way), so
both always agree; a property test holds them to it.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from osed.codec._iso import format_duration, format_instant
from osed.codec.json_quote import quote as _quoted
from osed.domain.cts import (
    EiCancelTender,
    EiCreatedTransaction,
    EiCreateTender,
    EiRequestPosition,
    EiResponse,
    IntervalDetail,
    Tender,
)
from osed.domain.time import Interval

__all__ = ["direct_dumps"]


# Enum texts are read as ``_value_``: the ``value`` property costs several times as much, and
# these run for every traced request.


def direct_dumps(message: object) -> bytes | None:
    """``dumps(message)`` for the frequent messages; None for any other."""
    kind = type(message)
    if kind is EiCreateTender:
        return _create_tender(message)  # type: ignore[arg-type]
    if kind is EiCancelTender:
        return _cancel_tender(message)  # type: ignore[arg-type]
    if kind is EiRequestPosition:
        return _request_position(message)  # type: ignore[arg-type]
    if kind is EiCreatedTransaction:
        return _created_transaction(message)  # type: ignore[arg-type]
    return None


def _create_tender(message: EiCreateTender) -> bytes | None:
    tender = _tender(message.tender)
    if tender is None:
        return None
    return (
        f'{{"messageType":"EiCreateTender","requestId":{_quoted(message.request_id)},'
        f'{_parties(message)},"tender":{tender}'
        f"{_optional_text('marketId', message.market_id)}}}"
    ).encode("ascii")


def _tender(tender: Tender) -> str | None:
    detail = tender.detail
    if type(detail) is not IntervalDetail or not _plain_ints(
        detail.price, detail.quantity, tender.price_scale, tender.quantity_scale
    ):
        return None
    if type(tender.all_or_none) is not bool:
        return None
    expiry = tender.expiration_time
    expiration = "" if expiry is None else f',"expirationTime":"{_instant(expiry)}"'
    return (
        f'{{"tenderId":{_quoted(tender.tender_id)},"side":{_quoted(tender.side._value_)},'
        f'"tenderDetail":{{"interval":{{"interval":{_interval(detail.interval)},'
        f'"price":{detail.price},"quantity":{detail.quantity}}}}},'
        f'"priceScale":{tender.price_scale},"quantityScale":{tender.quantity_scale},'
        f'"allOrNone":{"true" if tender.all_or_none else "false"}{expiration},'
        f'"resourceDesignator":{_quoted(tender.resource_designator._value_)},'
        f'"currency":{_quoted(tender.currency)}'
        f"{_optional_text('marketId', tender.market_id)}"
        f"{_optional_text('executionInstructions', tender.execution_instructions)}"
        f"{_optional_text('referencedQuoteId', tender.referenced_quote_id)}}}"
    )


def _cancel_tender(message: EiCancelTender) -> bytes | None:
    remaining = message.remaining_quantity
    if remaining is not None and type(remaining) is not int:
        return None
    reduce_to = "" if remaining is None else f',"remainingQuantity":{remaining}'
    return (
        f'{{"messageType":"EiCancelTender","requestId":{_quoted(message.request_id)},'
        f'{_parties(message)},"tenderId":{_quoted(message.tender_id)}'
        f"{_optional_text('marketOrderId', message.market_order_id)}"
        f"{reduce_to}}}"
    ).encode("ascii")


def _request_position(message: EiRequestPosition) -> bytes:
    return (
        f'{{"messageType":"EiRequestPosition","requestId":{_quoted(message.request_id)},'
        f'"requestorPartyId":{_quoted(message.requestor_party_id)},'
        f'"positionPartyId":{_quoted(message.position_party_id)},'
        f'"boundingInterval":{_interval(message.bounding_interval)}'
        f"{_optional_text('marketId', message.market_id)},"
        f'"resourceDesignator":{_quoted(message.resource_designator._value_)}}}'
    ).encode("ascii")


def _created_transaction(message: EiCreatedTransaction) -> bytes | None:
    response = _response(message.response)
    if response is None:
        return None
    return (
        f'{{"messageType":"EiCreatedTransaction","eiResponse":{response},'
        f'{_parties(message)},"transactionId":{_quoted(message.transaction_id)}'
        f"{_optional_text('recipientTransactionId', message.recipient_transaction_id)}}}"
    ).encode("ascii")


def _response(response: EiResponse) -> str | None:
    code = response.response_code
    if not isinstance(code, int) or type(code) is bool:
        return None
    violated = ",".join(_quoted(term) for term in response.response_terms_violated)
    return (
        f'{{"responseCode":{int(code)},'
        f'"responseDescription":{_quoted(response.response_description)},'
        f'"refId":{_quoted(response.ref_id)},"responseTermsViolated":[{violated}],'
        f'"createdDateTime":"{_instant(response.created_date_time)}"}}'
    )


# Remembered: the messages of a market mostly name the same few intervals and instants.
@lru_cache(maxsize=4096)
def _interval(interval: Interval) -> str:
    start = format_instant(interval.start)
    return f'{{"dtStart":"{start}","duration":"{format_duration(interval.duration)}"}}'


@lru_cache(maxsize=1024)
def _instant(value: datetime) -> str:
    return format_instant(value)


def _parties(message: EiCreateTender | EiCancelTender | EiCreatedTransaction) -> str:
    party, counter_party = _quoted(message.party_id), _quoted(message.counter_party_id)
    return f'"partyId":{party},"counterPartyId":{counter_party}'


def _optional_text(name: str, value: str | None) -> str:
    return "" if value is None else f',"{name}":{_quoted(str(value))}'


def _plain_ints(*values: object) -> bool:
    return all(type(value) is int for value in values)
