"""The time-series storage port: measured and forecast values, batched and idempotent.

A point is one belief about one series at one instant: what ``source`` believed at
``belief_time`` the value at ``event_time`` was (a meter reading's belief time is when it was
received; a forecast's, when it was made). The idempotency key is

    (series_id, event_time, source, belief_time)

so writing the same point twice stores it once (the first write wins), while a later belief of
the same source about the same instant, e.g. a revised forecast, is a new point. A series has
one unit, fixed by its first point.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from osed.domain.errors import Problem, ValidationError
from osed.ports.ledger import check_id


class Quality(StrEnum):
    GOOD = "good"
    SUSPECT = "suspect"  # plausible but flagged, e.g. interpolated or out of the usual range
    BAD = "bad"  # known wrong, kept so the gap is visible


@dataclass(frozen=True, slots=True)
class TimeSeriesPoint:
    series_id: str
    event_time: datetime
    value: float
    unit: str
    belief_time: datetime
    source: str
    quality: Quality = Quality.GOOD


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    series_id: str
    unit: str


class Aggregate(StrEnum):
    """How the points in one bucket become one value."""

    MEAN = "mean"
    MIN = "min"
    MAX = "max"
    SUM = "sum"
    LAST = "last"  # the value at the bucket's latest event time (the greatest source at a tie)
    COUNT = "count"


@dataclass(frozen=True, slots=True)
class Bucket:
    """One aggregated bucket ``[start, start + every)``: its value and how many points made it."""

    start: datetime
    value: float
    count: int


class TimeSeriesStore(Protocol):
    def write(self, points: Sequence[TimeSeriesPoint]) -> int:
        """Store ``points`` in one atomic step and return how many were new (the rest were
        already stored under the same key). On any problem nothing is written: a bad point
        raises :class:`ValidationError` naming every problem (``$[3].unit``), and so does a
        unit differing from the one the series was recorded in."""
        ...

    def read(
        self,
        series_id: str,
        start: datetime,
        end: datetime,
        *,
        latest_belief: bool = True,
        as_of: datetime | None = None,
    ) -> list[TimeSeriesPoint]:
        """Points of the series with ``start <= event_time < end``, ordered by event time,
        source, belief time. With ``latest_belief`` only each source's latest belief per event
        time; with ``as_of`` only beliefs held then (``belief_time <= as_of``)."""
        ...

    def aggregate(
        self,
        series_id: str,
        start: datetime,
        end: datetime,
        every: timedelta,
        function: Aggregate,
        *,
        as_of: datetime | None = None,
    ) -> list[Bucket]:
        """The series in buckets ``[start + k·every, start + (k+1)·every)`` over
        ``start <= event_time < end``, in time order, each bucket that holds a point once. It
        aggregates what :meth:`read` returns (each source's latest belief per event time, held
        at ``as_of``) without the points of quality bad. ``every`` is whole microseconds > 0.
        A sum or mean beyond the float range raises :class:`ValidationError`.
        """
        ...

    def series(self) -> list[SeriesInfo]:
        """Every series with its unit, ordered by id."""
        ...

    def close(self) -> None: ...


def checked_points(points: Sequence[TimeSeriesPoint]) -> list[TimeSeriesPoint]:
    """Check a batch for writing; return it with qualities as :class:`Quality` members.

    Raises :class:`ValidationError` naming every problem; nothing must be written then.
    """
    problems: list[Problem] = []
    units: dict[str, str] = {}
    checked: list[TimeSeriesPoint] = []
    texts_seen: set[tuple[str, str, str]] = set()
    for index, point in enumerate(points):
        if not _plainly_valid(point, texts_seen):
            found = len(problems)
            _point_problems(point, f"$[{index}]", problems)
            if len(problems) > found:
                continue
        quality = point.quality if type(point.quality) is Quality else Quality(point.quality)
        unit = units.setdefault(point.series_id, point.unit)
        if unit != point.unit:
            problems.append(
                Problem(
                    f"$[{index}].unit",
                    "unit_mismatch",
                    f"series {point.series_id!r} is in {unit!r} earlier in this batch",
                )
            )
        unchanged = quality is point.quality and type(point.value) is float
        checked.append(point if unchanged else _with_quality(point, quality))
    if problems:
        raise ValidationError(problems, subject="time-series points")
    return checked


def first_of_each_key(points: list[TimeSeriesPoint]) -> list[TimeSeriesPoint]:
    """The batch without repeats of a key: the first point under a key wins, in a batch as
    across batches, whatever order a backend then inserts in."""
    firsts: dict[tuple[str, datetime, str, datetime], TimeSeriesPoint] = {}
    for point in points:
        firsts.setdefault(
            (point.series_id, point.event_time, point.source, point.belief_time), point
        )
    return points if len(firsts) == len(points) else list(firsts.values())


def check_recorded_units(points: Sequence[TimeSeriesPoint], recorded: Mapping[str, str]) -> None:
    """Every point must be in the unit its series was first recorded in (``recorded``)."""
    problems = [
        Problem(
            f"$[{index}].unit",
            "unit_mismatch",
            f"series {point.series_id!r} is recorded in {recorded[point.series_id]!r}",
        )
        for index, point in enumerate(points)
        if point.unit != recorded[point.series_id]
    ]
    if problems:
        raise ValidationError(problems, subject="time-series points")


def check_range(start: datetime, end: datetime, as_of: datetime | None) -> None:
    """The arguments of :meth:`TimeSeriesStore.read` must be timezone-aware instants."""
    problems: list[Problem] = []
    for name, value in (("start", start), ("end", end), ("as_of", as_of)):
        if value is not None and not _aware(value):
            problems.append(Problem(f"$.{name}", "naive_datetime", "needs a timezone"))
    if problems:
        raise ValidationError(problems, subject="time-series query")


def check_aggregate(
    start: datetime, end: datetime, every: timedelta, function: Aggregate, as_of: datetime | None
) -> int:
    """The arguments of :meth:`TimeSeriesStore.aggregate`; the bucket width in microseconds."""
    problems: list[Problem] = []
    try:
        check_range(start, end, as_of)
    except ValidationError as exc:
        problems += exc.problems
    width, rest = divmod(every, timedelta(microseconds=1))
    if width <= 0 or rest:
        problems.append(
            Problem("$.every", "bad_every", "must be a positive whole number of microseconds")
        )
    if not isinstance(function, str) or function not in _AGGREGATES:
        names = ", ".join(_AGGREGATES)
        problems.append(Problem("$.function", "bad_aggregate", f"must be one of {names}"))
    if problems:
        raise ValidationError(problems, subject="time-series query")
    return int(width)


def finite_buckets(buckets: list[Bucket], function: Aggregate) -> list[Bucket]:
    """``buckets`` if every value is finite; else ValidationError naming each overflow."""
    problems = [
        Problem(
            "$.function",
            "overflow",
            f"the {function} of the bucket at {bucket.start.isoformat()} is beyond the float range",
        )
        for bucket in buckets
        if not math.isfinite(bucket.value)
    ]
    if problems:
        raise ValidationError(problems, subject="time-series query")
    return buckets


def _plainly_valid(point: TimeSeriesPoint, texts_seen: set[tuple[str, str, str]]) -> bool:
    """The hot path: a point of the usual shape, checked with as few operations as possible.
    ``texts_seen``: (series, unit, source) found valid earlier in the batch, checked once."""
    try:
        if not (
            type(point) is TimeSeriesPoint
            and type(point.value) is float
            and math.isfinite(point.value)
            and type(point.quality) is Quality
        ):
            return False
        texts = (point.series_id, point.unit, point.source)
        if texts not in texts_seen:
            if not (
                point.series_id.isprintable()
                and point.unit.isprintable()
                and point.source.isprintable()
                and point.series_id != ""
                and point.unit != ""
                and point.source != ""
            ):
                return False
            texts_seen.add(texts)
        event, belief = point.event_time, point.belief_time
        return event.utcoffset() is not None and (belief is event or belief.utcoffset() is not None)
    except (AttributeError, TypeError):
        return False


def _point_problems(point: object, path: str, problems: list[Problem]) -> None:
    """The slow path: say exactly what is wrong with one point."""
    if not isinstance(point, TimeSeriesPoint):
        problems.append(Problem(path, "not_a_point", "must be a TimeSeriesPoint"))
        return
    for name in ("series_id", "unit", "source"):
        check_id(getattr(point, name), f"{path}.{name}", problems)
    for name in ("event_time", "belief_time"):
        if not _aware(getattr(point, name)):
            problems.append(
                Problem(f"{path}.{name}", "naive_datetime", "must be a datetime with a timezone")
            )
    value = point.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(Problem(f"{path}.value", "not_a_number", "must be a float"))
    elif not _finite(value):
        problems.append(
            Problem(f"{path}.value", "not_finite", "must be finite; mark a gap with quality bad")
        )
    if not isinstance(point.quality, str) or point.quality not in _QUALITIES:
        problems.append(Problem(f"{path}.quality", "bad_quality", "must be good, suspect or bad"))


def _with_quality(point: TimeSeriesPoint, quality: Quality) -> TimeSeriesPoint:
    value = float(point.value)  # an int is accepted and stored as the float it equals
    return TimeSeriesPoint(
        point.series_id,
        point.event_time,
        value,
        point.unit,
        point.belief_time,
        point.source,
        quality,
    )


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond the float range
        return False


def _aware(value: object) -> bool:
    return isinstance(value, datetime) and value.utcoffset() is not None


_QUALITIES = frozenset(quality.value for quality in Quality)
_AGGREGATES = tuple(function.value for function in Aggregate)
