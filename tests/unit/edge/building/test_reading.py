"""Measurements to state: a state the device's physics cannot reach is noise and is taken at
the nearest reachable value; a plugged-in car is asked for a little more than it reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from osed.buildings.devices_schema import Device
from osed.buildings.mpc import Planner
from osed.domain.devices import Measurement, Quantity
from osed.edge.building.reading import EV_MARGIN_KWH, Measured
from tests.unit.edge.building.neighbourhood import STEP_H, STEPS, TARIFF, battery, building

AT = datetime(2026, 1, 12, tzinfo=UTC)
TANK = {
    "id": "tank",
    "kind": "water_heater",
    "energy_max_kwh": 8.0,
    "energy_min_kwh": 0.8,
    "energy_init_kwh": 6.0,
    "power_max_kw": 2.0,
    "draw_kw": [0.0] * STEPS,
    "loss_kw": 0.05,
}
CAR = {
    "id": "car",
    "kind": "ev",
    "arrival_step": 0,
    "departure_step": 4,
    "energy_kwh": 6.0,
    "charge_max_kw": 7.0,
}


def _measured(*values: tuple[str, Quantity, float]) -> Measured:
    house = building("h", [0.5] * STEPS, [battery(), TANK, CAR])
    measured = Measured(house, frozenset())
    measured.take([Measurement(device, quantity, value, AT) for device, quantity, value in values])
    return measured


def _device(measured: Measured, ident: str) -> Device:
    return next(d for d in measured.building.devices if d.id == ident)


def test_a_tank_read_above_its_thermostat_starts_a_plan_at_its_top() -> None:
    measured = _measured(("tank", Quantity.ENERGY_KWH, 8.1))
    state = measured.reading().state
    assert state["tank"] == pytest.approx(8.0)
    # The noisy reading itself leaves the tank without a plan: it loses only 0.05 kWh in a step.
    planner = Planner(measured.building, STEPS, STEP_H)
    assert not planner.plan(TARIFF, state={"tank": 8.1}).usable
    assert planner.plan(TARIFF, state=state).usable


def test_a_battery_read_outside_its_window_is_taken_at_its_edge() -> None:
    device = _device(_measured(), "battery")
    high = _measured(("battery", Quantity.SOC, device["soc_max"] + 0.004)).reading().state
    low = _measured(("battery", Quantity.SOC, device["soc_min"] - 0.004)).reading().state
    assert high["battery"] == pytest.approx(device["soc_max"])
    assert low["battery"] == pytest.approx(device["soc_min"])


def test_a_plugged_car_is_asked_for_the_margin_beyond_its_reading() -> None:
    plugged = _measured(("car", Quantity.CONNECTED, 1.0), ("car", Quantity.ENERGY_KWH, 6.01))
    away = _measured(("car", Quantity.CONNECTED, 0.0), ("car", Quantity.ENERGY_KWH, 6.01))
    charging = _measured(("car", Quantity.CONNECTED, 1.0), ("car", Quantity.ENERGY_KWH, 2.0))
    assert plugged.reading().state["car"] == pytest.approx(EV_MARGIN_KWH)
    assert away.reading().state["car"] == 0.0
    assert charging.reading().state["car"] == pytest.approx(4.0 + EV_MARGIN_KWH)
