"""Device physics: each kind's step against the DAC equations written out by hand, its limits,
and many devices at once equal to each alone."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from osed.buildings.physics import Batteries, Evs, HeatingZones, Loads, PvSystems, WaterHeaters

H = 0.25
BATTERY = {
    "capacity_kwh": 10.0,
    "soc_min": 0.1,
    "soc_max": 0.9,
    "charge_max_kw": 4.0,
    "discharge_max_kw": 5.0,
    "charge_efficiency": 0.95,
    "discharge_efficiency": 0.9,
}
ZONE = {
    "capacitance_kwh_per_k": 3.0,
    "resistance_k_per_kw": 5.0,
    "cop": 3.0,
    "power_max_kw": 2.0,
    "outdoor_c": [0.0, 5.0, 10.0],
}
TANK = {"energy_max_kwh": 8.0, "power_max_kw": 3.0, "loss_kw": 0.1, "draw_kw": [0.0, 2.0]}


def one(value: float) -> np.ndarray:
    return np.array([value])


def test_battery_charges_and_discharges_by_the_dac_equation() -> None:
    batteries = Batteries.of([BATTERY])
    soc, power = batteries.step(one(0.5), one(2.0), H)
    assert power[0] == pytest.approx(2.0)
    assert soc[0] == pytest.approx((5.0 + H * 0.95 * 2.0) / 10.0)
    soc, power = batteries.step(one(0.5), one(-3.0), H)
    assert power[0] == pytest.approx(-3.0)
    assert soc[0] == pytest.approx((5.0 - H * 3.0 / 0.9) / 10.0)


def test_battery_stops_at_its_power_and_energy_limits() -> None:
    batteries = Batteries.of([BATTERY])
    _, power = batteries.step(one(0.5), one(9.0), H)
    assert power[0] == pytest.approx(4.0)
    soc, power = batteries.step(one(0.89), one(4.0), H)
    assert soc[0] == pytest.approx(0.9)
    assert power[0] == pytest.approx(0.1 / (H * 0.95))
    soc, power = batteries.step(one(0.1), one(-5.0), H)
    assert soc[0] == pytest.approx(0.1)
    assert power[0] == pytest.approx(0.0)


def test_ev_charges_only_while_plugged_in_and_up_to_its_energy() -> None:
    evs = Evs.of(
        [{"arrival_step": 2, "departure_step": 6, "energy_kwh": 1.5, "charge_max_kw": 4.0}],
        period=8,
    )
    delivered = one(0.0)
    powers = []
    for k in range(8):
        delivered, power = evs.step(delivered, one(4.0), k, H)
        powers.append(power[0])
    assert powers == pytest.approx([0, 0, 4.0, 2.0, 0, 0, 0, 0])
    assert delivered[0] == pytest.approx(1.5)
    assert evs.plugged(10)[0]  # the next day's session (period 8)
    delivered, _ = evs.step(delivered, one(0.0), 10, H)
    assert delivered[0] == pytest.approx(0.0)  # a new session starts empty


def test_heating_zone_follows_the_rc_equation_and_its_thermostat_reaches_the_setpoint() -> None:
    zones = HeatingZones.of([ZONE])
    t, power = zones.step(one(20.0), one(1.5), 1, H)
    assert power[0] == pytest.approx(1.5)
    assert t[0] == pytest.approx(20.0 + H / 3.0 * ((5.0 - 20.0) / 5.0 + 3.0 * 1.5))
    p = zones.thermostat_kw(one(20.0), one(20.2), 1, H)
    t, _ = zones.step(one(20.0), p, 1, H)
    assert t[0] == pytest.approx(20.2)
    assert zones.thermostat_kw(one(20.0), one(30.0), 1, H)[0] == pytest.approx(2.0)
    assert zones.thermostat_kw(one(20.0), one(10.0), 1, H)[0] == pytest.approx(0.0)
    assert zones.outdoor(4)[0] == pytest.approx(5.0)  # the profile repeats


def test_water_heater_follows_draws_and_losses_and_stops_when_full() -> None:
    tanks = WaterHeaters.of([TANK])
    w, power = tanks.step(one(4.0), one(1.0), 1, H)
    assert power[0] == pytest.approx(1.0)
    assert w[0] == pytest.approx(4.0 + H * (1.0 - 2.0 - 0.1))
    w, power = tanks.step(one(7.9), one(3.0), 0, H)
    assert w[0] == pytest.approx(8.0)
    assert power[0] == pytest.approx(0.1 / H + 0.1)
    w, _ = tanks.step(one(0.2), one(0.0), 1, H)
    assert w[0] == 0.0


def test_pv_feeds_in_its_profile_up_to_a_limit_and_load_draws_its_profile() -> None:
    pv = PvSystems.of([{"profile_kw": [0.0, 3.0]}])
    assert pv.power(1)[0] == pytest.approx(-3.0)
    assert pv.power(1, one(1.0))[0] == pytest.approx(-1.0)
    assert Loads.of([{"profile_kw": [0.4, 0.6]}]).power(3)[0] == pytest.approx(0.6)


@given(
    st.lists(
        st.tuples(
            st.floats(0.1, 0.9),
            st.floats(-8.0, 8.0),
            st.floats(0.5, 1.0),
            st.floats(0.5, 1.0),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_many_batteries_step_as_each_alone_and_keep_their_energy_balance(
    cases: list[tuple[float, float, float, float]],
) -> None:
    devices = [
        {**BATTERY, "charge_efficiency": ec, "discharge_efficiency": ed} for _, _, ec, ed in cases
    ]
    soc0 = np.array([c[0] for c in cases])
    asked = np.array([c[1] for c in cases])
    soc, power = Batteries.of(devices).step(soc0, asked, H)
    for k, device in enumerate(devices):
        alone, alone_power = Batteries.of([device]).step(soc0[k : k + 1], asked[k : k + 1], H)
        assert soc[k] == pytest.approx(alone[0])
        assert power[k] == pytest.approx(alone_power[0])
        ec, ed = device["charge_efficiency"], device["discharge_efficiency"]
        gain = H * (ec * max(power[k], 0.0) - max(-power[k], 0.0) / ed)
        assert (soc[k] - soc0[k]) * 10.0 == pytest.approx(gain, abs=1e-9)
        assert 0.1 - 1e-12 <= soc[k] <= 0.9 + 1e-12
        assert abs(power[k]) <= abs(asked[k]) + 1e-12


@given(st.lists(st.integers(1, 5), min_size=0, max_size=8), st.integers(0, 40))
def test_profiles_give_each_series_value_at_a_step_whatever_their_lengths(
    lengths: list[int], step: int
) -> None:
    series = [np.arange(n, dtype=float) + 10 * j for j, n in enumerate(lengths)]
    loads = Loads.of([{"profile_kw": s} for s in series])
    assert loads.power(step).tolist() == [s[step % s.size] for s in series]
