"""Malformed CTS messages are rejected with every problem, its JSON path and a stable code."""

from datetime import UTC, datetime, timedelta

import pytest

from osed.codec import cts
from osed.domain.cts import (
    EiCreateTender,
    IntervalDetail,
    Side,
    StreamDetail,
    StreamInterval,
    Tender,
)
from osed.domain.errors import ValidationError
from osed.domain.time import Interval

START = datetime(2026, 3, 1, 12, tzinfo=UTC)
TENDER = Tender(
    "t-1",
    Side.BUY,
    IntervalDetail(Interval(START, timedelta(minutes=15)), price=2150, quantity=5000),
    price_scale=4,
    quantity_scale=3,
    expiration_time=START - timedelta(minutes=15),
)
STREAM_TENDER = Tender(
    "t-2",
    Side.SELL,
    StreamDetail(START, timedelta(minutes=5), (StreamInterval(1, 10, 3), StreamInterval(2, 11, 4))),
)

Wire = dict[str, object]


def create_tender(tender: Tender = TENDER) -> Wire:
    return cts.encode(EiCreateTender("req-1", "party-a", "lme", tender))


def problems_of(value: object) -> set[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        cts.decode(value)
    assert info.value.subject == "CTS message"
    assert all(problem.message for problem in info.value.problems)
    return {(problem.path, problem.code) for problem in info.value.problems}


def test_every_problem_of_a_message_is_reported_at_once() -> None:
    wire = create_tender()
    tender: Wire = wire["tender"]  # type: ignore[assignment]
    interval_detail = tender["tenderDetail"]["interval"]  # type: ignore[index]
    del wire["partyId"]
    wire["counterPartyId"] = ""
    wire["priority"] = "high"
    tender["side"] = "HOLD"
    tender["priceScale"] = 2.0
    tender["quantityScale"] = 19
    tender["currency"] = "eur"
    tender["allOrNone"] = "yes"
    tender["expirationTime"] = "2026-03-01T11:45:00"
    interval_detail["price"] = "2150"
    interval_detail["quantity"] = 0
    interval_detail["interval"]["dtStart"] = "2026-03-01T12:00:00+01:00"
    interval_detail["interval"]["duration"] = "P1M"

    assert problems_of(wire) == {
        ("$.partyId", "missing_field"),
        ("$.counterPartyId", "bad_id"),
        ("$.priority", "unknown_field"),
        ("$.tender.side", "bad_enum"),
        ("$.tender.priceScale", "not_integer"),
        ("$.tender.quantityScale", "out_of_range"),
        ("$.tender.currency", "bad_currency"),
        ("$.tender.allOrNone", "wrong_type"),
        ("$.tender.expirationTime", "naive_datetime"),
        ("$.tender.tenderDetail.interval.price", "not_integer"),
        ("$.tender.tenderDetail.interval.quantity", "non_positive_quantity"),
        ("$.tender.tenderDetail.interval.interval.dtStart", "bad_datetime"),
        ("$.tender.tenderDetail.interval.interval.duration", "bad_duration"),
    }


def test_problems_in_array_items_carry_their_index() -> None:
    wire = create_tender(STREAM_TENDER)
    stream = wire["tender"]["tenderDetail"]["stream"]  # type: ignore[index]
    stream["streamIntervals"][0]["quantity"] = -1
    stream["streamIntervals"][1]["streamUid"] = 1
    stream["streamIntervals"].append("not an object")
    stream["intervalDuration"] = "PT0S"
    base = "$.tender.tenderDetail.stream"
    assert problems_of(wire) == {
        (f"{base}.streamIntervals[0].quantity", "negative_quantity"),
        (f"{base}.streamIntervals[1].streamUid", "duplicate_uid"),
        (f"{base}.streamIntervals[2]", "wrong_type"),
        (f"{base}.intervalDuration", "non_positive_duration"),
    }


DROP = object()
INTERVAL = "tender.tenderDetail.interval.interval"
STREAM = "tender.tenderDetail.stream"
SINGLE_PROBLEMS = [
    # (where, new value or DROP, code); the problem is reported where the change was made
    ("tender.priceScale", True, "not_integer"),
    ("tender.priceScale", "4", "not_integer"),
    ("tender.priceScale", -19, "out_of_range"),
    ("tender.tenderDetail.interval.price", 2**63, "out_of_range"),
    ("tender.tenderDetail.interval.quantity", -3, "non_positive_quantity"),
    ("requestId", "x" * 129, "bad_id"),
    ("requestId", "a\nb", "bad_id"),
    ("requestId", 7, "wrong_type"),
    ("requestId", None, "wrong_type"),
    ("tender.currency", "EURO", "bad_currency"),
    ("tender.currency", "USD\n", "bad_currency"),
    ("tender.resourceDesignator", "energy", "bad_enum"),
    ("tender.side", 1, "wrong_type"),
    ("tender.tenderDetail", [], "wrong_type"),
    ("tender.tenderDetail", {}, "missing_field"),
    (f"{INTERVAL}.dtStart", "2026-13-01T00:00:00Z", "bad_datetime"),
    (f"{INTERVAL}.dtStart", "2026-03-01 12:00:00Z", "bad_datetime"),
    (f"{INTERVAL}.dtStart", 1767268800, "wrong_type"),
    (f"{INTERVAL}.dtStart", DROP, "missing_field"),
    (f"{INTERVAL}.dtEnd", "2026-03-01T12:15:00Z", "unknown_field"),
    (f"{INTERVAL}.duration", "-PT15M", "non_positive_duration"),
    (f"{INTERVAL}.duration", "P1W", "bad_duration"),
    (f"{INTERVAL}.duration", "PT", "bad_duration"),
    (f"{INTERVAL}.duration", "P" + "9" * 5000 + "D", "bad_duration"),
    (f"{STREAM}.streamIntervals", [], "empty"),
    (f"{STREAM}.streamIntervals", {}, "wrong_type"),
    (f"{STREAM}.streamIntervals.1.price", 1.5, "not_integer"),
    (f"{STREAM}.intervalDuration", "P999999999D", "out_of_range"),
    ("messageType", "EiCreateTenderX", "unknown_message_type"),
    ("messageType", None, "wrong_type"),
    ("messageType", DROP, "missing_field"),
]


def changed(where: str, value: object) -> tuple[Wire, str]:
    """A valid EiCreateTender with one change at ``where``, and the JSON path of that place."""
    wire = create_tender(STREAM_TENDER if where.startswith(STREAM) else TENDER)
    keys: list[str | int] = [int(k) if k.isdigit() else k for k in where.split(".")]
    target: object = wire
    for key in keys[:-1]:
        target = target[key]  # type: ignore[index]
    if value is DROP:
        del target[keys[-1]]  # type: ignore[attr-defined]
    else:
        target[keys[-1]] = value  # type: ignore[index]
    path = "$" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in keys)
    return wire, path


@pytest.mark.parametrize(("where", "value", "code"), SINGLE_PROBLEMS)
def test_a_single_problem_is_reported_where_it_is(where: str, value: object, code: str) -> None:
    wire, path = changed(where, value)
    assert problems_of(wire) == {(path, code)}


@pytest.mark.parametrize(
    ("where", "value", "path", "code"),
    [
        (f"{INTERVAL}.dtStart", "9999-12-31T23:59:00Z", f"$.{INTERVAL}.duration", "out_of_range"),
        ("tender.odd key", 1, '$.tender["odd key"]', "unknown_field"),
    ],
)
def test_a_problem_reported_elsewhere(where: str, value: object, path: str, code: str) -> None:
    wire, _ = changed(where, value)
    assert problems_of(wire) == {(path, code)}


def test_a_tender_detail_is_an_interval_or_a_stream_never_both() -> None:
    wire = create_tender()
    wire["tender"]["tenderDetail"]["stream"] = {}  # type: ignore[index]
    assert problems_of(wire) == {("$.tender.tenderDetail", "ambiguous_choice")}


def test_a_stream_interval_may_trade_nothing() -> None:
    wire, _ = changed(f"{STREAM}.streamIntervals.0.quantity", 0)
    assert isinstance(cts.decode(wire), EiCreateTender)


def test_a_stream_of_zero_quantities_is_refused() -> None:
    wire = create_tender(STREAM_TENDER)
    for part in wire["tender"]["tenderDetail"]["stream"]["streamIntervals"]:  # type: ignore[index]
        part["quantity"] = 0
    path = "$.tender.tenderDetail.stream.streamIntervals"
    assert problems_of(wire) == {(path, "non_positive_quantity")}


def test_an_unknown_message_type_stops_before_judging_other_fields() -> None:
    assert problems_of({"messageType": "EiHello", "anything": 1}) == {
        ("$.messageType", "unknown_message_type")
    }


@pytest.mark.parametrize("value", [None, [], "EiCreateTender", 3, 1.5, True])
def test_a_message_must_be_an_object(value: object) -> None:
    assert problems_of(value) == {("$", "wrong_type")}


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "bad_json"),
        (b"{", "bad_json"),
        (b"\xff\xfe\x00", "bad_json"),
        ('{"messageType": NaN}', "bad_json"),
        ('{"a": 1, "a": 2}', "duplicate_key"),
        ("[" * 100_000 + "]" * 100_000, "bad_json"),
        ('{"n": ' + "9" * 5000 + "}", "bad_json"),
    ],
)
def test_loads_reports_malformed_json_at_the_root(data: bytes | str, code: str) -> None:
    with pytest.raises(ValidationError) as info:
        cts.loads(data)
    assert {(p.path, p.code) for p in info.value.problems} == {("$", code)}


def test_the_error_report_serialises() -> None:
    with pytest.raises(ValidationError) as info:
        cts.decode({"messageType": "EiCancelQuote", "requestId": "r", "partyId": "p"})
    assert info.value.to_dict() == {
        "error": "validation",
        "subject": "CTS message",
        "problems": [{"path": "$.quoteId", "code": "missing_field", "message": "is required"}],
    }
