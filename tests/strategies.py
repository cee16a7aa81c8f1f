"""Hypothesis strategies for CTS domain values, shared by every test that needs them.

Every value drawn here is valid on the wire: it survives ``decode(encode(x)) == x``. Times are
UTC, between 2000 and 2100, with whole-second or microsecond precision; scaled integers fit a
Java long; tender and quote quantities are positive.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

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
    ResponseCode,
    Rfq,
    Side,
    StreamDetail,
    StreamInterval,
    Tender,
    TenderDetail,
    Transaction,
    TransactiveState,
)
from osed.domain.parties import ResourceDesignator
from osed.domain.time import Interval

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1

longs = st.integers(LONG_MIN, LONG_MAX)
positive_quantities = st.integers(1, LONG_MAX)
scales = st.integers(-18, 18)
currencies = st.sampled_from(["USD", "EUR", "GBP", "CHF", "JPY", "AUD"])

# Ids: 1..128 characters, anything but control characters and surrogates.
identifiers = st.text(
    st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=128
) | st.from_regex(r"[a-z]{1,8}-[0-9]{1,6}", fullmatch=True)
optional_identifiers = st.none() | identifiers
free_text = st.text(max_size=200)

_naive_times = st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1))  # noqa: DTZ001
utc_datetimes = st.one_of(
    _naive_times.map(lambda t: t.replace(microsecond=0, tzinfo=UTC)),
    _naive_times.map(lambda t: t.replace(tzinfo=UTC)),
)
"""Aware UTC datetimes, half of them on a whole second, the rest with microseconds."""

positive_durations = st.one_of(
    st.sampled_from([timedelta(minutes=m) for m in (5, 15, 30, 60, 1440)]),
    st.integers(1, 400 * 86_400).map(lambda s: timedelta(seconds=s)),
    st.timedeltas(timedelta(microseconds=1), timedelta(days=400)),
)
intervals = st.builds(Interval, utc_datetimes, positive_durations)


@st.composite
def stream_details(draw: st.DrawFn) -> StreamDetail:
    """1..8 intervals with distinct uids; quantities may be zero but not all of them."""
    uids = draw(st.lists(longs, min_size=1, max_size=8, unique=True))
    parts = [StreamInterval(uid, draw(longs), draw(st.integers(0, LONG_MAX))) for uid in uids]
    if not any(part.quantity for part in parts):
        parts[0] = StreamInterval(parts[0].uid, parts[0].price, draw(positive_quantities))
    return StreamDetail(draw(utc_datetimes), draw(positive_durations), tuple(parts))


interval_details = st.builds(IntervalDetail, intervals, longs, positive_quantities)
tender_details: st.SearchStrategy[TenderDetail] = interval_details | stream_details()

tenders = st.builds(
    Tender,
    tender_id=identifiers,
    side=st.sampled_from(Side),
    detail=tender_details,
    price_scale=scales,
    quantity_scale=scales,
    all_or_none=st.booleans(),
    expiration_time=st.none() | utc_datetimes,
    resource_designator=st.sampled_from(ResourceDesignator),
    currency=currencies,
    market_id=optional_identifiers,
    execution_instructions=st.none() | free_text,
    referenced_quote_id=optional_identifiers,
)
transactions = st.builds(Transaction, identifiers, tenders, st.sampled_from(TransactiveState))
rfqs = st.builds(
    Rfq,
    rfq_id=identifiers,
    side=st.sampled_from(Side),
    bounding_interval=intervals,
    duration=st.none() | positive_durations,
    private_rfq=st.booleans(),
    tradeable_only_response=st.booleans(),
)
quotes = st.builds(
    Quote,
    quote_id=identifiers,
    tender=tenders,
    rfq_id=optional_identifiers,
    private_quote=st.booleans(),
    tradeable=st.booleans(),
)
ei_responses = st.builds(
    EiResponse,
    response_code=st.sampled_from(ResponseCode) | st.integers(100, 599),
    ref_id=identifiers,
    created_date_time=utc_datetimes,
    response_description=free_text,
    response_terms_violated=st.lists(free_text, max_size=3).map(tuple),
)
position_intervals = st.builds(PositionInterval, intervals, longs)

# One strategy per message type, keyed by the wire "messageType".
_party = identifiers
MESSAGE_STRATEGIES: dict[str, st.SearchStrategy[Message]] = {
    "EiCreateTender": st.builds(
        EiCreateTender, identifiers, _party, _party, tenders, optional_identifiers
    ),
    "EiCreatedTender": st.builds(
        EiCreatedTender, ei_responses, _party, _party, identifiers, optional_identifiers
    ),
    "EiCancelTender": st.builds(
        EiCancelTender,
        identifiers,
        _party,
        _party,
        identifiers,
        optional_identifiers,
        st.none() | st.integers(0, LONG_MAX),
    ),
    "EiCanceledTender": st.builds(
        EiCanceledTender,
        ei_responses,
        _party,
        _party,
        identifiers,
        st.sampled_from(CancelReason),
        st.integers(0, LONG_MAX),
        st.booleans(),
        optional_identifiers,
    ),
    "EiCreateTransaction": st.builds(
        EiCreateTransaction, identifiers, _party, _party, transactions, optional_identifiers
    ),
    "EiCreatedTransaction": st.builds(
        EiCreatedTransaction, ei_responses, _party, _party, identifiers, optional_identifiers
    ),
    "EiRequestPosition": st.builds(
        EiRequestPosition,
        identifiers,
        _party,
        _party,
        intervals,
        optional_identifiers,
        st.sampled_from(ResourceDesignator),
    ),
    "EiReplyPosition": st.builds(
        EiReplyPosition,
        ei_responses,
        _party,
        st.lists(position_intervals, max_size=4).map(tuple),
        scales,
    ),
    "EiCreateRfq": st.builds(EiCreateRfq, identifiers, _party, rfqs),
    "EiCreateQuote": st.builds(EiCreateQuote, identifiers, _party, quotes),
    "EiAcceptQuote": st.builds(
        EiAcceptQuote, identifiers, _party, _party, identifiers, positive_quantities, longs
    ),
    "EiRejectQuote": st.builds(EiRejectQuote, identifiers, _party, identifiers, free_text),
    "EiCancelQuote": st.builds(EiCancelQuote, identifiers, _party, identifiers),
    "EiResponse": ei_responses,
}
messages: st.SearchStrategy[Message] = st.one_of(*MESSAGE_STRATEGIES.values())
