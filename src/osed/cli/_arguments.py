"""Checks of command-line option values that collect every problem, named by its option."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from osed.codec._iso import parse_duration
from osed.codec._reader import BadValueError
from osed.domain.problems import Problems

_NAME = re.compile(r"[^/+#\s\x00-\x1f]+")
_DURATION = re.compile(r"(\d+)\s*(us|ms|s|sec|min|m|h|d)")
_DURATION_UNITS = {
    "us": timedelta(microseconds=1),
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "sec": timedelta(seconds=1),
    "min": timedelta(minutes=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
}


def instant(value: str, option: str, problems: Problems) -> datetime | None:
    """An ISO 8601 date-time with a time zone (``2026-07-01T10:00Z``, ``…+02:00``), in UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        problems.add(option, "bad_datetime", f"{value!r} is not an ISO 8601 date-time")
        return None
    if parsed.utcoffset() is None:
        problems.add(option, "naive_datetime", f"{value!r} has no time zone; add Z or +hh:mm")
        return None
    return parsed.astimezone(UTC)


def duration(value: str, option: str, problems: Problems) -> timedelta | None:
    """A positive duration such as ``15min``, ``1h``, ``30s``, ``1d`` or ISO 8601 ``PT15M``."""
    match = _DURATION.fullmatch(value.strip())
    if match is not None:
        amount = int(match.group(1)) * _DURATION_UNITS[match.group(2)]
    else:
        try:
            amount = parse_duration(value.strip())
        except BadValueError:
            problems.add(option, "bad_duration", f"{value!r} is not like 15min, 1h, 1d or PT15M")
            return None
    if amount <= timedelta(0):
        problems.add(option, "bad_duration", "must be longer than zero")
        return None
    return amount


def scaled(value: str, scale: int, option: str, problems: Problems) -> int | None:
    """A positive decimal number as an integer of ``10**-scale`` units, exactly."""
    try:
        number = Decimal(value)
    except InvalidOperation:
        problems.add(option, "not_a_number", f"{value!r} is not a number")
        return None
    if not number.is_finite() or number <= 0:
        problems.add(option, "not_positive", "must be a finite number above zero")
        return None
    units = number.scaleb(scale)
    if units != units.to_integral_value():
        problems.add(option, "too_precise", f"{value} has more than {scale} decimal places")
        return None
    return int(units)


def name(value: str, option: str, problems: Problems) -> str | None:
    """An identifier that can be a topic level: not empty, no ``/``, ``+``, ``#`` or space."""
    if _NAME.fullmatch(value) is None:
        problems.add(option, "bad_name", f"{value!r}: needs a name without / + # or spaces")
        return None
    return value
