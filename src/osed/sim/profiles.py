"""Synthetic daily profiles at quarter-hour resolution: load, PV, outdoor temperature, tariff.

Shapes are smooth textbook curves with seeded noise, enough to give a market realistic daily
structure (a morning and an evening peak, a midday PV bell, a time-of-use tariff).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def hours_of_day(intervals: int) -> FloatArray:
    """The mid-point hour of each of ``intervals`` equal slots of a day."""
    step = 24.0 / intervals
    return np.arange(intervals, dtype=np.float64) * step + step / 2


def household_load_kw(hours: FloatArray, rng: np.random.Generator) -> FloatArray:
    """A household's non-flexible load: base, morning and evening peaks, scaled per home."""
    base = 0.25 + 0.1 * rng.random()
    morning = 0.6 * np.exp(-(((hours - 7.5) / 1.2) ** 2))
    evening = 1.1 * np.exp(-(((hours - 19.0) / 2.0) ** 2))
    scale = 0.7 + 0.6 * rng.random()
    noise = 1 + 0.05 * rng.standard_normal(hours.size)
    return np.clip((base + morning + evening) * scale * noise, 0.05, None)


def pv_kw(hours: FloatArray, peak_kw: float) -> FloatArray:
    """A clear-sky PV bell between 6:00 and 20:00."""
    shape = np.clip(np.sin(np.pi * (hours - 6.0) / 14.0), 0.0, None)
    return peak_kw * shape**1.5


def outdoor_temperature_c(hours: FloatArray) -> FloatArray:
    """A summer day: 19 °C before dawn, 33 °C mid-afternoon."""
    return 26.0 + 7.0 * np.sin(np.pi * (hours - 9.0) / 12.0)


def time_of_use_price(hours: FloatArray) -> FloatArray:
    """A retail tariff in currency per kWh: off-peak, shoulder and an evening peak."""
    price = np.full(hours.size, 0.10)
    price[(hours >= 7) & (hours < 17)] = 0.16
    price[(hours >= 17) & (hours < 21)] = 0.30
    return price
