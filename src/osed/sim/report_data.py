"""The result tables reshaped for plotting: per-step matrices, spreads across households.

Tables are in long form (one row per time and element); a figure needs an element × step
matrix, or a mean and percentiles across elements per step, ignoring NaN (households without
the device).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from osed.sim.results import Table

Values = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Matrix:
    times: Values
    """Seconds since the epoch, ascending."""
    keys: tuple[str, ...]
    values: Values
    """(times, keys); NaN where the table has no row."""


@dataclass(frozen=True, slots=True)
class Spread:
    """Per step over the elements that have a value: mean, 10th and 90th percentile, count."""

    times: Values
    mean: Values
    low: Values
    high: Values
    count: NDArray[np.int64]


def epoch_seconds(times: NDArray[Any]) -> Values:
    return times.astype("datetime64[ns]").astype(np.int64).astype(np.float64) / 1e9


def series(table: Table, column: str) -> tuple[Values, Values]:
    """A per-step table's column against time, in time order."""
    times = epoch_seconds(table["time_utc"])
    order = np.argsort(times, kind="stable")
    return times[order], np.asarray(table[column], dtype=np.float64)[order]


def matrix(table: Table, key: str, column: str) -> Matrix:
    """``column`` of a long table as a (time, ``key``) matrix."""
    times, time_index = np.unique(epoch_seconds(table["time_utc"]), return_inverse=True)
    keys, key_index = np.unique(np.asarray(table[key], dtype=str), return_inverse=True)
    values = np.full((len(times), len(keys)), np.nan)
    values[time_index, key_index] = np.asarray(table[column], dtype=np.float64)
    return Matrix(times, tuple(str(k) for k in keys), values)


def spread(table: Table, key: str, column: str) -> Spread:
    grid = matrix(table, key, column)
    count = np.sum(np.isfinite(grid.values), axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # steps where no element has a value
        mean = np.nanmean(grid.values, axis=1)
        low, high = np.nanpercentile(grid.values, [10.0, 90.0], axis=1)
    return Spread(grid.times, mean, low, high, count)


def peak_step(table: Table, column: str) -> float | None:
    """The time (epoch seconds) of the largest finite value of ``column``, the first if tied."""
    times, values = series(table, column)
    finite = np.isfinite(values)
    if not finite.any():
        return None
    return float(times[int(np.argmax(np.where(finite, values, -np.inf)))])


def rows_at(table: Table, time: float) -> Table:
    """The rows of ``table`` at one instant."""
    mask = epoch_seconds(table["time_utc"]) == time
    return {name: column[mask] for name, column in table.items()}


def kind_counts(table: Table) -> dict[str, int]:
    kinds, counts = np.unique(np.asarray(table["kind"], dtype=str), return_counts=True)
    return {str(kind): int(count) for kind, count in zip(kinds, counts, strict=True)}


def nanmax(values: Values) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else float("nan")
