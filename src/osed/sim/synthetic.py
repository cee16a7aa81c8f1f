"""Synthetic household profiles, generated locally from the seed (nothing is downloaded).

All arrays are (households, steps); hours are local clock hours at each step's mid-point.

* Occupancy (0–1, the share of the household at home and awake): asleep at night (0.1 from
  23:00 to 6:00), everyone up around 7:00, then a household type decides the day: a share
  ``away_share`` of the households is away on working hours (0.1 from 8:30 to 16:30), the
  others stay at home (0.6); the evening is 0.9. Each household shifts the pattern by a seeded
  offset of up to ±45 minutes.
* Non-controllable load: a standby floor plus activity proportional to occupancy, with a
  morning peak around 7:00 and an evening peak around 19:00, scaled so that a household uses
  its ``annual_kwh`` / 365 per day. ``forecast`` is that expectation; the realised draw
  multiplies it by log-normal AR(1) noise (σ = 0.25, one-hour correlation 0.7) and adds
  appliance spikes (kettle, oven: 1–3 kW for one step) at a rate that follows occupancy; the
  forecast includes the spikes' expectation.
* Hot water draws (kW per step): the daily energy spread over a morning peak (showers, 45 %),
  an evening peak (40 %) and the day (15 %, following occupancy), each step's share multiplied
  by seeded gamma noise (shape 0.5: a few large draws, many small ones).
* EV sessions: arrival and departure clock hours (drawn by the scenario's distributions); the
  car arrives on the first day at its arrival hour (the next day when the study starts later)
  and leaves at the following departure hour, clipped to the end of the study.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
Ints = NDArray[np.int64]

STANDBY_SHARE = 0.25  # of the mean power, always on (fridge, standby, network)
NOISE_SIGMA = 0.25
NOISE_HOURLY_CORRELATION = 0.7
SPIKES_PER_OCCUPIED_HOUR = 0.15
SPIKE_KW = (1.0, 3.0)
HOT_WATER_SHARES = (0.45, 0.40, 0.15)  # morning, evening, rest of the day
HOT_WATER_SHAPE = 0.5


def local_hours(start: datetime, steps: int, step_h: float, timezone: str) -> Array:
    """The local clock hour (0–24) at each step's mid-point."""
    zone = ZoneInfo(timezone)
    hours = np.empty(steps)
    for k in range(steps):
        moment = (start + timedelta(hours=step_h * (k + 0.5))).astimezone(zone)
        hours[k] = moment.hour + moment.minute / 60 + moment.second / 3600
    return hours


def _bump(hours: Array, centre: Array | float, width: float) -> Array:
    """A daily Gaussian bump around ``centre`` (wrapping round midnight)."""
    distance = (hours - centre + 12.0) % 24.0 - 12.0
    return np.asarray(np.exp(-0.5 * (distance / width) ** 2), dtype=np.float64)


def _between(hours: Array, low: float, high: float) -> NDArray[np.bool_]:
    if low <= high:
        return (hours >= low) & (hours < high)
    return (hours >= low) | (hours < high)


def occupancy(hours: Array, away: NDArray[np.bool_], rng: np.random.Generator) -> Array:
    """(households, steps) occupancy in [0, 1] (module docstring)."""
    shift = rng.uniform(-0.75, 0.75, away.size)[:, None]
    shifted = (hours[None, :] - shift) % 24.0
    level = np.full(shifted.shape, 0.9)
    level[_between(shifted, 23.0, 6.0)] = 0.1
    level[_between(shifted, 6.0, 8.5)] = 0.8
    day = _between(shifted, 8.5, 16.5)
    level[day] = np.where(np.broadcast_to(away[:, None], shifted.shape), 0.1, 0.6)[day]
    return level


@dataclass(frozen=True, slots=True)
class Load:
    forecast_kw: Array
    realised_kw: Array


def household_load(
    hours: Array,
    step_h: float,
    occupied: Array,
    annual_kwh: Array,
    rng: np.random.Generator,
) -> Load:
    """Each household's non-controllable load: expectation and realised draw (kW)."""
    households, steps = occupied.shape
    activity = occupied * (0.4 + 0.8 * _bump(hours, 7.25, 0.8) + 1.2 * _bump(hours, 19.0, 1.6))
    # Shape normalised to one day's mean, so that a day uses annual_kwh / 365.
    day_steps = max(1, round(24.0 / step_h))
    mean_activity = activity[:, : min(day_steps, steps)].mean(axis=1, keepdims=True)
    mean_kw = (annual_kwh / 8760.0)[:, None]
    spike_rate = SPIKES_PER_OCCUPIED_HOUR * step_h * occupied
    spike_mean_kw = spike_rate * float(np.mean(SPIKE_KW))
    smooth = mean_kw * (STANDBY_SHARE + (1 - STANDBY_SHARE) * activity / mean_activity)
    forecast = np.clip(smooth - spike_mean_kw, 0.05, None) + spike_mean_kw
    phi = NOISE_HOURLY_CORRELATION**step_h
    shocks = rng.normal(0.0, NOISE_SIGMA * np.sqrt(1 - phi**2), (households, steps))
    noise = np.empty((households, steps))
    level = rng.normal(0.0, NOISE_SIGMA, households)
    for k in range(steps):
        level = phi * level + shocks[:, k] if k else level
        noise[:, k] = level
    # E[exp(X)] = exp(σ²/2) for X ~ N(0, σ²): divide it out so the expectation is kept.
    lognormal = np.exp(noise - NOISE_SIGMA**2 / 2)
    spikes = (rng.random((households, steps)) < spike_rate) * rng.uniform(
        *SPIKE_KW, (households, steps)
    )
    realised = (forecast - spike_mean_kw) * lognormal + spikes
    return Load(forecast, realised)


def hot_water_draws(
    hours: Array,
    step_h: float,
    occupied: Array,
    daily_kwh: Array,
    rng: np.random.Generator,
) -> Array:
    """(households, steps) hot water drawn per step (kW), ``daily_kwh`` a day on average."""
    households, steps = occupied.shape
    morning_centre = np.asarray(rng.normal(7.0, 0.5, households))[:, None]
    evening_centre = np.asarray(rng.normal(20.0, 1.0, households))[:, None]
    parts = (
        _bump(hours[None, :], morning_centre, 0.5),
        _bump(hours[None, :], evening_centre, 0.8),
        occupied,
    )
    day_steps = min(steps, max(1, round(24.0 / step_h)))
    shape = np.zeros((households, steps))
    for share, part in zip(HOT_WATER_SHARES, parts, strict=True):
        total = part[:, :day_steps].sum(axis=1, keepdims=True) * step_h
        shape += share * part / np.where(total > 0, total, 1.0)
    noise = rng.gamma(HOT_WATER_SHAPE, 1.0 / HOT_WATER_SHAPE, (households, steps))
    return np.asarray(daily_kwh[:, None] * shape * noise, dtype=np.float64)


def ev_windows(
    start: datetime,
    steps: int,
    step_h: float,
    timezone: str,
    *,
    arrival_h: Array,
    departure_h: Array,
) -> tuple[Ints, Ints]:
    """Arrival and departure steps (departure exclusive, at most ``steps``) of each EV."""
    zone = ZoneInfo(timezone)
    local_start = start.astimezone(zone)
    midnight = local_start.replace(hour=0, minute=0, second=0, microsecond=0)
    offset_h = (local_start - midnight).total_seconds() / 3600.0
    arrive = np.where(arrival_h >= offset_h, arrival_h, arrival_h + 24.0) - offset_h
    stay = (departure_h - arrival_h) % 24.0
    leave = arrive + np.where(stay > 0, stay, 24.0)
    arrival_step = np.minimum(np.ceil(arrive / step_h - 1e-9), steps).astype(np.int64)
    departure_step = np.minimum(np.floor(leave / step_h + 1e-9), steps).astype(np.int64)
    return arrival_step, np.maximum(departure_step, arrival_step)
