"""The TimeSeriesStore contract, run unchanged against every backend (see conftest.py)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osed.domain.errors import ValidationError
from osed.ports.timeseries import Quality, SeriesInfo, TimeSeriesPoint, TimeSeriesStore
from tests.contract.storage.backends import Backend

T0 = datetime(2026, 7, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
FAR_PAST, FAR_FUTURE = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


def point(
    minute: int,
    value: float = 1.0,
    *,
    series_id: str = "feeder-7/p",
    unit: str = "kW",
    belief_minute: int | None = None,
    source: str = "meter",
    quality: Quality = Quality.GOOD,
) -> TimeSeriesPoint:
    belief = minute + 1 if belief_minute is None else belief_minute
    return TimeSeriesPoint(
        series_id, T0 + minute * MINUTE, value, unit, T0 + belief * MINUTE, source, quality
    )


def everything(store: TimeSeriesStore, series_id: str = "feeder-7/p") -> list[TimeSeriesPoint]:
    return store.read(series_id, FAR_PAST, FAR_FUTURE, latest_belief=False)


# ---------------------------------------------------------------------- round trip
def test_points_come_back_as_written(timeseries: TimeSeriesStore) -> None:
    written = [
        point(0, 230.5, series_id="bus-3/v", unit="V"),
        point(1, -0.125, series_id="bus-3/v", unit="V", quality=Quality.SUSPECT),
        point(2, 1e300, series_id="bus-3/v", unit="V", quality=Quality.BAD, source="scada"),
    ]
    assert timeseries.write(written) == 3
    read = everything(timeseries, "bus-3/v")
    assert read == written
    assert all(p.event_time.utcoffset() == timedelta(0) for p in read)


def test_instants_in_any_timezone_are_the_same_instant(timeseries: TimeSeriesStore) -> None:
    berlin = timezone(timedelta(hours=2))
    local = replace(point(0), event_time=T0.astimezone(berlin))
    timeseries.write([local])
    assert timeseries.write([point(0)]) == 0  # the same key, said in UTC
    (read,) = everything(timeseries)
    assert read.event_time == T0
    assert read.event_time.utcoffset() == timedelta(0)


def test_microseconds_and_whole_number_values_survive(timeseries: TimeSeriesStore) -> None:
    precise = replace(point(0), event_time=T0 + timedelta(microseconds=1), value=3)
    timeseries.write([precise])
    (read,) = everything(timeseries)
    assert read.event_time == T0 + timedelta(microseconds=1)
    assert read.value == 3.0
    assert type(read.value) is float


def test_an_empty_write_and_an_unknown_series(timeseries: TimeSeriesStore) -> None:
    assert timeseries.write([]) == 0
    assert timeseries.read("nothing", FAR_PAST, FAR_FUTURE) == []
    assert timeseries.series() == []


def test_series_are_listed_with_their_units(timeseries: TimeSeriesStore) -> None:
    timeseries.write(
        [
            point(0, series_id="b/v", unit="V"),
            point(0, series_id="a/p"),
            point(1, series_id="b/v", unit="V"),
        ]
    )
    assert timeseries.series() == [SeriesInfo("a/p", "kW"), SeriesInfo("b/v", "V")]


def test_reopening_keeps_the_points(timeseries_backend: Backend[TimeSeriesStore]) -> None:
    first = timeseries_backend.open()
    first.write([point(0), point(1)])
    first.close()
    again = timeseries_backend.open()
    assert everything(again) == [point(0), point(1)]
    assert again.write([point(1), point(2)]) == 1


# ---------------------------------------------------------------------- idempotency
def test_writing_the_same_points_twice_stores_them_once(timeseries: TimeSeriesStore) -> None:
    batch = [point(minute, float(minute)) for minute in range(10)]
    assert timeseries.write(batch) == 10
    assert timeseries.write(batch) == 0
    assert timeseries.write([*batch[5:], point(10)]) == 1
    assert len(everything(timeseries)) == 11


def test_the_first_value_under_a_key_wins(timeseries: TimeSeriesStore) -> None:
    timeseries.write([point(0, 1.0)])
    assert timeseries.write([point(0, 2.0, quality=Quality.BAD)]) == 0
    assert everything(timeseries) == [point(0, 1.0)]


def test_a_key_repeated_inside_one_batch_is_stored_once(timeseries: TimeSeriesStore) -> None:
    assert timeseries.write([point(0, 1.0), point(1), point(0, 9.0)]) == 2
    assert everything(timeseries) == [point(0, 1.0), point(1)]


def test_each_key_field_makes_a_point_of_its_own(timeseries: TimeSeriesStore) -> None:
    base = point(0)
    variants = [
        base,
        replace(base, series_id="other"),
        replace(base, event_time=base.event_time + MINUTE),
        replace(base, source="forecast"),
        replace(base, belief_time=base.belief_time + MINUTE),
    ]
    assert timeseries.write(variants) == 5


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    batches=st.lists(
        st.lists(
            st.builds(
                point,
                st.integers(0, 5),
                st.floats(-1e6, 1e6),
                belief_minute=st.integers(0, 3),
                source=st.sampled_from(["meter", "forecast"]),
            ),
            max_size=8,
        ),
        max_size=5,
    )
)
def test_random_writes_keep_the_first_point_per_key(
    timeseries_backend: Backend[TimeSeriesStore], batches: list[list[TimeSeriesPoint]]
) -> None:
    store = timeseries_backend.fresh()
    model: dict[tuple[object, ...], TimeSeriesPoint] = {}
    for batch in batches:
        new = 0
        for p in batch:
            key = (p.series_id, p.event_time, p.source, p.belief_time)
            if key not in model:
                model[key] = p
                new += 1
        assert store.write(batch) == new
    expected = sorted(model.values(), key=lambda p: (p.event_time, p.source, p.belief_time))
    assert everything(store) == expected


# ---------------------------------------------------------------------- reading
def test_points_are_read_in_time_order(timeseries: TimeSeriesStore) -> None:
    batch = [point(minute, source=source) for minute in range(20) for source in ("b", "a")]
    random.Random(5).shuffle(batch)
    timeseries.write(batch)
    read = everything(timeseries)
    assert [(p.event_time, p.source) for p in read] == sorted(
        (p.event_time, p.source) for p in batch
    )


def test_a_read_covers_start_up_to_but_excluding_end(timeseries: TimeSeriesStore) -> None:
    timeseries.write([point(minute) for minute in range(10)])
    read = timeseries.read("feeder-7/p", T0 + 3 * MINUTE, T0 + 6 * MINUTE)
    assert [p.event_time for p in read] == [T0 + m * MINUTE for m in (3, 4, 5)]


def test_the_latest_belief_of_each_source_is_read_by_default(timeseries: TimeSeriesStore) -> None:
    # Forecasts of minute 10 made at minutes 0, 5 and 8; the meter's reading at 11.
    forecasts = [
        point(10, value, source="forecast", belief_minute=b)
        for value, b in [(1, 0), (2, 5), (3, 8)]
    ]
    reading = point(10, 2.5, source="meter", belief_minute=11)
    timeseries.write([*forecasts, reading])
    latest = timeseries.read("feeder-7/p", T0, T0 + 20 * MINUTE)
    assert latest == [forecasts[2], reading]
    every = timeseries.read("feeder-7/p", T0, T0 + 20 * MINUTE, latest_belief=False)
    assert every == [*forecasts, reading]


def test_as_of_reads_what_was_believed_then(timeseries: TimeSeriesStore) -> None:
    forecasts = [
        point(10, value, source="forecast", belief_minute=b)
        for value, b in [(1, 0), (2, 5), (3, 8)]
    ]
    timeseries.write(forecasts)
    as_of_six = timeseries.read("feeder-7/p", T0, T0 + 20 * MINUTE, as_of=T0 + 6 * MINUTE)
    assert as_of_six == [forecasts[1]]
    assert (
        timeseries.read(
            "feeder-7/p", T0, T0 + 20 * MINUTE, latest_belief=False, as_of=T0 + 5 * MINUTE
        )
        == forecasts[:2]
    )
    assert timeseries.read("feeder-7/p", T0, T0 + 20 * MINUTE, as_of=T0 - MINUTE) == []


def test_a_read_needs_aware_instants(timeseries: TimeSeriesStore) -> None:
    naive = datetime(2026, 7, 1)  # noqa: DTZ001
    with pytest.raises(ValidationError) as info:
        timeseries.read("feeder-7/p", naive, naive, as_of=naive)
    assert [p.path for p in info.value.problems] == ["$.start", "$.end", "$.as_of"]


# ---------------------------------------------------------------------- bad input
def test_bad_points_name_every_problem_and_write_nothing(timeseries: TimeSeriesStore) -> None:
    good = point(0)
    bad = [
        good,
        replace(good, unit=""),
        replace(good, series_id="a\x1fb", source="\x00"),
        replace(good, event_time=datetime(2026, 7, 1), value=float("nan")),  # noqa: DTZ001
        replace(good, belief_time="yesterday", quality="excellent"),  # type: ignore[arg-type]
        replace(good, value="1.5"),  # type: ignore[arg-type]
        "not a point",
    ]
    with pytest.raises(ValidationError) as info:
        timeseries.write(bad)  # type: ignore[arg-type]
    assert [(p.path, p.code) for p in info.value.problems] == [
        ("$[1].unit", "empty_id"),
        ("$[2].series_id", "control_character"),
        ("$[2].source", "control_character"),
        ("$[3].event_time", "naive_datetime"),
        ("$[3].value", "not_finite"),
        ("$[4].belief_time", "naive_datetime"),
        ("$[4].quality", "bad_quality"),
        ("$[5].value", "not_a_number"),
        ("$[6]", "not_a_point"),
    ]
    assert timeseries.series() == []
    assert everything(timeseries) == []


def test_a_quality_given_as_text_is_accepted(timeseries: TimeSeriesStore) -> None:
    timeseries.write([replace(point(0), quality="suspect")])  # type: ignore[arg-type]
    (read,) = everything(timeseries)
    assert read.quality is Quality.SUSPECT


def test_one_series_in_two_units_in_a_batch_is_refused(timeseries: TimeSeriesStore) -> None:
    with pytest.raises(ValidationError) as info:
        timeseries.write([point(0), point(1, unit="MW")])
    assert [(p.path, p.code) for p in info.value.problems] == [("$[1].unit", "unit_mismatch")]
    assert everything(timeseries) == []


def test_a_unit_other_than_the_recorded_one_writes_nothing(timeseries: TimeSeriesStore) -> None:
    timeseries.write([point(0)])
    batch = [point(1, series_id="new", unit="V"), point(2, unit="W"), point(3, unit="W")]
    with pytest.raises(ValidationError) as info:
        timeseries.write(batch)
    assert [(p.path, p.code) for p in info.value.problems] == [
        ("$[1].unit", "unit_mismatch"),
        ("$[2].unit", "unit_mismatch"),
    ]
    assert "kW" in info.value.problems[0].message
    assert everything(timeseries) == [point(0)]
    assert timeseries.series() == [SeriesInfo("feeder-7/p", "kW")]
