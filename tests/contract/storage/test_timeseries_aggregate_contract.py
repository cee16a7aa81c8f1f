"""``TimeSeriesStore.aggregate``, run unchanged against every backend (see conftest.py): the
buckets equal the same aggregation done by hand over what ``read`` returns."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osed.domain.errors import ValidationError
from osed.ports.timeseries import Aggregate, Quality, TimeSeriesPoint, TimeSeriesStore
from tests.contract.storage.backends import Backend

T0 = datetime(2026, 7, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
SERIES = "pmu-1/node-1/voltmagnitude/A"


def point(
    minute: float,
    value: float,
    *,
    source: str = "meter",
    belief_minute: float | None = None,
    quality: Quality = Quality.GOOD,
) -> TimeSeriesPoint:
    at = T0 + minute * MINUTE
    belief = at if belief_minute is None else T0 + belief_minute * MINUTE
    return TimeSeriesPoint(SERIES, at, value, "V", belief, source, quality)


def by_hand(
    points: list[TimeSeriesPoint], start: datetime, every: timedelta, function: Aggregate
) -> list[tuple[datetime, float, int]]:
    """The reference: bucket what ``read`` returned, then aggregate each bucket."""
    buckets: dict[int, list[TimeSeriesPoint]] = {}
    for p in points:
        if p.quality is not Quality.BAD:
            buckets.setdefault((p.event_time - start) // every, []).append(p)
    result = []
    for index in sorted(buckets):
        members = buckets[index]
        value = _aggregated(members, function)
        result.append((start + index * every, value, len(members)))
    return result


def _aggregated(members: list[TimeSeriesPoint], function: Aggregate) -> float:
    values = [p.value for p in members]
    if function is Aggregate.MEAN:
        return math.fsum(values) / len(values)
    if function is Aggregate.MIN:
        return min(values)
    if function is Aggregate.MAX:
        return max(values)
    if function is Aggregate.SUM:
        return math.fsum(values)
    if function is Aggregate.COUNT:
        return float(len(values))
    return max(members, key=lambda p: (p.event_time, p.source)).value


def test_buckets_start_at_the_query_start_and_skip_empty_ones(
    timeseries: TimeSeriesStore,
) -> None:
    timeseries.write([point(m, float(m)) for m in (0, 1, 2, 7, 14, 15, 44)])
    start = T0 + 1 * MINUTE
    buckets = timeseries.aggregate(SERIES, start, T0 + 60 * MINUTE, 5 * MINUTE, Aggregate.MEAN)
    assert [(b.start, b.count) for b in buckets] == [
        (T0 + 1 * MINUTE, 2),  # minutes 1 and 2; minute 0 is before the start
        (T0 + 6 * MINUTE, 1),
        (T0 + 11 * MINUTE, 2),  # 14 and 15
        (T0 + 41 * MINUTE, 1),
    ]
    assert [b.value for b in buckets] == pytest.approx([1.5, 7.0, 14.5, 44.0])


def test_last_takes_the_latest_event_then_the_greatest_source(
    timeseries: TimeSeriesStore,
) -> None:
    timeseries.write(
        [point(0, 1.0), point(3, 2.0, source="a"), point(3, 3.0, source="b"), point(2, 9.0)]
    )
    (bucket,) = timeseries.aggregate(SERIES, T0, T0 + 15 * MINUTE, 15 * MINUTE, Aggregate.LAST)
    assert (bucket.value, bucket.count) == (3.0, 4)


def test_only_the_latest_belief_counts_and_bad_points_are_left_out(
    timeseries: TimeSeriesStore,
) -> None:
    timeseries.write(
        [
            point(0, 100.0, belief_minute=0),
            point(0, 1.0, belief_minute=5),  # revises the first
            point(1, 2.0),
            point(2, 1e6, quality=Quality.BAD),
            point(3, 4.0, quality=Quality.SUSPECT),
        ]
    )
    (bucket,) = timeseries.aggregate(SERIES, T0, T0 + MINUTE * 10, MINUTE * 10, Aggregate.SUM)
    assert bucket.value == pytest.approx(7.0)
    assert bucket.count == 3
    (then,) = timeseries.aggregate(
        SERIES, T0, T0 + MINUTE * 10, MINUTE * 10, Aggregate.MAX, as_of=T0 + 4 * MINUTE
    )
    assert then.value == pytest.approx(100.0)  # as believed before the revision


def test_an_unknown_series_and_an_empty_range_have_no_buckets(
    timeseries: TimeSeriesStore,
) -> None:
    timeseries.write([point(0, 1.0)])
    assert timeseries.aggregate("nothing", T0, T0 + MINUTE, MINUTE, Aggregate.COUNT) == []
    assert timeseries.aggregate(SERIES, T0 + MINUTE, T0 + 2 * MINUTE, MINUTE, Aggregate.MIN) == []


def test_bad_arguments_are_named_together(timeseries: TimeSeriesStore) -> None:
    with pytest.raises(ValidationError) as caught:
        timeseries.aggregate(
            SERIES,
            datetime(2026, 7, 1),  # noqa: DTZ001 - naive on purpose
            T0,
            timedelta(0),
            "median",  # type: ignore[arg-type]
        )
    assert {p.path for p in caught.value.problems} == {"$.start", "$.every", "$.function"}


def test_a_sum_beyond_the_float_range_is_refused(timeseries: TimeSeriesStore) -> None:
    timeseries.write([point(0, 1.7e308), point(1, 1.7e308)])
    with pytest.raises(ValidationError):
        timeseries.aggregate(SERIES, T0, T0 + MINUTE * 5, MINUTE * 5, Aggregate.SUM)
    (largest,) = timeseries.aggregate(SERIES, T0, T0 + MINUTE * 5, MINUTE * 5, Aggregate.MAX)
    assert largest.value == 1.7e308


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    points=st.lists(
        st.builds(
            point,
            st.integers(0, 90).map(lambda seconds: seconds / 6),  # 10 s steps over 15 minutes
            st.floats(-1e6, 1e6),
            source=st.sampled_from(["a", "b"]),
            belief_minute=st.sampled_from([None, 20.0, 30.0]),
            quality=st.sampled_from(list(Quality)),
        ),
        max_size=30,
    ),
    start_minute=st.integers(0, 5),
    every_seconds=st.sampled_from([1, 7, 60, 150, 3600]),
    function=st.sampled_from(list(Aggregate)),
)
def test_aggregates_equal_the_same_work_by_hand_over_read(
    timeseries_backend: Backend[TimeSeriesStore],
    points: list[TimeSeriesPoint],
    start_minute: int,
    every_seconds: int,
    function: Aggregate,
) -> None:
    store = timeseries_backend.fresh()
    store.write(points)
    start, end = T0 + start_minute * MINUTE, T0 + 14 * MINUTE
    every = timedelta(seconds=every_seconds)
    expected = by_hand(store.read(SERIES, start, end), start, every, function)
    buckets = store.aggregate(SERIES, start, end, every, function)
    assert [(b.start, b.count) for b in buckets] == [(s, n) for s, _, n in expected]
    for bucket, (_, value, _) in zip(buckets, expected, strict=True):
        assert bucket.value == pytest.approx(value, rel=1e-9, abs=1e-6)
