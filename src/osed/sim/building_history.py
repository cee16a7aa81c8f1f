"""Synthetic measured histories of a building, for the learners' tests and studies.

``household_load`` and ``pv_output`` turn the shipped weather year (measured irradiance and
temperature) into a household's load and PV output; ``python -m osed.sim.building_history
tests/data/buildings`` writes them to ``household.csv`` there (the load is generated, not
measured: docs/buildings-learning.md).

``zone_history`` simulates a heating zone on the DAC equation with a thermostat-like heat
pump and weather that drifts from day to day, then adds measurement noise; the parameters it
was made with are known, so a fit can be checked against them.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ZoneHistory:
    step_h: float
    cop: float
    indoor_c: Array  # measured: true temperature plus noise
    outdoor_c: Array
    power_kw: Array


def zone_history(
    *,
    capacitance_kwh_per_k: float,
    resistance_k_per_kw: float,
    cop: float = 3.0,
    step_h: float = 0.25,
    days: int = 28,
    power_max_kw: float | None = None,
    noise_c: float = 0.05,
    seed: int = 0,
) -> ZoneHistory:
    """A zone heated towards a setpoint that changes through the day (night setback), with a
    power that follows the temperature (proportional control, saturating) plus random
    bursts, under an outdoor temperature with a daily swing and a day-to-day random walk."""
    rng = np.random.default_rng(seed)
    steps = round(days * 24 / step_h)
    hours = np.arange(steps) * step_h
    daily = 4.0 * np.sin(2 * np.pi * (hours - 9.0) / 24.0)
    drift = np.cumsum(rng.normal(0.0, 0.6 * np.sqrt(step_h / 24.0), steps))
    outdoor = 4.0 + daily + 3.0 * drift / max(1.0, float(np.abs(drift).max()))
    setpoint = np.where((hours % 24 >= 6) & (hours % 24 < 22), 21.0, 17.5)
    limit = power_max_kw or 1.6 * (21.0 - outdoor.min()) / (resistance_k_per_kw * cop)
    a = step_h / (resistance_k_per_kw * capacitance_kwh_per_k)
    b = step_h * cop / capacitance_kwh_per_k
    temperature = np.empty(steps)
    power = np.empty(steps)
    temperature[0] = 20.0
    burst = rng.random(steps) < 0.05
    for t in range(steps):
        need = (setpoint[t] - temperature[t]) * 2.5 * limit
        power[t] = min(limit, max(0.0, need + (0.6 * limit if burst[t] else 0.0)))
        if t + 1 < steps:
            temperature[t + 1] = (1 - a) * temperature[t] + a * outdoor[t] + b * power[t]
    measured = temperature + rng.normal(0.0, noise_c, steps)
    return ZoneHistory(step_h, cop, measured, outdoor, power)


@dataclass(frozen=True, slots=True)
class Weather:
    """An hourly weather year (a typical meteorological year: months from different years)."""

    start: datetime  # local standard time of the first hour's start
    latitude_deg: float
    longitude_deg: float
    ghi_w_m2: Array
    temp_c: Array


# The shipped weather file (tests/data/buildings/SOURCE.md): Greensboro, NC, UTC−5.
GREENSBORO = (36.1, -79.95, timezone(timedelta(hours=-5)))
TMY_YEAR = 2021  # a typical year has no year of its own; 2021 starts on a Friday, no 29 Feb


def read_tmy_csv(path: Path) -> Weather:
    """The shipped TMY3 extract: one row per hour ending ``hour_ending`` in local time."""
    latitude, longitude, zone = GREENSBORO
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    first = rows[0]
    start = datetime(
        TMY_YEAR, int(first["month"]), int(first["day"]), int(first["hour_ending"]) - 1, tzinfo=zone
    )
    return Weather(
        start=start,
        latitude_deg=latitude,
        longitude_deg=longitude,
        ghi_w_m2=np.array([float(row["ghi_w_m2"]) for row in rows]),
        temp_c=np.array([float(row["temp_c"]) for row in rows]),
    )


def household_load(weather: Weather, *, seed: int = 14) -> Array:
    """Hourly non-controllable load (kW) of a household with electric heating and air
    conditioning: a weekday and a weekend routine, a day-to-day occupancy that drifts (and
    holidays away), heating and cooling that follow the smoothed outdoor temperature, and
    appliance runs at random times."""
    rng = np.random.default_rng(seed)
    hours = weather.temp_c.size
    day = np.arange(hours) // 24
    slot = np.arange(hours) % 24
    weekend = (weather.start.weekday() + day) % 7 >= 5
    weekday_shape = np.interp(
        slot,
        [0, 5, 7, 8, 9, 16, 18, 20, 22, 23],
        [0.1, 0.1, 0.8, 0.6, 0.2, 0.2, 1.0, 1.1, 0.6, 0.2],
    )
    weekend_shape = np.interp(
        slot, [0, 7, 9, 11, 14, 18, 20, 23], [0.15, 0.15, 0.9, 0.7, 0.6, 1.0, 1.1, 0.3]
    )
    routine = np.where(weekend, weekend_shape, weekday_shape)
    days = int(day[-1]) + 1
    occupancy = np.empty(days)
    level = 0.0
    for d in range(days):
        level = 0.7 * level + rng.normal(0.0, 0.12)
        occupancy[d] = 1.0 + level
    for _ in range(3):  # holidays away: only the base load and frost protection remain
        first = int(rng.integers(0, days - 7))
        occupancy[first : first + int(rng.integers(3, 8))] = 0.15
    smoothed = _smooth(weather.temp_c, hours_constant=8.0)
    present = occupancy[day]
    heating = 0.16 * np.maximum(16.0 - smoothed, 0.0) * (0.4 + 0.6 * np.minimum(present, 1.2))
    cooling = 0.2 * np.maximum(weather.temp_c - 24.0, 0.0) * np.minimum(present, 1.2)
    appliances = np.zeros(hours)
    starts = np.flatnonzero(rng.random(hours) < 0.06 * (0.3 + routine) * present)
    for start in starts:
        length = int(rng.integers(1, 3))
        appliances[start : start + length] += rng.gamma(3.0, 0.3)
    noise = rng.lognormal(0.0, 0.12, hours)
    load = (0.25 + 0.9 * routine * present + heating + cooling) * noise + appliances
    return np.round(load, 3)


def pv_output(weather: Weather, *, peak_kw: float = 5.0) -> Array:
    """Hourly output (kW) of a horizontal array of ``peak_kw`` under the file's measured
    irradiance: 86 % system efficiency and −0.4 %/K above 25 °C cell temperature."""
    cell_c = weather.temp_c + 0.03 * weather.ghi_w_m2
    derate = 0.86 * (1.0 - 0.004 * (cell_c - 25.0))
    return np.round(peak_kw * weather.ghi_w_m2 / 1000.0 * derate, 3)


def _smooth(values: Array, hours_constant: float) -> Array:
    weight = 1.0 / hours_constant
    smoothed = np.empty_like(values)
    current = values[0]
    for index, value in enumerate(values):
        current += weight * (value - current)
        smoothed[index] = current
    return smoothed


def write_household_csv(weather: Weather, path: Path) -> None:
    """The shipped household series: ``load_kw`` and ``pv_kw`` per hour of the weather file."""
    load, pv = household_load(weather), pv_output(weather)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["load_kw", "pv_kw"])
        writer.writerows(zip(load.tolist(), pv.tolist(), strict=True))


if __name__ == "__main__":  # python -m osed.sim.building_history tests/data/buildings
    folder = Path(sys.argv[1])
    write_household_csv(read_tmy_csv(folder / "greensboro_tmy3.csv"), folder / "household.csv")
