"""A study's weather: clear-sky irradiance from pvlib, a seeded cloud model, PV per kWp and the
outdoor temperature, one value per step (taken at the step's mid-point).

* Clear sky: pvlib's solar position and the Ineichen–Perez model with a fixed Linke turbidity
  at the site's latitude, longitude and altitude.
* Clouds: the clear-sky index k follows a Markov chain over three sky states (clear k = 1,
  broken k = 0.65, overcast k = 0.3, each with a little seeded jitter). The chain stays in its
  state with probability ``persistence`` per hour and otherwise draws the next state from the
  stationary shares (1 − c, 0.6 c, 0.4 c) for cloudiness c, so c is the long-run share of
  cloudy steps. Clouds scale the beam and the diffuse irradiance alike.
* PV: plane-of-array irradiance (pvlib's isotropic transposition), cell temperature (Faiman)
  and PVWatts' DC model with the temperature coefficient, less the system losses; per kWp.
  The forecast is the same conversion with the expected clear-sky index.
* Temperature: a daily cosine around a mean, warmest at ``peak_hour`` local time, plus AR(1)
  noise with the given standard deviation and a one-hour correlation of 0.9.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

SKY_INDEX = np.array([1.0, 0.65, 0.3])
SKY_JITTER = 0.05
CLOUDY_SPLIT = np.array([0.6, 0.4])  # broken, overcast shares of the cloudy time
TEMPERATURE_HOURLY_CORRELATION = 0.9


@dataclass(frozen=True, slots=True)
class WeatherSpec:
    latitude: float
    longitude: float
    altitude_m: float = 0.0
    linke_turbidity: float = 3.0
    tilt_deg: float = 30.0
    azimuth_deg: float = 180.0
    gamma_per_k: float = -0.004
    system_losses: float = 0.14
    cloudiness: float = 0.3
    persistence: float = 0.8
    mean_c: float = 10.0
    amplitude_c: float = 5.0
    peak_hour: float = 15.0
    noise_c: float = 0.5


@dataclass(frozen=True, slots=True)
class Weather:
    ghi_w_m2: Array
    """Realised global horizontal irradiance (clouds included)."""
    clear_ghi_w_m2: Array
    sky_index: Array
    pv_per_kwp: Array
    """Realised PV AC power per kWp installed (kW/kWp)."""
    pv_forecast_per_kwp: Array
    outdoor_c: Array


def step_midpoints(start: datetime, steps: int, step_h: float) -> list[datetime]:
    return [start + timedelta(hours=step_h * (k + 0.5)) for k in range(steps)]


def generate_weather(
    spec: WeatherSpec,
    start: datetime,
    steps: int,
    step_h: float,
    *,
    local_hours: Array,
    rng_clouds: np.random.Generator,
    rng_temperature: np.random.Generator,
) -> Weather:
    import pandas as pd  # noqa: PLC0415 - the sim extra; imported when a study is made
    import pvlib  # noqa: PLC0415

    times = pd.DatetimeIndex(step_midpoints(start, steps, step_h))
    position = pvlib.solarposition.get_solarposition(
        times, spec.latitude, spec.longitude, altitude=spec.altitude_m
    )
    apparent_zenith = position["apparent_zenith"].to_numpy(dtype=float)
    zenith = position["zenith"].to_numpy(dtype=float)
    azimuth = position["azimuth"].to_numpy(dtype=float)
    dni_extra = np.asarray(pvlib.irradiance.get_extra_radiation(times), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):  # the sun below the horizon: NaN, 0
        airmass = pvlib.atmosphere.get_absolute_airmass(
            pvlib.atmosphere.get_relative_airmass(apparent_zenith),
            pvlib.atmosphere.alt2pres(spec.altitude_m),
        )
        clear = pvlib.clearsky.ineichen(
            apparent_zenith, airmass, spec.linke_turbidity, spec.altitude_m, dni_extra
        )
    clear_ghi = np.nan_to_num(np.asarray(clear["ghi"], dtype=float)).clip(min=0.0)
    clear_dni = np.nan_to_num(np.asarray(clear["dni"], dtype=float)).clip(min=0.0)
    clear_dhi = np.nan_to_num(np.asarray(clear["dhi"], dtype=float)).clip(min=0.0)
    poa = pvlib.irradiance.get_total_irradiance(
        spec.tilt_deg, spec.azimuth_deg, zenith, azimuth, clear_dni, clear_ghi, clear_dhi
    )
    clear_poa = np.nan_to_num(np.asarray(poa["poa_global"], dtype=float)).clip(min=0.0)
    sky = sky_index(spec.cloudiness, spec.persistence, steps, step_h, rng_clouds)
    outdoor = outdoor_temperature(spec, local_hours, step_h, rng_temperature)
    expected_sky = float(np.dot(_stationary(spec.cloudiness), SKY_INDEX))

    def pv_per_kwp(poa_w_m2: Array) -> Array:
        cell = pvlib.temperature.faiman(poa_w_m2, outdoor, 1.0)
        dc = pvlib.pvsystem.pvwatts_dc(
            poa_w_m2, np.asarray(cell, dtype=float), 1.0, spec.gamma_per_k
        )
        return np.clip(np.asarray(dc, dtype=float) * (1.0 - spec.system_losses), 0.0, 1.0)

    return Weather(
        ghi_w_m2=clear_ghi * sky,
        clear_ghi_w_m2=clear_ghi,
        sky_index=sky,
        pv_per_kwp=pv_per_kwp(clear_poa * sky),
        pv_forecast_per_kwp=pv_per_kwp(clear_poa * expected_sky),
        outdoor_c=outdoor,
    )


def _stationary(cloudiness: float) -> Array:
    return np.array([1.0 - cloudiness, *(cloudiness * CLOUDY_SPLIT)])


def sky_index(
    cloudiness: float, persistence: float, steps: int, step_h: float, rng: np.random.Generator
) -> Array:
    """The clear-sky index per step from the Markov chain of sky states (module docstring)."""
    stay = persistence**step_h  # the hourly persistence at this resolution
    shares = _stationary(cloudiness)
    cumulative = np.cumsum(shares)
    keep = rng.random(steps) < stay
    fresh = np.minimum(np.searchsorted(cumulative, rng.random(steps), side="right"), 2)
    states = np.empty(steps, dtype=np.int64)
    state = int(fresh[0])
    for k in range(steps):
        if k and not keep[k]:
            state = int(fresh[k])
        states[k] = state
    jitter = rng.normal(0.0, SKY_JITTER, steps)
    return np.clip(SKY_INDEX[states] + jitter, 0.05, 1.1)


def outdoor_temperature(
    spec: WeatherSpec, local_hours: Array, step_h: float, rng: np.random.Generator
) -> Array:
    daily = spec.mean_c + spec.amplitude_c * np.cos(
        2 * np.pi * (local_hours - spec.peak_hour) / 24.0
    )
    phi = TEMPERATURE_HOURLY_CORRELATION**step_h
    shocks = rng.normal(0.0, spec.noise_c * np.sqrt(1 - phi**2), local_hours.size)
    noise = np.empty(local_hours.size)
    level = rng.normal(0.0, spec.noise_c)
    for k, shock in enumerate(shocks):
        level = phi * level + shock if k else level
        noise[k] = level
    return daily + noise
