"""Timezone-aware time values: instants, intervals, resolutions, and the injected clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Protocol

from osed.domain.errors import Problem, ValidationError


def require_aware(value: datetime, *, path: str = "$") -> datetime:
    """Return ``value`` in UTC; a naive datetime is rejected, never guessed."""
    if value.tzinfo is UTC:  # the common case, and the cheapest check of all
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError([Problem(path, "naive_datetime", "datetime has no timezone")])
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True, order=True)
class Interval:
    """A half-open delivery interval [start, start + duration), start in UTC."""

    start: datetime
    duration: timedelta

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", require_aware(self.start, path="$.dtStart"))
        if self.duration <= timedelta(0):
            raise ValidationError(
                [Problem("$.duration", "non_positive_duration", "duration must be positive")]
            )

    @property
    def end(self) -> datetime:
        return self.start + self.duration

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end

    def contains(self, other: Interval) -> bool:
        return self.start <= other.start and other.end <= self.end

    def split(self, resolution: timedelta) -> Iterator[Interval]:
        """Consecutive intervals of ``resolution``; the duration must be a whole multiple."""
        count, rest = divmod(self.duration, resolution)
        if rest or count < 1:
            raise ValidationError(
                [
                    Problem(
                        "$.duration",
                        "not_a_multiple",
                        f"duration {self.duration} is not a whole multiple of {resolution}",
                    )
                ]
            )
        for k in range(count):
            yield Interval(self.start + k * resolution, resolution)

    def key(self) -> str:
        """A stable text key, ``<ISO start>/<seconds>``, used to name per-interval instruments."""
        return _interval_key(self.start, self.duration)


@lru_cache(maxsize=4096)
def _interval_key(start: datetime, duration: timedelta) -> str:
    # Remembered: a market names an instrument for every tender, mostly the same few.
    return f"{start.strftime('%Y-%m-%dT%H:%M:%SZ')}/{int(duration.total_seconds())}"


class Clock(Protocol):
    """The only source of "now": production uses :class:`SystemClock`, tests a fixed one."""

    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told; for tests and simulation."""

    def __init__(self, start: datetime) -> None:
        self._now = require_aware(start)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, value: datetime) -> None:
        self._now = require_aware(value)
