"""Every CTS message survives encode/decode and dumps/loads unchanged."""

import json
import typing
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osed.codec import cts
from osed.domain.cts import (
    EiCreateTender,
    EiResponse,
    IntervalDetail,
    Message,
    Side,
    StreamDetail,
    StreamInterval,
    Tender,
)
from osed.domain.time import Interval
from tests.strategies import MESSAGE_STRATEGIES

START = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_every_message_type_has_a_codec_and_a_strategy() -> None:
    class_names = {kind.__name__ for kind in typing.get_args(Message)}
    assert set(cts.MESSAGE_TYPES) == class_names
    assert set(MESSAGE_STRATEGIES) == class_names


@pytest.mark.parametrize("message_type", sorted(MESSAGE_STRATEGIES))
@given(data=st.data())
def test_round_trip(message_type: str, data: st.DataObject) -> None:
    message = data.draw(MESSAGE_STRATEGIES[message_type])
    wire = cts.encode(message)
    assert wire["messageType"] == message_type
    assert cts.decode(wire) == message
    assert cts.loads(cts.dumps(message)) == message
    assert cts.loads(cts.dumps(message).decode()) == message


@given(data=st.data())
def test_encoding_is_plain_json(data: st.DataObject) -> None:
    message = data.draw(st.one_of(*MESSAGE_STRATEGIES.values()))
    wire = cts.encode(message)
    assert json.loads(json.dumps(wire)) == wire  # only dicts, lists, str, int, bool
    text = cts.dumps(message)
    assert text.isascii()


def test_dumps_is_compact() -> None:
    response = EiResponse(200, "req-1", START)
    assert cts.dumps(response) == (
        b'{"messageType":"EiResponse","responseCode":200,"responseDescription":"",'
        b'"refId":"req-1","responseTermsViolated":[],"createdDateTime":"2026-03-01T12:00:00Z"}'
    )


def test_omitted_optional_fields_take_the_domain_defaults() -> None:
    wire = {
        "messageType": "EiCreateTender",
        "requestId": "r",
        "partyId": "a",
        "counterPartyId": "b",
        "tender": {
            "tenderId": "t",
            "side": "SELL",
            "tenderDetail": {
                "interval": {
                    "interval": {"dtStart": "2026-03-01T12:00:00Z", "duration": "PT1H"},
                    "price": -5,
                    "quantity": 1,
                }
            },
            "priceScale": 0,
            "quantityScale": 0,
            "currency": "USD",
        },
    }
    detail = IntervalDetail(Interval(START, timedelta(hours=1)), -5, 1)
    expected = EiCreateTender("r", "a", "b", Tender("t", Side.SELL, detail))
    assert cts.decode(wire) == expected
    # A nullable field may also be sent as null.
    assert cts.decode({**wire, "marketId": None}) == expected


def test_response_defaults_and_fractional_seconds() -> None:
    message = cts.decode(
        {
            "messageType": "EiResponse",
            "responseCode": 404,
            "refId": "req-9",
            "createdDateTime": "2026-03-01T12:00:00.250000Z",
        }
    )
    assert message == EiResponse(404, "req-9", START + timedelta(milliseconds=250))


def test_stream_tender_round_trips_with_zero_quantity_intervals() -> None:
    stream = StreamDetail(
        START,
        timedelta(minutes=15),
        (StreamInterval(1, 100, 0), StreamInterval(2, 110, 7), StreamInterval(3, 120, 0)),
    )
    message = EiCreateTender("r", "a", "b", Tender("t", Side.BUY, stream, currency="EUR"))
    wire = cts.encode(message)
    assert wire["tender"]["tenderDetail"]["stream"]["intervalDuration"] == "PT15M"  # type: ignore[index]
    assert cts.decode(wire) == message
