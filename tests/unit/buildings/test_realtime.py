"""The real-time rule: within one control cycle the import is brought under the limit when
the devices can take the spike away, and never by leaving a device's limits, its SoC window
or a comfort band; without a spike the plan's setpoints stand."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osed.buildings.devices_schema import Building, Device
from osed.buildings.realtime import Reading, control, ev_needs_kw

N = 4
TOL = 1e-9


def building(
    *,
    capacity_kwh: float = 10.0,
    charge_max_kw: float = 3.0,
    discharge_max_kw: float = 3.0,
    capacitance_kwh_per_k: float = 5.0,
    resistance_k_per_kw: float = 4.0,
    heating_max_kw: float = 3.0,
    outdoor_c: float = 0.0,
    draw_kw: float = 0.3,
) -> Building:
    """A battery, an EV plugged in over steps 1 and 2, a heating zone and a water heater."""
    return Building(
        "b",
        np.zeros(N),
        (
            Device(
                "battery",
                "battery",
                {
                    "capacity_kwh": capacity_kwh,
                    "soc_init": 0.5,
                    "soc_min": 0.1,
                    "soc_max": 0.9,
                    "soc_final_min": 0.5,
                    "charge_max_kw": charge_max_kw,
                    "discharge_max_kw": discharge_max_kw,
                    "charge_efficiency": 0.95,
                    "discharge_efficiency": 0.9,
                },
            ),
            Device(
                "ev",
                "ev",
                {"arrival_step": 1, "departure_step": 3, "energy_kwh": 10.0, "charge_max_kw": 7.0},
            ),
            Device(
                "zone",
                "heating",
                {
                    "capacitance_kwh_per_k": capacitance_kwh_per_k,
                    "resistance_k_per_kw": resistance_k_per_kw,
                    "cop": 3.0,
                    "power_max_kw": heating_max_kw,
                    "temp_init_c": 20.0,
                    "outdoor_c": np.full(N, outdoor_c),
                    "comfort_min_c": np.full(N, 19.0),
                    "comfort_max_c": np.full(N, 23.0),
                },
            ),
            Device(
                "boiler",
                "water_heater",
                {
                    "energy_max_kwh": 8.0,
                    "energy_min_kwh": 1.0,
                    "energy_init_kwh": 4.0,
                    "power_max_kw": 3.0,
                    "draw_kw": np.full(N, draw_kw),
                    "loss_kw": 0.05,
                },
            ),
        ),
    )


@st.composite
def situations(draw: st.DrawFn) -> dict[str, Any]:
    built = building(
        capacity_kwh=draw(st.floats(2.0, 20.0)),
        charge_max_kw=draw(st.floats(0.5, 5.0)),
        discharge_max_kw=draw(st.floats(0.5, 5.0)),
        capacitance_kwh_per_k=draw(st.floats(2.0, 10.0)),
        resistance_k_per_kw=draw(st.floats(2.0, 10.0)),
        heating_max_kw=draw(st.floats(1.0, 5.0)),
        outdoor_c=draw(st.floats(-10.0, 10.0)),
        draw_kw=draw(st.floats(0.0, 2.0)),
    )
    state = {
        "battery": draw(st.floats(0.1, 0.9)),
        "ev": draw(st.floats(0.0, 10.0)),
        "zone": draw(st.floats(19.0, 23.0)),
        "boiler": draw(st.floats(1.0, 8.0)),
    }
    planned = {
        "battery": draw(st.floats(-5.0, 5.0)),
        "ev": draw(st.floats(0.0, 7.0)),
        "zone": draw(st.floats(0.0, 5.0)),
        "boiler": draw(st.floats(0.0, 3.0)),
    }
    measured = {name: draw(st.floats(-5.0, 7.0)) for name in planned}
    rest = draw(st.floats(0.0, 15.0))  # base load with its spike
    return {
        "building": built,
        "step": draw(st.integers(0, N - 1)),
        "state": state,
        "planned": planned,
        "reading": Reading(rest + sum(measured.values()), measured, state),
        "rest": rest,
        "limit": draw(st.floats(0.0, 15.0)),
        "cycle_h": draw(st.sampled_from([1 / 360, 1 / 60, 0.25])),
    }


def _after_one_cycle(device: Device, power: float, state: float, step: int, h: float) -> float:
    """The device's state at the end of the cycle, from its equation."""
    d = device
    if d.kind == "battery":
        gain = d["charge_efficiency"] * power if power >= 0 else power / d["discharge_efficiency"]
        return state + h * gain / d["capacity_kwh"]
    if d.kind == "heating":
        c, r = d["capacitance_kwh_per_k"], d["resistance_k_per_kw"]
        return state + h / c * ((d["outdoor_c"][step] - state) / r + d["cop"] * power)
    if d.kind == "water_heater":
        return state + h * (power - d["draw_kw"][step] - d["loss_kw"])
    return state - h * power  # ev: energy still to charge


def _lowest(device: Device, state: float, step: int, h: float) -> float:
    """The least power that keeps the device within its limits and band over the cycle,
    found by bisection on its equation (independent of the rule's closed forms)."""
    d = device
    if d.kind == "battery":
        low, high = -d["discharge_max_kw"], 0.0
        ok = lambda p: _after_one_cycle(d, p, state, step, h) >= d["soc_min"]  # noqa: E731
    elif d.kind == "ev":
        return 0.0
    elif d.kind == "heating":
        low, high = 0.0, d["power_max_kw"]
        ok = lambda p: _after_one_cycle(d, p, state, step, h) >= d["comfort_min_c"][step]  # noqa: E731
    else:
        low, high = 0.0, d["power_max_kw"]
        ok = lambda p: _after_one_cycle(d, p, state, step, h) >= d["energy_min_kwh"]  # noqa: E731
    if ok(low):
        return low
    if not ok(high):
        return high
    for _ in range(80):
        middle = (low + high) / 2
        low, high = (low, middle) if ok(middle) else (middle, high)
    return high


@settings(max_examples=400, deadline=None)
@given(situations())
def test_setpoints_meet_the_limit_within_one_cycle_and_keep_every_band(s: dict[str, Any]) -> None:
    step, h = s["step"], s["cycle_h"]
    result = control(
        s["building"], step, s["planned"], s["reading"], limit_kw=s["limit"], cycle_h=h
    )
    devices = {d.id: d for d in s["building"].devices}
    setpoints = result.setpoints_kw
    assert result.expected_net_kw == pytest.approx(s["rest"] + sum(setpoints.values()))
    # Device limits.
    battery = devices["battery"]
    assert (
        -battery["discharge_max_kw"] - TOL <= setpoints["battery"] <= battery["charge_max_kw"] + TOL
    )
    plugged = 1 <= step < 3
    assert 0 <= setpoints["ev"] <= (7.0 if plugged else 0.0) + TOL
    assert 0 <= setpoints["zone"] <= devices["zone"]["power_max_kw"] + TOL
    assert 0 <= setpoints["boiler"] <= 3.0 + TOL
    # States and bands at the end of the cycle, from the device equations.
    state = s["state"]
    soc = _after_one_cycle(battery, setpoints["battery"], state["battery"], step, h)
    assert 0.1 - 1e-7 <= soc <= 0.9 + 1e-7
    assert _after_one_cycle(devices["ev"], setpoints["ev"], state["ev"], step, h) >= -1e-7
    boiler = _after_one_cycle(devices["boiler"], setpoints["boiler"], state["boiler"], step, h)
    if _lowest(devices["boiler"], state["boiler"], step, h) < 3.0:  # reachable in one cycle
        assert boiler >= 1.0 - 1e-7
    indoor = _after_one_cycle(devices["zone"], setpoints["zone"], state["zone"], step, h)
    if _lowest(devices["zone"], state["zone"], step, h) < devices["zone"]["power_max_kw"]:
        assert indoor >= 19.0 - 1e-7
    # The limit: met, or every device down to the least it may take.
    if result.shortfall_kw <= 0:
        assert result.expected_net_kw <= s["limit"] + 1e-7
    else:
        assert result.expected_net_kw == pytest.approx(s["limit"] + result.shortfall_kw)
        for ident, device in devices.items():
            floor = _lowest(device, state[ident], step, h)
            assert setpoints[ident] == pytest.approx(floor, abs=1e-6), ident


@settings(max_examples=200, deadline=None)
@given(situations())
def test_without_a_spike_the_plan_stands(s: dict[str, Any]) -> None:
    house, step, h = s["building"], s["step"], s["cycle_h"]
    result = control(house, step, s["planned"], s["reading"], limit_kw=1e6, cycle_h=h)
    assert result.shortfall_kw == 0
    assert result.reduced == ()
    relaxed = control(house, step, result.setpoints_kw, s["reading"], limit_kw=1e6, cycle_h=h)
    assert relaxed.setpoints_kw == pytest.approx(result.setpoints_kw)  # already within range


def test_a_spike_is_taken_by_the_battery_first_then_the_ev() -> None:
    house = building(discharge_max_kw=3.0)
    state = {"battery": 0.8, "ev": 10.0, "zone": 21.0, "boiler": 5.0}
    planned = {"battery": 0.0, "ev": 7.0, "zone": 0.0, "boiler": 0.0}
    reading = Reading(9.0 + 7.0, {"battery": 0.0, "ev": 7.0, "zone": 0.0, "boiler": 0.0}, state)
    result = control(house, 1, planned, reading, limit_kw=12.0, cycle_h=1 / 60)
    # 16 kW against a limit of 12: the battery discharges its 3 kW, the EV gives the last 1.
    assert result.setpoints_kw["battery"] == pytest.approx(-3.0)
    assert result.setpoints_kw["ev"] == pytest.approx(6.0)
    assert result.expected_net_kw <= 12.0 + 1e-9
    assert result.reduced == ("battery", "ev")
    assert result.shortfall_kw == 0


def test_without_a_plan_the_ev_charges_as_fast_as_the_limit_allows() -> None:
    house = building()
    state = {"battery": 0.5, "ev": 10.0, "zone": 21.0, "boiler": 5.0}
    reading = Reading(2.0, {"battery": 1.0, "ev": 0.0, "zone": 0.0, "boiler": 0.0}, state)
    free = control(house, 1, {}, reading, limit_kw=1e6, cycle_h=0.25)
    assert free.setpoints_kw["ev"] == pytest.approx(7.0)
    assert free.setpoints_kw["battery"] == pytest.approx(1.0)  # the others hold their power
    capped = control(house, 1, {}, reading, limit_kw=5.0, cycle_h=0.25)
    assert capped.expected_net_kw <= 5.0 + 1e-9
    assert capped.setpoints_kw["ev"] > 0.0
    unplugged = control(house, 0, {}, reading, limit_kw=1e6, cycle_h=0.25)
    assert unplugged.setpoints_kw["ev"] == 0.0


def test_an_ev_needs_power_now_only_when_it_has_no_time_to_spare() -> None:
    ev = next(d for d in building().devices if d.kind == "ev")  # steps 1 and 2, 7 kW
    h = 1.0
    assert ev_needs_kw(ev, 1, {"ev": 6.0}, h) == 0.0  # the second step alone can charge 7 kWh
    assert ev_needs_kw(ev, 1, {"ev": 10.0}, h) == pytest.approx(3.0)
    assert ev_needs_kw(ev, 2, {"ev": 5.0}, h) == pytest.approx(5.0)  # the last step: all of it
    assert ev_needs_kw(ev, 2, {"ev": 9.0}, h) == pytest.approx(7.0)  # no more than it can take
    assert ev_needs_kw(ev, 0, {"ev": 10.0}, h) == 0.0  # not plugged in yet
    assert ev_needs_kw(ev, 3, {"ev": 10.0}, h) == 0.0  # gone
