"""Home Assistant entity states as OSED devices: kinds, units, service calls, confirmation."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from osed.devices.homeassistant import HomeAssistantConfig, parse_config
from osed.devices.homeassistant.entities import discover
from osed.domain.devices import Action, Command, DeviceKind, Quantity, Range

AT = "2026-12-07T10:00:00.123456+00:00"
NOW = datetime(2026, 12, 7, 11, tzinfo=UTC)


def state(entity_id: str, value: str, **attributes: Any) -> dict[str, Any]:
    return {
        "entity_id": entity_id,
        "state": value,
        "attributes": attributes,
        "last_changed": AT,
        "last_updated": AT,
    }


THERMOSTAT = state(
    "climate.living_room",
    "heat",
    current_temperature=19.5,
    temperature=20.0,
    min_temp=12,
    max_temp=26,
    target_temp_step=0.5,
    supported_features=385,  # target temperature, turn off, turn on
    friendly_name="Living room",
)
STATES = [
    THERMOSTAT,
    state(
        "water_heater.boiler",
        "eco",
        current_temperature=131,
        temperature=140,
        min_temp=110,
        max_temp=140,
        supported_features=9,  # target temperature, on/off
    ),
    state("switch.pump", "off"),
    state("sensor.house_power", "850", unit_of_measurement="W", device_class="power"),
    state("sensor.hall_temperature", "18.2", unit_of_measurement="°C", device_class="temperature"),
    state("sensor.battery_soc", "55", unit_of_measurement="%", device_class="battery"),
    state("number.ev_limit", "7.4", unit_of_measurement="kW", min=0, max=11, step=0.1),
    state("number.volume", "3", min=0, max=10, step=1),
    state("binary_sensor.ev_plugged", "on"),
    state("light.kitchen", "on"),
]


def config(devices: dict[str, Any] | None = None, **extra: Any) -> HomeAssistantConfig:
    return parse_config({"url": "http://h:8123", "token": "t", "devices": devices or {}, **extra})


def test_unmapped_entities_whose_domain_tells_the_kind_are_devices() -> None:
    found = discover(STATES, config(), temperature_unit="°F")
    assert set(found.devices) == {
        "climate.living_room",
        "water_heater.boiler",
        "switch.pump",
        "sensor.house_power",
    }
    assert set(found.skipped) == {
        "sensor.hall_temperature",
        "sensor.battery_soc",
        "number.ev_limit",
        "number.volume",
        "binary_sensor.ev_plugged",
    }
    heating = found.devices["climate.living_room"].info()
    assert heating.kind is DeviceKind.HEATING
    assert heating.name == "Living room"
    boiler = found.devices["water_heater.boiler"].info()
    assert boiler.kind is DeviceKind.WATER_HEATER
    assert boiler.actions == {Action.SET_SETPOINT_C, Action.TURN_ON, Action.TURN_OFF}
    # The system's unit is °F: 110..140 °F is 43.3..60 °C.
    low, high = boiler.ranges[Action.SET_SETPOINT_C].minimum, 60.0
    assert math.isclose(low, (110 - 32) * 5 / 9)
    assert math.isclose(boiler.ranges[Action.SET_SETPOINT_C].maximum, high)
    (water,) = [
        m
        for m in found.devices["water_heater.boiler"].measurements(STATES[1], now=NOW)
        if m.quantity is Quantity.TEMPERATURE_C
    ]
    assert math.isclose(water.value, 55.0)


def test_mapped_entities_make_one_device_in_osed_units() -> None:
    found = discover(
        STATES,
        config(
            {
                "ev-1": {
                    "kind": "ev",
                    "entities": {
                        "number.ev_limit": None,
                        "binary_sensor.ev_plugged": "connected",
                        "switch.pump": None,
                    },
                },
                "bat": {"kind": "battery", "entities": {"sensor.battery_soc": None}},
                "heat": {
                    "kind": "heating",
                    "entities": {
                        "climate.living_room": None,
                        "sensor.hall_temperature": "outdoor_c",
                    },
                },
            },
            discover_unmapped=False,
        ),
    )
    assert set(found.devices) == {"ev-1", "bat", "heat"}
    ev = found.devices["ev-1"].info()
    assert ev.quantities == {Quantity.CONNECTED, Quantity.ON}
    assert ev.actions == {Action.SET_POWER_LIMIT_KW, Action.TURN_ON, Action.TURN_OFF}
    assert ev.ranges == {Action.SET_POWER_LIMIT_KW: Range(0.0, 11.0)}
    soc = found.devices["bat"].measurements(STATES[5], now=NOW)
    assert [(m.quantity, m.value) for m in soc] == [(Quantity.SOC, pytest.approx(0.55))]
    assert soc[0].at == datetime(2026, 12, 7, 10, 0, 0, 123456, tzinfo=UTC)
    outdoor = found.devices["heat"].measurements(STATES[4], now=NOW)
    assert [(m.quantity, m.value) for m in outdoor] == [(Quantity.OUTDOOR_C, 18.2)]
    indoor = {m.quantity: m.value for m in found.devices["heat"].measurements(THERMOSTAT, now=NOW)}
    assert indoor == {Quantity.TEMPERATURE_C: 19.5, Quantity.SETPOINT_C: 20.0, Quantity.ON: 1.0}


def test_a_power_sensor_in_watts_reads_in_kilowatts() -> None:
    found = discover(STATES, config())
    (power,) = found.devices["sensor.house_power"].measurements(STATES[3], now=NOW)
    assert power.quantity is Quantity.POWER_KW
    assert math.isclose(power.value, 0.85)


def test_a_state_without_an_update_time_is_measured_now() -> None:
    found = discover(STATES, config())
    bare = {"entity_id": "sensor.house_power", "state": "10", "attributes": STATES[3]["attributes"]}
    (power,) = found.devices["sensor.house_power"].measurements(bare, now=NOW)
    assert power.at == NOW


def test_unknown_or_unavailable_states_give_no_measurement() -> None:
    found = discover(STATES, config())
    for value in ("unknown", "unavailable"):
        gone = state("sensor.house_power", value, unit_of_measurement="W", device_class="power")
        assert found.devices["sensor.house_power"].measurements(gone, now=NOW) == []


def test_mapping_problems_name_the_entity_path() -> None:
    found = discover(
        STATES,
        config(
            {
                "pv": {"kind": "pv", "entities": {"sensor.roof": "power_kw"}},
                "x": {"kind": "ev", "entities": {"number.volume": None}},
                "y": {"kind": "load", "entities": {"sensor.hall_temperature": "power_kw"}},
            }
        ),
    )
    assert {(p.path, p.code) for p in found.problems} == {
        ("$.devices.pv.entities.sensor.roof", "unknown_entity"),
        ("$.devices.x.entities.number.volume", "unreadable_entity"),
        ("$.devices.y.entities.sensor.hall_temperature", "unreadable_entity"),
    }


def command(device_id: str, action: Action, value: float | None = None) -> Command:
    return Command("c-1", device_id, action, value, datetime.now(UTC))


def test_service_calls_carry_the_value_in_the_entitys_unit() -> None:
    found = discover(STATES, config(), temperature_unit="°F")
    boiler = found.devices["water_heater.boiler"]
    call = boiler.controls[Action.SET_SETPOINT_C].service_call(50.0)
    assert call == {
        "type": "call_service",
        "domain": "water_heater",
        "service": "set_temperature",
        "service_data": {"temperature": pytest.approx(122.0)},
        "target": {"entity_id": "water_heater.boiler"},
    }
    off = boiler.controls[Action.TURN_OFF].service_call(None)
    assert (off["domain"], off["service"], off["service_data"]) == ("water_heater", "turn_off", {})
    limit = discover(
        STATES, config({"ev": {"kind": "ev", "entities": {"number.ev_limit": None}}})
    ).devices["ev"]
    assert limit.controls[Action.SET_POWER_LIMIT_KW].service_call(3.7)["service_data"] == {
        "value": 3.7
    }


def test_confirmation_is_strict_before_a_call_and_within_half_a_step_after() -> None:
    heating = discover(STATES, config()).devices["climate.living_room"]
    control = heating.controls[Action.SET_SETPOINT_C]
    shown = state("climate.living_room", "heat", temperature=21.0)
    assert control.confirmed(shown, 21.0, strict=True)
    assert not control.confirmed(shown, 21.2, strict=True)  # not in effect yet: call it
    assert control.confirmed(shown, 21.2)  # the thermostat's step is 0.5: it rounded
    assert not control.confirmed(shown, 21.3)
    off = heating.controls[Action.TURN_OFF]
    assert off.confirmed(state("climate.living_room", "off"), None)
    assert not off.confirmed(THERMOSTAT, None)
    on = heating.controls[Action.TURN_ON]
    assert on.confirmed(THERMOSTAT, None)
    assert not on.confirmed(state("climate.living_room", "unavailable"), None)


def test_commands_a_device_cannot_take_are_explained() -> None:
    heating = discover(STATES, config()).devices["climate.living_room"]
    assert heating.command_problem(command("x", Action.SET_SETPOINT_C, 20.0)) is None
    problem = heating.command_problem(command("x", Action.SET_POWER_KW, 1.0))
    assert problem is not None
    assert "does not offer set_power_kw" in problem
    problem = heating.command_problem(command("x", Action.SET_SETPOINT_C, 30.0))
    assert problem == "30 is out of range for set_setpoint_c of climate.living_room (12..26)"
