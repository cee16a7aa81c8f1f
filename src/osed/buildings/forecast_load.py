"""The default forecaster of non-controllable load: a linear model refitted at every origin.

Over the last ``window_days`` days it fits, by least squares, the load at each sample on:

- a level per slot of the day, separately for working days and weekends (the household's
  routine);
- the load at the same slot on the last day before the origin and a week before (what is
  different about this household this week: visitors, holidays);
- the mean load of the day before the origin (the recent level);
- with an outdoor temperature: heating and cooling degrees of the hour and of the last 24 h
  (electric heating and air conditioning follow the weather, the daily mean the building's
  inertia).

Each training sample is described as it would have been forecast: from an origin at the same
time of day as the real one, so a day-ahead forecast is trained on day-ahead examples.
Least squares on a short trailing window keeps it cheap (one small solve per origin) and lets
the weights follow the season; the forecast is never negative.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from osed.buildings.forecast import OUTDOOR_C, Array
from osed.buildings.timeline import Timeline

Index = NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class LoadRegression:
    window_days: int = 42
    heating_base_c: float = 15.5
    cooling_base_c: float = 22.0
    name: str = "regression"

    def forecast(
        self,
        history: Array,
        timeline: Timeline,
        origin: int,
        horizon: int,
        weather: Mapping[str, Array],
    ) -> Array:
        per_day = timeline.per_day
        first = max(origin - self.window_days * per_day, 8 * per_day)
        target = np.arange(origin, origin + horizon)
        if first >= origin:  # too little history for the weekly lag
            return seasonal_fallback(history, target, per_day)
        training = np.arange(first, origin)
        # A training sample's own origin: the last one at the real origin's time of day.
        train_origin = origin - per_day * ((origin - training - 1) // per_day + 1)
        features = _Features(history, timeline, weather, self)
        group_train, z_train = features.matrix(training, train_origin)
        group_next, z_next = features.matrix(target, np.full(horizon, origin))
        y = history[training]
        rows = np.isfinite(y) & np.isfinite(z_train).all(axis=1)
        if rows.sum() < 2 * z_train.shape[1] + 2:
            return seasonal_fallback(history, target, per_day)
        level, weights = _grouped_least_squares(
            group_train[rows], z_train[rows], y[rows], groups=2 * per_day
        )
        z_next = np.where(np.isfinite(z_next), z_next, z_train[rows].mean(axis=0))
        return np.asarray(np.maximum(level[group_next] + z_next @ weights, 0.0), dtype=np.float64)


class _Features:
    """The regressors of samples ``t`` forecast from origins ``o`` (one per sample): the
    routine's group (slot of the day, working day or weekend) and the continuous ones."""

    def __init__(
        self,
        history: Array,
        timeline: Timeline,
        weather: Mapping[str, Array],
        model: LoadRegression,
    ) -> None:
        self.history = history
        self.per_day = timeline.per_day
        self.group = timeline.slot_of_day() + self.per_day * timeline.weekend()
        outdoor = weather.get(OUTDOOR_C)
        self.degrees: Array | None = None
        if outdoor is not None:
            hourly = np.column_stack(
                [
                    np.maximum(model.heating_base_c - outdoor, 0.0),
                    np.maximum(outdoor - model.cooling_base_c, 0.0),
                ]
            )
            self.degrees = np.column_stack([hourly, _trailing_mean(hourly, self.per_day)])

    def matrix(self, t: Index, o: Index) -> tuple[Index, Array]:
        per_day = self.per_day
        ahead = (t - o) // per_day + 1  # whole days back to a sample before the origin
        yesterday = self._values(t - per_day * ahead)
        last_week = self._values(t - per_day * 7 * ((t - o) // (7 * per_day) + 1))
        columns = [yesterday, last_week, self._day_means(o)]
        if self.degrees is not None:
            columns.extend(self.degrees[t].T)
        return self.group[t], np.column_stack(columns)

    def _values(self, index: Index) -> Array:
        return np.where(index >= 0, self.history[np.maximum(index, 0)], np.nan)

    def _day_means(self, origins: Index) -> Array:
        """Mean of the measured values in the day before each origin."""
        finite = np.isfinite(self.history)
        total = np.concatenate([[0.0], np.cumsum(np.where(finite, self.history, 0.0))])
        count = np.concatenate([[0], np.cumsum(finite)])
        start = np.maximum(origins - self.per_day, 0)
        measured = count[origins] - count[start]
        sums = total[origins] - total[start]
        return np.where(measured > 0, sums / np.maximum(measured, 1), np.nan)


def _grouped_least_squares(group: Index, z: Array, y: Array, groups: int) -> tuple[Array, Array]:
    """Least squares of y on a level per group plus z · weights.

    The levels are eliminated first (every column minus its group mean), which leaves a
    system as small as z has columns: far cheaper than a solve with one column per group,
    and the same answer. A tiny ridge only matters for a column without variation in the
    window (no heating degrees in summer). A group the window never saw (the first weekend)
    gets the overall level.
    """
    count = np.bincount(group, minlength=groups).astype(np.float64)
    seen = count > 0
    per = np.maximum(count, 1.0)
    y_mean = np.bincount(group, y, minlength=groups) / per
    z_mean = np.column_stack([np.bincount(group, column, minlength=groups) / per for column in z.T])
    z_centred = z - z_mean[group]
    gram = np.einsum("ij,ik->jk", z_centred, z_centred)
    ridge = 1e-8 * (np.trace(gram) / gram.shape[0] + 1.0)
    weights = np.linalg.solve(
        gram + ridge * np.eye(gram.shape[0]), z_centred.T @ (y - y_mean[group])
    )
    level = y_mean - z_mean @ weights
    overall = float(np.mean(y - z @ weights))
    return np.where(seen, level, overall), np.asarray(weights, dtype=np.float64)


def _trailing_mean(values: Array, window: int) -> Array:
    """Mean over the last ``window`` rows up to and including each row (fewer at the start)."""
    total = np.cumsum(values, axis=0)
    shifted = np.vstack([np.zeros((window, values.shape[1])), total[:-window]])
    count = np.minimum(np.arange(1, values.shape[0] + 1), window)[:, None]
    return np.asarray((total - shifted[: values.shape[0]]) / count, dtype=np.float64)


def seasonal_fallback(history: Array, target: Index, per_day: int) -> Array:
    """The same slot on the last day before the origin, for origins with too little clean
    history to fit."""
    lag = target - per_day * ((target - target[0]) // per_day + 1)
    return np.where(lag >= 0, history[np.maximum(lag, 0)], np.nan)
