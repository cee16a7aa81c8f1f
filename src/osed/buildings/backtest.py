"""Rolling-origin backtest: forecast from every origin, score against what happened.

An origin every ``origin_every`` samples (a day by default) after ``warmup_days``; each
forecaster forecasts ``horizon`` samples (a day) from each origin, seeing only the history
before it. Scores are taken over the samples where the measurement and every forecaster's
value exist, so all forecasters are judged on the same samples: mean absolute error and root
mean square error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from osed.buildings.forecast import Array, Forecaster
from osed.buildings.timeline import Timeline


@dataclass(frozen=True, slots=True)
class Score:
    name: str
    mae: float
    rmse: float
    samples: int
    origins: int


def backtest(
    values: Array,
    timeline: Timeline,
    forecasters: Sequence[Forecaster],
    weather: Mapping[str, Array] | None = None,
    *,
    warmup_days: int = 28,
    horizon: int | None = None,
    origin_every: int | None = None,
) -> list[Score]:
    per_day = timeline.per_day
    steps = horizon or per_day
    every = origin_every or per_day
    covariates = weather or {}
    # The first origin at a local midnight after the warm-up.
    to_midnight = int(-timeline.slot_of_day()[0]) % per_day if timeline.size else 0
    origins = range(warmup_days * per_day + to_midnight, values.size - steps + 1, every)
    forecasts = np.full((len(forecasters), len(origins), steps), np.nan)
    actual = np.full((len(origins), steps), np.nan)
    for row, origin in enumerate(origins):
        history = values[:origin]
        actual[row] = values[origin : origin + steps]
        for which, forecaster in enumerate(forecasters):
            forecasts[which, row] = forecaster.forecast(
                history, timeline, origin, steps, covariates
            )
    scored = np.isfinite(actual) & np.isfinite(forecasts).all(axis=0)
    scores = []
    for which, forecaster in enumerate(forecasters):
        error = (forecasts[which] - actual)[scored]
        scores.append(
            Score(
                name=forecaster.name,
                mae=float(np.abs(error).mean()) if error.size else math.nan,
                rmse=float(np.sqrt((error**2).mean())) if error.size else math.nan,
                samples=int(error.size),
                origins=len(origins),
            )
        )
    return scores
