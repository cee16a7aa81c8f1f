"""The weather model: PV only by day, irradiance and temperature within physical bounds, the
cloud chain's long-run share of cloudy steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pvlib
from hypothesis import given, settings
from hypothesis import strategies as st

from osed.sim.synthetic import local_hours
from osed.sim.weather import SKY_INDEX, Weather, WeatherSpec, generate_weather, sky_index

SOLAR_CONSTANT_W_M2 = 1361.0


def weather_for(
    spec: WeatherSpec, start: datetime, steps: int = 96, step_h: float = 0.25
) -> Weather:
    hours = local_hours(start, steps, step_h, "UTC")
    return generate_weather(
        spec,
        start,
        steps,
        step_h,
        local_hours=hours,
        rng_clouds=np.random.default_rng(1),
        rng_temperature=np.random.default_rng(2),
    )


@settings(max_examples=25, deadline=None)
@given(
    latitude=st.floats(-65, 65),
    longitude=st.floats(-180, 180),
    day=st.integers(0, 364),
    cloudiness=st.floats(0, 1),
    mean_c=st.floats(-20, 35),
    amplitude_c=st.floats(0, 12),
)
def test_weather_stays_within_physical_bounds(
    *,
    latitude: float,
    longitude: float,
    day: int,
    cloudiness: float,
    mean_c: float,
    amplitude_c: float,
) -> None:
    spec = WeatherSpec(
        latitude, longitude, cloudiness=cloudiness, mean_c=mean_c, amplitude_c=amplitude_c
    )
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=day)
    weather = weather_for(spec, start)
    times = [start + timedelta(minutes=15 * k + 7.5) for k in range(96)]
    import pandas as pd

    elevation = pvlib.solarposition.get_solarposition(pd.DatetimeIndex(times), latitude, longitude)[
        "apparent_elevation"
    ].to_numpy()
    night = elevation < 0
    # No sun, no irradiance and no PV; by day never more than the sun delivers above the air.
    assert (weather.ghi_w_m2[night] == 0).all()
    assert (weather.pv_per_kwp[night] == 0).all()
    assert (weather.pv_forecast_per_kwp[night] == 0).all()
    assert (weather.ghi_w_m2 >= 0).all()
    assert (weather.ghi_w_m2 <= 1.1 * SOLAR_CONSTANT_W_M2).all()
    assert (weather.clear_ghi_w_m2 <= SOLAR_CONSTANT_W_M2).all()
    assert ((weather.pv_per_kwp >= 0) & (weather.pv_per_kwp <= 1)).all()
    assert ((weather.sky_index >= 0.05) & (weather.sky_index <= 1.1)).all()
    # The daily swing and a noise of 0.5 °C standard deviation (6 σ) bound the temperature.
    assert (np.abs(weather.outdoor_c - mean_c) <= amplitude_c + 3.0).all()


def test_pv_follows_the_day_at_a_known_place() -> None:
    # Munich around the equinox: light from about 05:00 to 17:30 UTC, strongest near noon.
    spec = WeatherSpec(48.14, 11.58, cloudiness=0.0)
    weather = weather_for(spec, datetime(2026, 3, 20, tzinfo=UTC))
    hours = np.arange(96) * 0.25 + 0.125
    assert (weather.pv_per_kwp[(hours < 4.5) | (hours > 18.5)] == 0).all()
    peak = hours[np.argmax(weather.clear_ghi_w_m2)]
    assert 10.5 <= peak <= 11.5  # solar noon at 11.58° east: about 11:15 UTC
    # A clear equinox noon at 48° N: a GHI of some 600–800 W/m², a south-facing array near
    # its rating less the losses.
    assert 600 <= weather.clear_ghi_w_m2.max() <= 850
    assert 0.6 <= weather.pv_per_kwp.max() <= 0.95


def test_the_cloud_chain_keeps_its_cloudiness() -> None:
    rng = np.random.default_rng(5)
    sky = sky_index(0.4, 0.8, 40_000, 0.25, rng)
    clear = np.abs(sky - SKY_INDEX[0]) < 0.2
    assert abs((1 - clear.mean()) - 0.4) < 0.03
    # Persistent: most steps keep the state of the step before.
    state = np.argmin(np.abs(sky[:, None] - SKY_INDEX[None, :]), axis=1)
    assert (state[1:] == state[:-1]).mean() > 0.9


def test_the_same_generators_give_the_same_weather() -> None:
    spec = WeatherSpec(48.14, 11.58)
    start = datetime(2026, 6, 1, tzinfo=UTC)
    a, b = weather_for(spec, start), weather_for(spec, start)
    for name in ("ghi_w_m2", "pv_per_kwp", "outdoor_c", "sky_index"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
