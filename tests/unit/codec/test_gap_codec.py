"""Gap reports on the wire: every valid report (a range of seqs, or the time window of raw
messages a broker may have lost) round-trips; a bad one is refused with every problem and its
path."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osed.codec.gap import (
    MAX_SEQ,
    GapReport,
    decode_gap_report,
    encode_gap_report,
    gap_report_from_json,
    gap_report_to_json,
)
from osed.domain.errors import ValidationError
from tests.strategies import identifiers, utc_datetimes

AT = datetime(2026, 7, 1, 12, 0, 3, 250_000, tzinfo=UTC)
REPORT = GapReport("bridge.meters.0", "field/+", "field.pmu1", 3001, 3517, "unavailable", AT)
WINDOW = GapReport(
    "bridge.pmu.0",
    "bal/raw/#",
    "raw.bal.raw.#",
    None,
    None,
    "session_lost",
    AT,
    lost_from=AT - timedelta(seconds=2, milliseconds=230),
    lost_until=AT - timedelta(milliseconds=940),
)


@st.composite
def gap_reports(draw: st.DrawFn) -> GapReport:
    first = draw(st.integers(1, MAX_SEQ))
    return GapReport(
        consumer=draw(identifiers),
        pattern=draw(identifiers),
        source=draw(identifiers),
        first=first,
        last=draw(st.integers(first, MAX_SEQ)),
        reason=draw(st.sampled_from(["unavailable", "timeout"]) | identifiers),
        detected_at=draw(utc_datetimes),
    )


@st.composite
def window_reports(draw: st.DrawFn) -> GapReport:
    since = draw(utc_datetimes)
    return GapReport(
        consumer=draw(identifiers),
        pattern=draw(identifiers),
        source=draw(identifiers),
        first=None,
        last=None,
        reason=draw(st.just("session_lost") | identifiers),
        detected_at=draw(utc_datetimes),
        lost_from=since,
        lost_until=draw(utc_datetimes.filter(lambda until: until >= since)),
    )


@given(gap_reports() | window_reports())
def test_every_report_round_trips(report: GapReport) -> None:
    assert decode_gap_report(encode_gap_report(report)) == report
    assert gap_report_from_json(gap_report_to_json(report)) == report


def test_the_documented_shape() -> None:
    assert gap_report_to_json(REPORT) == {
        "consumer": "bridge.meters.0",
        "pattern": "field/+",
        "source": "field.pmu1",
        "first": 3001,
        "last": 3517,
        "reason": "unavailable",
        "detectedAt": "2026-07-01T12:00:03.250000Z",
    }


def test_the_documented_shape_of_a_time_window() -> None:
    assert gap_report_to_json(WINDOW) == {
        "consumer": "bridge.pmu.0",
        "pattern": "bal/raw/#",
        "source": "raw.bal.raw.#",
        "lostFrom": "2026-07-01T12:00:01.020000Z",
        "lostUntil": "2026-07-01T12:00:02.310000Z",
        "reason": "session_lost",
        "detectedAt": "2026-07-01T12:00:03.250000Z",
    }
    assert (WINDOW.seqs, REPORT.window) == (None, None)


def test_an_instant_in_another_zone_is_the_same_report() -> None:
    local = AT.astimezone(timezone(timedelta(hours=2)))
    moved = GapReport("c", "p", "s", 1, 1, "timeout", local)
    assert moved.detected_at.tzinfo == UTC
    assert decode_gap_report(encode_gap_report(moved)).detected_at == AT


def problems(document: object) -> set[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        gap_report_from_json(document)
    assert caught.value.subject == "gap report"
    return {(p.path, p.code) for p in caught.value.problems}


def test_every_problem_is_named_with_its_path() -> None:
    document = gap_report_to_json(REPORT) | {
        "consumer": "",
        "first": 0,
        "last": "9",
        "detectedAt": "2026-07-01T12:00:00",
        "extra": 1,
    }
    del document["reason"]
    assert problems(document) == {
        ("$.consumer", "bad_id"),
        ("$.first", "out_of_range"),
        ("$.last", "not_integer"),
        ("$.reason", "missing_field"),
        ("$.detectedAt", "naive_datetime"),
        ("$.extra", "unknown_field"),
    }


def test_a_range_that_ends_before_it_starts_is_refused() -> None:
    assert problems(gap_report_to_json(REPORT) | {"last": 3000}) == {("$.last", "out_of_range")}
    with pytest.raises(ValidationError):
        GapReport("c", "p", "s", 5, 4, "timeout", AT)


@pytest.mark.parametrize("text", [b"", b"{", b"[]", b'"gap"', b"\xff"])
def test_what_is_not_a_json_object_is_refused_at_the_root(text: bytes) -> None:
    with pytest.raises(ValidationError) as caught:
        decode_gap_report(text)
    assert [p.path for p in caught.value.problems] == ["$"]


def test_a_report_names_seqs_or_a_window_not_both_nor_neither() -> None:
    window = gap_report_to_json(WINDOW)
    seqs = {"first": 3001, "last": 3517}
    assert problems(window | seqs) == {("$", "bad_gap")}
    assert problems({k: v for k, v in window.items() if not k.startswith("lost")}) == {
        ("$", "bad_gap")
    }
    assert problems(window | {"lostUntil": None}) == {("$.lostUntil", "missing_field")}
    assert problems(gap_report_to_json(REPORT) | {"last": None}) == {("$.last", "missing_field")}


def test_a_window_that_ends_before_it_starts_is_refused_with_every_problem() -> None:
    backwards = gap_report_to_json(WINDOW) | {"lostUntil": "2026-07-01T12:00:00Z"}
    assert problems(backwards) == {("$.lostUntil", "out_of_range")}
    assert problems(gap_report_to_json(WINDOW) | {"lostFrom": "yesterday", "consumer": 3}) == {
        ("$.lostFrom", "bad_datetime"),
        ("$.consumer", "wrong_type"),
    }
    with pytest.raises(ValidationError):
        GapReport(
            "c",
            "p",
            "s",
            None,
            None,
            "session_lost",
            AT,
            lost_from=AT.replace(tzinfo=None),
            lost_until=AT,
        )
