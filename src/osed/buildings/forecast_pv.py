"""Forecasters of PV output: from the clear sky and recent days, or from an irradiance forecast.

:class:`ClearSkyIndexPv` (the default, it needs no weather service) computes the clear-sky
irradiance of every future interval from the site's position and scales it per slot of the
day by what the array delivered against the clear sky over the last ``window_days`` days: the
ratio captures the array's size, orientation and shading, slot by slot. Day-to-day cloudiness
is only weakly persistent, so yesterday's clearness enters with a small weight
(``recent_weight``) on top of the window's; the forecast moves with the season (longer days,
higher sun) where "same time yesterday" cannot.

:class:`IrradiancePv` is for buildings that receive an irradiance forecast (``ghi_w_m2`` in
the weather): output per W/m² fitted per slot over the window, times the forecast irradiance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from osed.buildings.forecast import GHI_W_M2, Array
from osed.buildings.solar import interval_clear_sky
from osed.buildings.timeline import Timeline

_SUN_UP_W_M2 = 20.0  # clear-sky irradiance below which an interval's ratio is too noisy to use


@dataclass(frozen=True, slots=True)
class ClearSkyIndexPv:
    latitude_deg: float
    longitude_deg: float
    window_days: int = 14
    recent_weight: float = 0.25
    name: str = "clear-sky index"

    def forecast(
        self,
        history: Array,
        timeline: Timeline,
        origin: int,
        horizon: int,
        weather: Mapping[str, Array],
    ) -> Array:
        per_day = timeline.per_day
        first = max(0, origin - self.window_days * per_day)
        clear = self._clear_sky(timeline, first, origin + horizon)
        past = clear[: origin - first]
        ratio = _slot_ratio(history[first:origin], past, timeline, first, per_day)
        window = _clearness(history[first:origin], past)
        yesterday = _clearness(history[max(first, origin - per_day) : origin], past[-per_day:])
        shift = 1.0
        if np.isfinite(window) and np.isfinite(yesterday) and window > 0:
            shift = (1 - self.recent_weight) + self.recent_weight * yesterday / window
        slots = timeline.slot_of_day()[origin : origin + horizon]
        forecast = clear[origin - first :] * ratio[slots] * shift
        return np.asarray(np.where(np.isfinite(forecast), forecast, 0.0), dtype=np.float64)

    def _clear_sky(self, timeline: Timeline, start: int, end: int) -> Array:
        day, hour = timeline.utc_day_and_hour()
        return interval_clear_sky(
            day[start:end], hour[start:end], timeline.step_h, self.latitude_deg, self.longitude_deg
        )


@dataclass(frozen=True, slots=True)
class IrradiancePv:
    window_days: int = 14
    name: str = "irradiance"

    def forecast(
        self,
        history: Array,
        timeline: Timeline,
        origin: int,
        horizon: int,
        weather: Mapping[str, Array],
    ) -> Array:
        per_day = timeline.per_day
        first = max(0, origin - self.window_days * per_day)
        irradiance = weather[GHI_W_M2]
        ratio = _slot_ratio(
            history[first:origin], irradiance[first:origin], timeline, first, per_day
        )
        slots = timeline.slot_of_day()[origin : origin + horizon]
        forecast = irradiance[origin : origin + horizon] * ratio[slots]
        return np.asarray(np.where(np.isfinite(forecast), forecast, 0.0), dtype=np.float64)


def _slot_ratio(
    output: Array, reference: Array, timeline: Timeline, first: int, per_day: int
) -> Array:
    """Least-squares output per unit of ``reference`` for each slot of the day (through the
    origin: no sun, no output); the whole window's ratio where a slot has too little sun."""
    slots = timeline.slot_of_day()[first : first + output.size]
    usable = np.isfinite(output) & (reference > _SUN_UP_W_M2)
    cross = np.bincount(slots[usable], (output * reference)[usable], minlength=per_day)
    square = np.bincount(slots[usable], (reference**2)[usable], minlength=per_day)
    overall = cross.sum() / square.sum() if square.sum() > 0 else 0.0
    enough = square > 4 * _SUN_UP_W_M2**2
    return np.where(enough, cross / np.where(enough, square, 1.0), overall)


def _clearness(output: Array, clear: Array) -> float:
    """Energy delivered over clear-sky energy (up to a constant: the array's size)."""
    usable = np.isfinite(output) & (clear > _SUN_UP_W_M2)
    total = float(clear[usable].sum())
    return float(output[usable].sum()) / total if total > 0 else float("nan")
