"""Sunset time from the NOAA solar position equations (accurate to about a minute).

pymfm's default ``day_end`` is the sunset in Berlin on the day of ``uc_start``.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

BERLIN = (52.52, 13.40)
_ZENITH = 90.833  # refraction and the solar disc's radius, in degrees


def sunset(day: date, latitude: float, longitude: float) -> datetime:
    """The UTC instant of sunset on ``day`` at the place (degrees north, degrees east)."""
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC) - timedelta(hours=longitude / 15)
    instant = noon
    for _ in range(3):  # evaluate the sun's position at the sunset itself
        declination, equation_of_time = _sun(instant)
        lat, dec = math.radians(latitude), math.radians(declination)
        cos_hour = (math.cos(math.radians(_ZENITH)) - math.sin(lat) * math.sin(dec)) / (
            math.cos(lat) * math.cos(dec)
        )
        hour_angle = math.degrees(math.acos(max(-1.0, min(1.0, cos_hour))))
        minutes = 720 - 4 * longitude - equation_of_time + 4 * hour_angle
        instant = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(minutes=minutes)
    return instant


def _sun(instant: datetime) -> tuple[float, float]:
    """Solar declination (degrees) and equation of time (minutes) at ``instant``."""
    julian = instant.timestamp() / 86400.0 + 2440587.5
    t = (julian - 2451545.0) / 36525.0
    mean_longitude = (280.46646 + t * (36000.76983 + 0.0003032 * t)) % 360
    anomaly = 357.52911 + t * (35999.05029 - 0.0001537 * t)
    eccentricity = 0.016708634 - t * (0.000042037 + 0.0000001267 * t)
    m = math.radians(anomaly)
    centre = (
        math.sin(m) * (1.914602 - t * (0.004817 + 0.000014 * t))
        + math.sin(2 * m) * (0.019993 - 0.000101 * t)
        + math.sin(3 * m) * 0.000289
    )
    omega = math.radians(125.04 - 1934.136 * t)
    apparent = mean_longitude + centre - 0.00569 - 0.00478 * math.sin(omega)
    seconds = 21.448 - t * (46.815 + t * (0.00059 - t * 0.001813))
    obliquity = 23 + (26 + seconds / 60) / 60 + 0.00256 * math.cos(omega)
    eps = math.radians(obliquity)
    declination = math.degrees(math.asin(math.sin(eps) * math.sin(math.radians(apparent))))
    y = math.tan(eps / 2) ** 2
    l0 = math.radians(mean_longitude)
    equation = 4 * math.degrees(
        y * math.sin(2 * l0)
        - 2 * eccentricity * math.sin(m)
        + 4 * eccentricity * y * math.sin(m) * math.cos(2 * l0)
        - 0.5 * y * y * math.sin(4 * l0)
        - 1.25 * eccentricity * eccentricity * math.sin(2 * m)
    )
    return declination, equation
