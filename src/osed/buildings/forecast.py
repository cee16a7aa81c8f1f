"""Forecasters of a building's non-controllable load and PV, and the baselines they must beat.

Every forecaster answers ``forecast(history, timeline, origin, horizon, weather)``: the
``horizon`` samples from ``origin`` on, seeing only ``history`` (the values before
``origin``; NaN where a measurement is missing) and ``weather`` (covariates over the whole
timeline; values after the origin stand for a weather forecast). The defaults are
:class:`~osed.buildings.forecast_load.LoadRegression` and
:class:`~osed.buildings.forecast_pv.ClearSkyIndexPv`; :mod:`osed.buildings.backtest` scores
them against the baselines here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from osed.buildings.timeline import Timeline

Array = NDArray[np.float64]

OUTDOOR_C = "outdoor_c"  # outdoor temperature, °C
GHI_W_M2 = "ghi_w_m2"  # global horizontal irradiance, W/m²


class Forecaster(Protocol):
    @property
    def name(self) -> str: ...

    def forecast(
        self,
        history: Array,
        timeline: Timeline,
        origin: int,
        horizon: int,
        weather: Mapping[str, Array],
    ) -> Array: ...


@dataclass(frozen=True, slots=True)
class Persistence:
    """The last measured value, held over the horizon."""

    name: str = "persistence"

    def forecast(
        self,
        history: Array,
        timeline: Timeline,
        origin: int,
        horizon: int,
        weather: Mapping[str, Array],
    ) -> Array:
        measured = history[np.isfinite(history)]
        last = measured[-1] if measured.size else np.nan
        return np.full(horizon, last)


@dataclass(frozen=True, slots=True)
class SeasonalNaive:
    """The value ``lag_days`` earlier at the same time of day (repeated for horizons longer
    than the lag); a missing one is NaN."""

    lag_days: int = 1

    @property
    def name(self) -> str:
        return (
            "same time yesterday" if self.lag_days == 1 else f"same time {self.lag_days} days ago"
        )

    def forecast(
        self,
        history: Array,
        timeline: Timeline,
        origin: int,
        horizon: int,
        weather: Mapping[str, Array],
    ) -> Array:
        lag = self.lag_days * timeline.per_day
        target = origin + np.arange(horizon)
        source = target - lag * ((target - origin) // lag + 1)
        known = source >= 0
        return np.where(known, history[np.maximum(source, 0)], np.nan)
