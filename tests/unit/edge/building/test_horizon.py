"""The building seen from step k: every series rolled so that index 0 is step k of the day
(repeating daily), EV windows moved as many steps earlier and not before now."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from osed.buildings.devices_schema import Building, Device, pv
from osed.edge.building.horizon import from_step


@given(
    st.integers(1, 12).flatmap(
        lambda n: st.tuples(
            st.lists(st.floats(-5.0, 5.0), min_size=n, max_size=n),
            st.lists(st.floats(0.0, 5.0), min_size=n, max_size=n),
            st.integers(0, n).flatmap(lambda a: st.tuples(st.just(a), st.integers(a, n))),
        )
    ),
    st.integers(0, 40),
)
def test_series_roll_and_ev_windows_move(
    case: tuple[list[float], list[float], tuple[int, int]], k: int
) -> None:
    base, sun, (arrival, departure) = case
    n = len(base)
    ev = Device(
        "ev",
        "ev",
        {
            "arrival_step": arrival,
            "departure_step": departure,
            "energy_kwh": 5.0,
            "charge_max_kw": 7.0,
        },
    )
    day = Building("b", np.asarray(base), (pv("roof", np.asarray(sun)), ev))
    here = from_step(day, k)
    shift = k % n
    if shift == 0:
        assert here is day
        return
    assert np.array_equal(here.base_kw, np.roll(day.base_kw, -shift))
    assert np.array_equal(here.devices[0]["power_kw"], np.roll(np.asarray(sun), -shift))
    assert here.devices[0]["curtailable"] is False
    assert here.devices[1]["arrival_step"] == max(0, arrival - shift)
    assert here.devices[1]["departure_step"] == max(0, departure - shift)
    assert np.array_equal(day.base_kw, np.asarray(base))  # the day itself is left as it was
