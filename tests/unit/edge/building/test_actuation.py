"""Powers become the commands each device accepts: power setpoints, limits with a floor,
a thermostat's setpoint from the zone's equation, on/off by the cycle's duty."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osed.buildings.devices_schema import Device
from osed.domain.devices import Action, DeviceInfo, DeviceKind, Range
from osed.edge.building.actuation import Order, indoor_after, orders
from tests.unit.edge.building.neighbourhood import STEPS, battery, building, heating

A = Action
HOUSE = building(
    "h1",
    [1.0] * STEPS,
    [
        battery(),
        heating(outdoor_c=0.0),
        {
            "id": "boiler",
            "kind": "water_heater",
            "power_max_kw": 2.0,
            "energy_init_kwh": 5.0,
            "energy_min_kwh": 1.0,
            "energy_max_kwh": 8.0,
            "loss_kw": 0.05,
            "draw_kw": [0.2] * STEPS,
        },
    ],
)
BATTERY, ZONE, BOILER = HOUSE.devices


def info(device: Device, kind: DeviceKind, actions: set[Action], **ranges: Range) -> DeviceInfo:
    return DeviceInfo(
        device.id, kind, actions=frozenset(actions), ranges={A(k): r for k, r in ranges.items()}
    )


def test_a_power_setpoint_is_the_power_within_the_range() -> None:
    taken = info(BATTERY, DeviceKind.BATTERY, {A.SET_POWER_KW}, set_power_kw=Range(-2.0, 2.0))
    assert orders(BATTERY, taken, 2.7, indoor_c=None, cycle_h=0.25) == [
        Order("battery", A.SET_POWER_KW, 2.0)
    ]
    assert orders(BATTERY, taken, -1.2, indoor_c=None, cycle_h=0.25) == [
        Order("battery", A.SET_POWER_KW, -1.2)
    ]


def test_a_limit_below_its_floor_switches_the_charger_off() -> None:
    charger = info(
        BATTERY,
        DeviceKind.EV,
        {A.SET_POWER_LIMIT_KW, A.TURN_ON, A.TURN_OFF},
        set_power_limit_kw=Range(1.4, 11.0),
    )
    assert orders(BATTERY, charger, 0.5, indoor_c=None, cycle_h=0.25) == [
        Order("battery", A.TURN_OFF, None)
    ]
    assert orders(BATTERY, charger, 3.7, indoor_c=None, cycle_h=0.25) == [
        Order("battery", A.SET_POWER_LIMIT_KW, 3.7),
        Order("battery", A.TURN_ON, None),
    ]
    no_switch = info(
        BATTERY, DeviceKind.EV, {A.SET_POWER_LIMIT_KW}, set_power_limit_kw=Range(1.4, 11.0)
    )
    assert orders(BATTERY, no_switch, 0.5, indoor_c=None, cycle_h=0.25) == [
        Order("battery", A.SET_POWER_LIMIT_KW, 1.4)
    ]


@given(
    indoor=st.floats(15.0, 25.0),
    power=st.floats(0.0, 3.0),
)
def test_a_thermostat_gets_the_temperature_the_planned_power_reaches(
    indoor: float, power: float
) -> None:
    thermostat = info(ZONE, DeviceKind.HEATING, {A.SET_SETPOINT_C}, set_setpoint_c=Range(5.0, 30.0))
    (order,) = orders(ZONE, thermostat, power, indoor_c=indoor, cycle_h=0.25)
    assert order.action is A.SET_SETPOINT_C
    # C dT/dt = (Tout − T)/R + cop p, one explicit step of h hours.
    expected = indoor + 0.25 / 3.0 * ((0.0 - indoor) / 10.0 + 3.0 * power)
    assert order.value == pytest.approx(round(expected, 1), abs=1e-9)
    assert math.isclose(indoor_after(ZONE, indoor, power, 0.25, 0), expected, rel_tol=1e-12)


def test_more_power_never_lowers_the_thermostat_setpoint() -> None:
    thermostat = info(ZONE, DeviceKind.HEATING, {A.SET_SETPOINT_C})
    values = [
        orders(ZONE, thermostat, p, indoor_c=20.0, cycle_h=1.0)[0].value
        for p in (0.0, 1.0, 2.0, 3.0)
    ]
    assert values == sorted(values)
    assert values[0] is not None
    assert values[0] < 20.0  # no heat: the zone cools, no call for heat


def test_on_off_devices_follow_the_cycles_duty() -> None:
    element = info(BOILER, DeviceKind.WATER_HEATER, {A.TURN_ON, A.TURN_OFF, A.SET_SETPOINT_C})
    assert orders(BOILER, element, 1.5, indoor_c=None, cycle_h=0.25) == [
        Order("boiler", A.TURN_ON, None)
    ]
    assert orders(BOILER, element, 0.4, indoor_c=None, cycle_h=0.25) == [
        Order("boiler", A.TURN_OFF, None)
    ]


def test_a_device_without_a_usable_command_gets_none() -> None:
    sensor_only = info(BOILER, DeviceKind.WATER_HEATER, set())
    assert orders(BOILER, sensor_only, 1.0, indoor_c=None, cycle_h=0.25) == []
    thermostat_unmeasured = info(ZONE, DeviceKind.HEATING, {A.SET_SETPOINT_C})
    assert orders(ZONE, thermostat_unmeasured, 1.0, indoor_c=None, cycle_h=0.25) == []
