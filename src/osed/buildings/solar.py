"""Where the sun is and how much it gives under a clear sky, for PV forecasts without weather.

Solar declination and the equation of time follow Spencer's Fourier series (1971, accurate to
a few hundredths of a degree, plenty for hourly PV); clear-sky global horizontal irradiance
follows Haurwitz's model, GHI = 1098 cos z · exp(−0.059 / cos z) W/m², which needs nothing but
the zenith angle and does about as well as models with aerosol inputs at hourly resolution.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


def cos_zenith(
    day_of_year: Array, utc_hour: Array, latitude_deg: float, longitude_deg: float
) -> Array:
    """Cosine of the solar zenith angle (negative at night) at fractional UTC hours of the
    given days of the year (1 = 1 January)."""
    gamma = 2 * np.pi * (day_of_year - 1 + (utc_hour - 12) / 24) / 365
    declination = (
        0.006918
        - 0.399912 * np.cos(gamma)
        + 0.070257 * np.sin(gamma)
        - 0.006758 * np.cos(2 * gamma)
        + 0.000907 * np.sin(2 * gamma)
        - 0.002697 * np.cos(3 * gamma)
        + 0.00148 * np.sin(3 * gamma)
    )
    time_equation_min = 229.18 * (
        0.000075
        + 0.001868 * np.cos(gamma)
        - 0.032077 * np.sin(gamma)
        - 0.014615 * np.cos(2 * gamma)
        - 0.040849 * np.sin(2 * gamma)
    )
    solar_minutes = utc_hour * 60 + time_equation_min + 4 * longitude_deg
    hour_angle = np.radians(solar_minutes / 4 - 180)
    latitude = np.radians(latitude_deg)
    return np.asarray(
        np.sin(latitude) * np.sin(declination)
        + np.cos(latitude) * np.cos(declination) * np.cos(hour_angle),
        dtype=np.float64,
    )


def clear_sky_ghi(cos_z: Array) -> Array:
    """Haurwitz clear-sky global horizontal irradiance in W/m² (0 when the sun is down)."""
    up = np.clip(cos_z, 1e-6, None)
    return np.where(cos_z > 0, 1098.0 * up * np.exp(-0.059 / up), 0.0)


def interval_clear_sky(
    day_of_year: Array,
    utc_hour_start: Array,
    step_h: float,
    latitude_deg: float,
    longitude_deg: float,
    *,
    points: int = 6,
) -> Array:
    """Mean clear-sky GHI over each interval [start, start + step_h), averaged over
    ``points`` instants (sunrise and sunset fall inside an hour)."""
    offsets = (np.arange(points) + 0.5) / points * step_h
    hours = utc_hour_start[:, None] + offsets[None, :]
    days = day_of_year[:, None] + np.floor(hours / 24)
    cos_z = cos_zenith(days, hours % 24, latitude_deg, longitude_deg)
    return np.asarray(clear_sky_ghi(cos_z).mean(axis=1), dtype=np.float64)
