"""ISO 8601 on the wire: UTC instants written with ``Z`` and day/time durations (PnDTnHnMnS).

Only one spelling of each value is accepted, so that equal messages serialise to equal bytes.
Years, months and weeks are refused: they have no fixed length in seconds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from osed.codec._reader import BadValueError, json_type
from osed.domain.time import require_aware

_INSTANT = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?(.*)"
)
_DURATION = re.compile(
    r"(-)?P(?:([0-9]+)D)?(?:(T)(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9]+)(?:\.([0-9]{1,6}))?S)?)?"
)
_CALENDAR_DURATION = re.compile(r"-?P[0-9]*[YMW].*")
_MICROS_PER = {"D": 86_400_000_000, "H": 3_600_000_000, "M": 60_000_000, "S": 1_000_000}
_ONE_MICROSECOND = timedelta(microseconds=1)


def format_instant(value: datetime) -> str:
    """``2026-03-01T12:00:00Z``, with six fractional digits only when there are microseconds."""
    utc = require_aware(value).astimezone(UTC)
    text = (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    )
    return f"{text}.{utc.microsecond:06d}Z" if utc.microsecond else f"{text}Z"


def parse_instant(value: object) -> datetime:
    if not isinstance(value, str):
        raise BadValueError("wrong_type", f"must be a date-time string, not {json_type(value)}")
    match = _INSTANT.fullmatch(value)
    if match is None:
        raise BadValueError("bad_datetime", "must look like 2026-03-01T12:00:00Z")
    *fields, fraction, zone = match.groups()
    if zone == "":
        raise BadValueError("naive_datetime", "has no time zone; write UTC with a trailing Z")
    if zone != "Z":
        raise BadValueError("bad_datetime", "must be UTC, written with a trailing Z")
    year, month, day, hour, minute, second = map(int, fields)
    micros = int((fraction or "0").ljust(6, "0"))
    try:
        return datetime(year, month, day, hour, minute, second, micros, tzinfo=UTC)
    except ValueError as error:  # e.g. month 13 or 23:59:60
        raise BadValueError("bad_datetime", f"is not a valid date-time: {error}") from None


def format_duration(value: timedelta) -> str:
    """The canonical form: ``PT15M``, ``P1DT12H``, ``PT0.5S``, ``PT0S``; negative with ``-``."""
    if value < timedelta(0):
        return "-" + format_duration(-value)
    rest = value // _ONE_MICROSECOND
    days, rest = divmod(rest, _MICROS_PER["D"])
    hours, rest = divmod(rest, _MICROS_PER["H"])
    minutes, rest = divmod(rest, _MICROS_PER["M"])
    seconds, micros = divmod(rest, _MICROS_PER["S"])
    time = f"{hours}H" * bool(hours) + f"{minutes}M" * bool(minutes)
    if seconds or micros:
        time += f"{seconds}.{micros:06d}".rstrip("0").rstrip(".") + "S"
    if not days and not time:
        return "PT0S"
    return "P" + f"{days}D" * bool(days) + ("T" + time if time else "")


def parse_duration(value: object) -> timedelta:
    if not isinstance(value, str):
        raise BadValueError("wrong_type", f"must be a duration string, not {json_type(value)}")
    match = _DURATION.fullmatch(value)
    if match is None:
        if _CALENDAR_DURATION.fullmatch(value):
            raise BadValueError(
                "bad_duration", "years, months and weeks have no fixed length; use days"
            )
        raise BadValueError(
            "bad_duration", "must look like PT15M or P1DT2H (ISO 8601 day/time subset)"
        )
    sign, days, time_marker, hours, minutes, seconds, fraction = match.groups()
    no_time = hours is None and minutes is None and seconds is None
    if no_time and (days is None or time_marker):  # "P", "PT" and "P1DT" name nothing
        raise BadValueError("bad_duration", "names no days, hours, minutes or seconds")
    micros = int((fraction or "0").ljust(6, "0"))
    try:  # int() refuses numbers of thousands of digits, timedelta beyond 999999999 days
        for count, unit in ((days, "D"), (hours, "H"), (minutes, "M"), (seconds, "S")):
            micros += int(count or "0") * _MICROS_PER[unit]
        result = timedelta(microseconds=micros)
    except (ValueError, OverflowError):
        raise BadValueError("bad_duration", "is too long to represent") from None
    return -result if sign else result
