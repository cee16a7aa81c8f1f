"""Windowed statistics per series with Telegraf ``basicstats`` semantics.

:class:`WindowedStats` takes batches of ``(series, time, value)`` arrays and returns the
tumbling windows the event-time watermark has closed. Windows are ``[k*period, (k+1)*period)``
in the caller's integer time unit (nanoseconds in OSED), so every instance cuts the same
windows. A value whose window closed before its batch arrived is late: it is counted, per
series, and left out. See ``docs/grid-stats.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Every stat :class:`WindowedStats` can produce besides ``count`` (always produced).
STATS = ("min", "max", "mean", "stdev", "s2", "sum", "diff", "non_negative_diff")
#: basicstats' default selection.
DEFAULT_STATS = ("min", "max", "mean", "stdev", "s2")

_EMPTY_I = np.empty(0, dtype=np.int64)
_EMPTY_F = np.empty(0, dtype=np.float64)


@dataclass(frozen=True)
class WindowStats:
    """Closed windows, one row each, ordered by window start and then series.

    ``stats`` maps each selected stat to a float column; ``NaN`` marks a value basicstats
    would not emit (``s2``, ``stdev``, ``diff`` with one value; ``non_negative_diff`` when
    the diff is negative).
    """

    series: NDArray[np.int64]
    start: NDArray[np.int64]
    end: NDArray[np.int64]
    count: NDArray[np.int64]
    stats: Mapping[str, NDArray[np.float64]]
    late: int = 0
    late_by_series: Mapping[int, int] = field(default_factory=dict)
    invalid: int = 0

    def __len__(self) -> int:
        return int(self.series.size)

    def fields(self, row: int, name: str) -> dict[str, float | int]:
        """Telegraf-style fields of one row (``<name>_count`` …), leaving out what is NaN."""
        out: dict[str, float | int] = {f"{name}_count": int(self.count[row])}
        for stat, column in self.stats.items():
            value = float(column[row])
            if not np.isnan(value):
                out[f"{name}_{stat}"] = value
        return out


class WindowedStats:
    """Incremental tumbling-window aggregator over many series.

    ``period`` and ``lateness`` are in the time unit of the fed timestamps. The watermark is
    the largest timestamp fed so far; a window ``[s, s+period)`` closes once the watermark
    reaches ``s + period + lateness``. Values of a window stay buffered until it closes and are
    then reduced in (time, value) order, so the result does not depend on arrival order or
    batching as long as no value is late.
    """

    def __init__(
        self, period: int, *, lateness: int = 0, stats: Iterable[str] = DEFAULT_STATS
    ) -> None:
        if period <= 0:
            raise ValueError(f"period must be positive, got {period}")
        if lateness < 0:
            raise ValueError(f"lateness must not be negative, got {lateness}")
        selected = tuple(stats)
        unknown = sorted(set(selected) - set(STATS) - {"count"})
        if unknown:
            raise ValueError(f"unknown stats {unknown}; choose from {STATS}")
        self.period = int(period)
        self.lateness = int(lateness)
        # "count" is accepted for basicstats-style configs but is always produced.
        self.stats = tuple(s for s in STATS if s in selected)
        self._watermark: int | None = None
        self._series = _EMPTY_I
        self._time = _EMPTY_I
        self._value = _EMPTY_F
        self.late_total = 0
        self.invalid_total = 0

    @property
    def watermark(self) -> int | None:
        """Largest timestamp fed so far, or ``None`` before the first value."""
        return self._watermark

    @property
    def pending(self) -> int:
        """Values buffered in windows that are still open."""
        return int(self._value.size)

    def feed(self, series: ArrayLike, time: ArrayLike, value: ArrayLike) -> WindowStats:
        """Add one batch and return the windows it closes.

        Lateness is judged against the watermark before this batch, so values within a batch
        may come in any order.
        """
        s = np.asarray(series, dtype=np.int64).ravel()
        t = np.asarray(time, dtype=np.int64).ravel()
        v = np.asarray(value, dtype=np.float64).ravel()
        if not s.size == t.size == v.size:
            raise ValueError(f"batch arrays differ in length: {s.size}, {t.size}, {v.size}")
        # Telegraf only aggregates numbers; NaN/inf would poison every stat of the window.
        finite = np.isfinite(v)
        invalid = int(v.size - np.count_nonzero(finite))
        if invalid:
            s, t, v = s[finite], t[finite], v[finite]
        late_by_series: dict[int, int] = {}
        late = 0
        if self._watermark is not None and t.size:
            is_late = self._closes_at(t) <= self._watermark
            late = int(np.count_nonzero(is_late))
            if late:
                ids, counts = np.unique(s[is_late], return_counts=True)
                late_by_series = {int(i): int(c) for i, c in zip(ids, counts, strict=True)}
                keep = ~is_late
                s, t, v = s[keep], t[keep], v[keep]
        self.late_total += late
        self.invalid_total += invalid
        if t.size:
            top = int(t.max())
            self._watermark = top if self._watermark is None else max(self._watermark, top)
            self._series = np.concatenate((self._series, s))
            self._time = np.concatenate((self._time, t))
            self._value = np.concatenate((self._value, v))
        if self._watermark is None:
            return self._reduce(
                _EMPTY_I,
                _EMPTY_I,
                _EMPTY_F,
                late=late,
                late_by_series=late_by_series,
                invalid=invalid,
            )
        closed = self._take(self._closes_at(self._time) <= self._watermark)
        return self._reduce(*closed, late=late, late_by_series=late_by_series, invalid=invalid)

    def flush(self) -> WindowStats:
        """Close every open window (end of stream)."""
        closed = self._take(np.ones(self._value.size, dtype=bool))
        return self._reduce(*closed, late=0, late_by_series={}, invalid=0)

    def _closes_at(self, t: NDArray[np.int64]) -> NDArray[np.int64]:
        return (t // self.period + 1) * self.period + self.lateness

    def _take(
        self, mask: NDArray[np.bool_]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
        taken = (self._series[mask], self._time[mask], self._value[mask])
        rest = ~mask
        self._series, self._time, self._value = (
            self._series[rest],
            self._time[rest],
            self._value[rest],
        )
        return taken

    def _reduce(
        self,
        s: NDArray[np.int64],
        t: NDArray[np.int64],
        v: NDArray[np.float64],
        *,
        late: int,
        late_by_series: dict[int, int],
        invalid: int,
    ) -> WindowStats:
        window = t // self.period
        order = np.lexsort((v, t, s, window))
        s, t, v, window = s[order], t[order], v[order], window[order]
        n_values = v.size
        if n_values:
            new_group = np.empty(n_values, dtype=bool)
            new_group[0] = True
            new_group[1:] = (window[1:] != window[:-1]) | (s[1:] != s[:-1])
            first = np.flatnonzero(new_group)
        else:
            first = _EMPTY_I
        count = np.diff(np.append(first, n_values)).astype(np.int64)
        if n_values:
            stats = compute_stats(v, first, count, self.stats)
        else:
            stats = dict.fromkeys(self.stats, _EMPTY_F)
        start = window[first] * self.period
        return WindowStats(
            series=s[first],
            start=start,
            end=start + self.period,
            count=count,
            stats={name: stats[name] for name in self.stats},
            late=late,
            late_by_series=late_by_series,
            invalid=invalid,
        )


def compute_stats(
    v: NDArray[np.float64],
    first: NDArray[np.int64],
    count: NDArray[np.int64],
    selected: Iterable[str],
) -> dict[str, NDArray[np.float64]]:
    """Stats of consecutive groups of ``v`` (group ``i`` is ``v[first[i]:first[i]+count[i]]``).

    Values are shifted by each group's first value before summing, and the variance uses the
    corrected two-pass formula, so a level like 1e9 does not swamp noise of 1e-3.
    """
    wanted = set(selected)
    n = count.astype(np.float64)
    group = np.repeat(np.arange(first.size), count)
    shift = v[first]
    d = v - shift[group]
    mean_d = np.add.reduceat(d, first) / n
    out: dict[str, NDArray[np.float64]] = {}
    if "min" in wanted:
        out["min"] = np.minimum.reduceat(v, first)
    if "max" in wanted:
        out["max"] = np.maximum.reduceat(v, first)
    if "mean" in wanted:
        out["mean"] = shift + mean_d
    if "sum" in wanted:
        out["sum"] = np.add.reduceat(v, first)
    if wanted & {"s2", "stdev"}:
        e = d - mean_d[group]
        m2 = np.add.reduceat(e * e, first) - np.add.reduceat(e, first) ** 2 / n
        with np.errstate(invalid="ignore", divide="ignore"):
            s2 = np.where(count > 1, np.maximum(m2, 0.0) / (n - 1), np.nan)
        out["s2"] = s2
        out["stdev"] = np.sqrt(s2)
    if wanted & {"diff", "non_negative_diff"}:
        last = first + count - 1
        two = count > 1
        diff = np.full(first.size, np.nan)
        diff[two] = v[last[two]] - v[last[two] - 1]
        out["diff"] = diff
        out["non_negative_diff"] = np.where(diff >= 0, diff, np.nan)
    return {k: out[k] for k in STATS if k in wanted}
