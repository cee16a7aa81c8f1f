"""Windowed basicstats: hand-checked windows, a NumPy reference, batching and lateness."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osed.grid.stats import STATS, WindowedStats, WindowStats

ALL = STATS


def _rows(result: WindowStats) -> dict[tuple[int, int], dict[str, float]]:
    rows: dict[tuple[int, int], dict[str, float]] = {}
    for i in range(len(result)):
        row = {"count": float(result.count[i])}
        row.update({k: float(c[i]) for k, c in result.stats.items()})
        rows[int(result.series[i]), int(result.start[i])] = row
    return rows


def _merge(results: list[WindowStats]) -> dict[tuple[int, int], dict[str, float]]:
    merged: dict[tuple[int, int], dict[str, float]] = {}
    for r in results:
        rows = _rows(r)
        assert not rows.keys() & merged.keys(), "a window closed twice"
        merged.update(rows)
    return merged


def _reference(
    series: list[int], time: list[int], value: list[float], period: int
) -> dict[tuple[int, int], dict[str, float]]:
    groups: dict[tuple[int, int], list[tuple[int, float]]] = {}
    for s, t, v in zip(series, time, value, strict=True):
        groups.setdefault((s, t // period * period), []).append((t, v))
    out: dict[tuple[int, int], dict[str, float]] = {}
    for key, pairs in groups.items():
        pairs.sort()
        x = np.array([v for _, v in pairs])
        n = x.size
        diff = x[-1] - x[-2] if n > 1 else math.nan
        out[key] = {
            "count": float(n),
            "min": float(x.min()),
            "max": float(x.max()),
            "mean": float(x.mean()),
            "stdev": float(x.std(ddof=1)) if n > 1 else math.nan,
            "s2": float(x.var(ddof=1)) if n > 1 else math.nan,
            "sum": float(x.sum()),
            "diff": diff,
            "non_negative_diff": diff if diff >= 0 else math.nan,
        }
    return out


def _close(
    a: dict[tuple[int, int], dict[str, float]], b: dict[tuple[int, int], dict[str, float]]
) -> None:
    assert a.keys() == b.keys()
    for key, row in a.items():
        # The float64 reference itself is only exact to a few ulps of the window's magnitude
        # (about 1e-7 near 1e9), which bounds what the comparison can ask.
        ulps = 1e-15 * max(abs(b[key]["min"]), abs(b[key]["max"]))
        for stat, x in row.items():
            y = b[key][stat]
            if math.isnan(y):
                assert math.isnan(x), (key, stat, x)
                continue
            slack = 2 * ulps * (math.sqrt(max(y, 0.0)) + ulps) if stat == "s2" else ulps
            assert x == pytest.approx(y, rel=1e-9, abs=1e-9 + slack), (key, stat, x, y)


def test_closes_windows_at_watermark() -> None:
    agg = WindowedStats(10, stats=ALL)
    out = agg.feed([1, 1, 2, 1, 1], [5, 1, 3, 7, 12], [4.0, 2.0, 8.0, 9.0, 3.0])
    rows = _rows(out)
    assert set(rows) == {(1, 0), (2, 0)}
    one = rows[1, 0]
    assert one["count"] == 3
    assert (one["min"], one["max"], one["mean"], one["sum"]) == (2.0, 9.0, 5.0, 15.0)
    # sample variance: ((2-5)^2 + (4-5)^2 + (9-5)^2) / (3-1) = 13
    assert one["s2"] == pytest.approx(13.0)
    assert one["stdev"] == pytest.approx(math.sqrt(13.0))
    # diff is last - previous in time order: 9 (t=7) - 4 (t=5)
    assert one["diff"] == 5.0
    assert one["non_negative_diff"] == 5.0
    two = rows[2, 0]
    assert two["count"] == 1
    assert all(math.isnan(two[k]) for k in ("s2", "stdev", "diff", "non_negative_diff"))
    assert out.fields(list(zip(out.series, out.start, strict=True)).index((2, 0)), "p") == {
        "p_count": 1,
        "p_min": 8.0,
        "p_max": 8.0,
        "p_mean": 8.0,
        "p_sum": 8.0,
    }
    assert agg.pending == 1
    rest = _rows(agg.flush())
    assert list(rest) == [(1, 10)]
    assert rest[1, 10]["count"] == 1
    assert agg.pending == 0


def test_negative_diff_is_not_non_negative() -> None:
    agg = WindowedStats(60, stats=("diff", "non_negative_diff"))
    out = agg.feed([0, 0], [0, 30], [5.0, 2.0])
    assert len(out) == 0
    rows = _rows(agg.flush())
    assert rows[0, 0]["diff"] == -3.0
    assert math.isnan(rows[0, 0]["non_negative_diff"])


def test_default_selection_is_basicstats_default() -> None:
    agg = WindowedStats(10)
    agg.feed([0], [0], [1.0])
    assert tuple(agg.flush().stats) == ("min", "max", "mean", "stdev", "s2")


def test_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError, match="period"):
        WindowedStats(0)
    with pytest.raises(ValueError, match="lateness"):
        WindowedStats(10, lateness=-1)
    with pytest.raises(ValueError, match="unknown"):
        WindowedStats(10, stats=("median",))
    with pytest.raises(ValueError, match="length"):
        WindowedStats(10).feed([0, 1], [0], [1.0])


def test_negative_times_align_to_period() -> None:
    agg = WindowedStats(10)
    agg.feed([0, 0], [-1, -10], [1.0, 2.0])
    out = agg.flush()
    assert out.start.tolist() == [-10]
    assert out.end.tolist() == [0]
    assert out.count.tolist() == [2]


def test_large_offset_is_stable() -> None:
    rng = np.random.default_rng(1)
    noise = rng.normal(0.0, 1e-3, 10_000)
    agg = WindowedStats(1_000_000, stats=ALL)
    agg.feed(np.zeros(noise.size), np.arange(noise.size), 1e9 + noise)
    row = _rows(agg.flush())[0, 0]
    assert row["mean"] - 1e9 == pytest.approx(noise.mean(), abs=1e-7)
    assert row["s2"] == pytest.approx(noise.var(ddof=1), rel=1e-6)
    assert row["stdev"] ** 2 == pytest.approx(row["s2"], rel=1e-12)


def test_late_values_are_counted_per_series() -> None:
    agg = WindowedStats(10, lateness=5)
    first = agg.feed([1], [20], [1.0])
    assert first.late == 0
    assert len(first) == 0
    # [0, 10) closed at watermark 15; [10, 20) is still open (closes at 25).
    out = agg.feed([1, 2, 2, 3], [9, 3, 12, 14], [1.0, 2.0, 3.0, 4.0])
    assert out.late == 2
    assert out.late_by_series == {1: 1, 2: 1}
    assert agg.late_total == 2
    rows = _rows(agg.flush())
    assert set(rows) == {(2, 10), (3, 10), (1, 20)}
    assert sum(r["count"] for r in rows.values()) == 3


def test_non_finite_values_are_counted_not_aggregated() -> None:
    agg = WindowedStats(10)
    out = agg.feed([0, 0, 0], [0, 1, 2], [1.0, math.nan, math.inf])
    assert out.invalid == 2
    assert agg.invalid_total == 2
    assert agg.flush().count.tolist() == [1]


# A stream plus a permutation of it and cut points for batches.
_values = st.floats(-1e6, 1e6, allow_nan=False) | st.sampled_from([1e9 + 0.001, 1e9 - 0.002])
_stream = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 200), _values), min_size=1, max_size=80
)


@settings(max_examples=200, deadline=None)
@given(stream=_stream, data=st.data())
def test_matches_reference_for_any_order_and_batching(
    stream: list[tuple[int, int, float]], data: st.DataObject
) -> None:
    period = data.draw(st.sampled_from([1, 7, 10, 60]))
    # Lateness covering the whole time range makes every order acceptable.
    agg = WindowedStats(period, lateness=300, stats=ALL)
    shuffled = data.draw(st.permutations(stream))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    results = []
    for lo, hi in zip([0, *cuts], [*cuts, len(shuffled)], strict=True):
        part = shuffled[lo:hi]
        results.append(agg.feed([p[0] for p in part], [p[1] for p in part], [p[2] for p in part]))
    results.append(agg.flush())
    got = _merge(results)
    s, t, v = (list(c) for c in zip(*stream, strict=True))
    expected = _reference(s, t, v, period)
    # basicstats ties: equal timestamps are ordered by value, so diff is order-free too.
    _close(got, expected)
    assert sum(r["count"] for r in got.values()) == len(stream)
    assert sum(r.late for r in results) == 0
    for row in got.values():
        if not math.isnan(row["s2"]):
            assert row["stdev"] ** 2 == pytest.approx(row["s2"], rel=1e-9, abs=1e-12)

    # One batch in the original order gives bit-identical rows.
    once = WindowedStats(period, stats=ALL)
    single = _merge([once.feed(s, t, v), once.flush()])
    assert single.keys() == got.keys()
    for key, row in single.items():
        for stat, x in row.items():
            assert x == got[key][stat] or (math.isnan(x) and math.isnan(got[key][stat]))


@settings(max_examples=100, deadline=None)
@given(
    stream=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 100)), min_size=1, max_size=60),
    lateness=st.integers(0, 20),
    data=st.data(),
)
def test_every_value_is_accepted_or_counted_late(
    stream: list[tuple[int, int]], lateness: int, data: st.DataObject
) -> None:
    agg = WindowedStats(10, lateness=lateness)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    accepted = 0
    late = 0
    watermark: int | None = None
    for lo, hi in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        part = stream[lo:hi]
        if not part:
            continue
        # A value is late iff its window had closed before its batch.
        expect_late = sum(
            1
            for _, t in part
            if watermark is not None and (t // 10 + 1) * 10 + lateness <= watermark
        )
        out = agg.feed([p[0] for p in part], [p[1] for p in part], [1.0] * len(part))
        assert out.late == expect_late
        late += out.late
        accepted += int(out.count.sum())
        watermark = max([watermark or 0, *(t for _, t in part)])
    accepted += int(agg.flush().count.sum())
    assert accepted + late == len(stream)
    assert agg.late_total == late
