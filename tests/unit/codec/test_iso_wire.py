"""ISO 8601 instants and durations as the CTS wire writes and reads them."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osed.codec._iso import format_duration, format_instant, parse_duration, parse_instant
from osed.codec._reader import BadValueError
from osed.domain.errors import ValidationError
from tests.strategies import utc_datetimes


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("PT15M", timedelta(minutes=15)),
        ("PT1H", timedelta(hours=1)),
        ("P1D", timedelta(days=1)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("PT1H30M5S", timedelta(hours=1, minutes=30, seconds=5)),
        ("PT0.5S", timedelta(milliseconds=500)),
        ("PT0.000001S", timedelta(microseconds=1)),
        ("PT0S", timedelta(0)),
        ("-PT15M", -timedelta(minutes=15)),
    ],
)
def test_canonical_durations(text: str, value: timedelta) -> None:
    assert parse_duration(text) == value
    assert format_duration(value) == text


@pytest.mark.parametrize(
    ("text", "value"),
    [("PT90M", timedelta(minutes=90)), ("PT36H", timedelta(hours=36)), ("P0D", timedelta(0))],
)
def test_non_canonical_durations_are_read(text: str, value: timedelta) -> None:
    assert parse_duration(text) == value


@pytest.mark.parametrize(
    "text",
    ["", "P", "PT", "P1DT", "P1Y", "P1M", "P1W", "P1Y2M", "PT1.5M", "PT0.0000001S", "pt15m",
     "PT15m", "15M", "PT-1M", "P1DT1H ", "+PT1M", "PT1,5S", "P٣D"],
)  # fmt: skip
def test_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(BadValueError) as info:
        parse_duration(text)
    assert info.value.code == "bad_duration"


@given(st.timedeltas())
def test_every_timedelta_survives_the_wire(value: timedelta) -> None:
    assert parse_duration(format_duration(value)) == value


@given(utc_datetimes)
def test_every_utc_datetime_survives_the_wire(value: datetime) -> None:
    text = format_instant(value)
    assert text.endswith("Z")
    assert parse_instant(text) == value


def test_instants_are_written_in_utc() -> None:
    paris = timezone(timedelta(hours=1))
    assert format_instant(datetime(2026, 3, 1, 13, tzinfo=paris)) == "2026-03-01T12:00:00Z"
    assert format_instant(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00Z"
    assert format_instant(datetime(2026, 3, 1, 12, 0, 0, 1500, tzinfo=UTC)) == (
        "2026-03-01T12:00:00.001500Z"
    )


def test_a_naive_datetime_cannot_be_written() -> None:
    with pytest.raises(ValidationError, match="naive_datetime"):
        format_instant(datetime(2026, 3, 1))  # noqa: DTZ001


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("2026-03-01T12:00:00", "naive_datetime"),
        ("2026-03-01T12:00:00+00:00", "bad_datetime"),
        ("2026-03-01T12:00:00z", "bad_datetime"),
        ("2026-03-01t12:00:00Z", "bad_datetime"),
        ("2026-03-01", "bad_datetime"),
        ("2026-02-30T12:00:00Z", "bad_datetime"),
        ("2026-03-01T24:00:00Z", "bad_datetime"),
        ("2026-03-01T23:59:60Z", "bad_datetime"),
        ("0000-01-01T00:00:00Z", "bad_datetime"),
        ("2026-03-01T12:00:00.1234567Z", "bad_datetime"),
        ("２０２６-03-01T12:00:00Z", "bad_datetime"),
    ],
)
def test_malformed_instants_are_refused(text: str, code: str) -> None:
    with pytest.raises(BadValueError) as info:
        parse_instant(text)
    assert info.value.code == code


def test_fractional_seconds_may_be_short() -> None:
    assert parse_instant("2026-03-01T12:00:00.5Z") == datetime(2026, 3, 1, 12, 0, 0, 500_000, UTC)
