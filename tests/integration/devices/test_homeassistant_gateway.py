"""The Home Assistant gateway against a real Home Assistant core: discovery, measurements,
commands confirmed by the entity's state, refusals, and a refused token."""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from osed.devices.homeassistant import (
    HomeAssistantGateway,
    MappingError,
    TokenRefusedError,
    parse_config,
)
from osed.devices.homeassistant.link import WebSocketLink
from osed.domain.devices import Action, Command, DeviceKind, Outcome, Quantity, Range
from osed.domain.errors import ConfigurationError, ConflictError
from tests.integration.devices.ha_support import Readings, mapping
from tests.services.homeassistant import HomeAssistant


def command(device_id: str, action: Action, value: float | None = None) -> Command:
    return Command(f"cmd-{uuid4().hex[:12]}", device_id, action, value, datetime.now(UTC))


def counter(server: HomeAssistant, name: str) -> int:
    return int(float(server.state(f"counter.{name}")["state"]))


async def test_devices_are_discovered_with_kinds_capabilities_and_ranges(
    gateway: HomeAssistantGateway,
) -> None:
    devices = {d.device_id: d for d in await gateway.discover()}

    heating = devices["heating-1"]
    assert heating.kind is DeviceKind.HEATING
    assert heating.name == "Living room"
    assert heating.quantities == {
        Quantity.TEMPERATURE_C,
        Quantity.SETPOINT_C,
        Quantity.ON,
        Quantity.OUTDOOR_C,
    }
    assert heating.actions == {Action.SET_SETPOINT_C, Action.TURN_ON, Action.TURN_OFF}
    assert heating.ranges == {Action.SET_SETPOINT_C: Range(12.0, 26.0)}

    ev = devices["ev-1"]
    assert ev.kind is DeviceKind.EV
    assert ev.actions == {Action.SET_POWER_LIMIT_KW, Action.TURN_ON, Action.TURN_OFF}
    assert ev.ranges == {Action.SET_POWER_LIMIT_KW: Range(0.0, 11.0)}
    assert ev.quantities == {Quantity.ON}

    battery = devices["battery-1"]
    assert battery.actions == {Action.SET_POWER_KW}
    assert battery.ranges == {Action.SET_POWER_KW: Range(-5.0, 5.0)}
    assert battery.quantities == {Quantity.SOC}

    # Unmapped: the demo's water heater (its °F shown in the system's °C) is a device of its
    # own, so is a power sensor (a load); a bare temperature sensor is no device.
    boiler = devices["water_heater.demo_water_heater"]
    assert boiler.kind is DeviceKind.WATER_HEATER
    assert boiler.actions == {Action.SET_SETPOINT_C, Action.TURN_ON, Action.TURN_OFF}
    assert boiler.ranges[Action.SET_SETPOINT_C].minimum == pytest.approx(43.3)
    assert boiler.ranges[Action.SET_SETPOINT_C].maximum == pytest.approx(60.0)
    assert devices["switch.ac"].kind is DeviceKind.SWITCH
    house = devices["sensor.house_power"]
    assert house.kind is DeviceKind.LOAD
    assert house.quantities == {Quantity.POWER_KW}
    assert "sensor.living_room_temperature" not in devices
    assert not any(d.startswith("input_number.") for d in devices)


async def test_measurements_follow_state_changes_in_osed_units(
    gateway: HomeAssistantGateway, home_assistant: HomeAssistant, readings: Readings
) -> None:
    # The first connection reads every state: the battery's 55 % is a state of charge 0.55.
    await readings.wait_for("battery-1", Quantity.SOC, lambda v: 0 <= v <= 1)

    await asyncio.to_thread(
        home_assistant.call,
        "input_number",
        "set_value",
        {"entity_id": "input_number.house_power", "value": 2345},
    )
    seen = await readings.wait_for(
        "sensor.house_power", Quantity.POWER_KW, lambda v: math.isclose(v, 2.345)
    )
    assert seen.at.tzinfo is not None

    await asyncio.to_thread(
        home_assistant.call,
        "input_number",
        "set_value",
        {"entity_id": "input_number.outdoor_temperature", "value": -3.5},
    )
    await readings.wait_for("heating-1", Quantity.OUTDOOR_C, lambda v: math.isclose(v, -3.5))


async def test_setpoints_and_switching_are_applied_and_confirmed_by_state(
    gateway: HomeAssistantGateway, home_assistant: HomeAssistant, readings: Readings
) -> None:
    setpoint = command("heating-1", Action.SET_SETPOINT_C, 21.5)
    assert (await gateway.send(setpoint)).outcome is Outcome.APPLIED
    assert home_assistant.state("climate.living_room")["attributes"]["temperature"] == 21.5
    await readings.wait_for("heating-1", Quantity.SETPOINT_C, lambda v: math.isclose(v, 21.5))

    limit = command("ev-1", Action.SET_POWER_LIMIT_KW, 3.7)
    assert (await gateway.send(limit)).outcome is Outcome.APPLIED
    assert float(home_assistant.state("input_number.ev_charge_limit")["state"]) == 3.7

    battery = command("battery-1", Action.SET_POWER_KW, -2.5)
    assert (await gateway.send(battery)).outcome is Outcome.APPLIED
    assert float(home_assistant.state("number.battery_power_setpoint")["state"]) == -2.5

    for action, shown in ((Action.TURN_ON, "on"), (Action.TURN_OFF, "off")):
        switched = await gateway.send(command("ev-1", action))
        assert switched.outcome is Outcome.APPLIED
        assert home_assistant.state("input_boolean.ev_charger")["state"] == shown

    # The demo water heater keeps °F: 55 °C goes out as 131 °F and comes back as 55 °C.
    boiler = "water_heater.demo_water_heater"
    assert (await gateway.send(command(boiler, Action.SET_SETPOINT_C, 55.0))).outcome is (
        Outcome.APPLIED
    )
    assert home_assistant.state(boiler)["attributes"]["temperature"] == 55
    for action, shown in ((Action.TURN_OFF, "off"), (Action.TURN_ON, "eco")):
        assert (await gateway.send(command(boiler, action))).outcome is Outcome.APPLIED
        assert home_assistant.state(boiler)["state"] == shown


async def test_a_command_id_is_applied_once_however_often_it_is_sent(
    gateway: HomeAssistantGateway, home_assistant: HomeAssistant
) -> None:
    before = counter(home_assistant, "ev_limit_applied")
    limit = command("ev-1", Action.SET_POWER_LIMIT_KW, 4.4)
    first = await gateway.send(limit)
    again = [await gateway.send(limit) for _ in range(3)]
    assert first.outcome is Outcome.APPLIED
    assert again == [first] * 3
    assert counter(home_assistant, "ev_limit_applied") == before + 1

    # A value already in effect is confirmed without a call.
    same = await gateway.send(command("ev-1", Action.SET_POWER_LIMIT_KW, 4.4))
    assert same.outcome is Outcome.APPLIED
    assert counter(home_assistant, "ev_limit_applied") == before + 1

    with pytest.raises(ConflictError):
        await gateway.send(
            Command(limit.command_id, "ev-1", Action.SET_POWER_LIMIT_KW, 5.0, limit.issued_at)
        )


async def test_impossible_commands_are_rejected_with_the_reason(
    gateway: HomeAssistantGateway, home_assistant: HomeAssistant
) -> None:
    calls = counter(home_assistant, "setpoint_calls")
    too_hot = await gateway.send(command("heating-1", Action.SET_SETPOINT_C, 40.0))
    assert too_hot.outcome is Outcome.REJECTED
    assert "out of range for set_setpoint_c of heating-1 (12..26)" in too_hot.detail
    unknown = await gateway.send(command("nobody", Action.TURN_ON))
    assert unknown.outcome is Outcome.REJECTED
    assert "no device 'nobody'" in unknown.detail
    not_offered = await gateway.send(command("battery-1", Action.TURN_ON))
    assert not_offered.outcome is Outcome.REJECTED
    assert "does not offer turn_on" in not_offered.detail
    assert counter(home_assistant, "setpoint_calls") == calls  # nothing reached it

    # Within the entity's range, but the helper behind it refuses: Home Assistant's error.
    refused = await gateway.send(command("misfit-1", Action.SET_POWER_LIMIT_KW, 15.0))
    assert refused.outcome is Outcome.REJECTED
    assert refused.detail.startswith("Home Assistant refused it")
    assert "15" in refused.detail


async def test_liveness_reports_each_device_online(gateway: HomeAssistantGateway) -> None:
    alive = {d.device_id: d for d in gateway.liveness()}
    assert alive["heating-1"].online
    assert alive["heating-1"].last_seen is not None
    assert alive["ev-1"].online


async def test_a_wrong_token_is_refused_naming_the_url_not_the_token(
    home_assistant: HomeAssistant,
) -> None:
    config = parse_config(mapping(home_assistant, token="not-a-valid-token-0123"))
    gateway = HomeAssistantGateway(config)
    with pytest.raises(TokenRefusedError) as caught:
        await gateway.start()
    assert isinstance(caught.value, ConfigurationError)
    message = str(caught.value)
    assert home_assistant.url in message
    assert "not-a-valid-token-0123" not in message
    # The WebSocket API refuses it as well (auth_invalid).
    with pytest.raises(TokenRefusedError, match="refused the access token"):
        await WebSocketLink.open(config)


async def test_a_mapping_naming_missing_entities_is_refused_with_paths(
    home_assistant: HomeAssistant,
) -> None:
    devices = {
        "pv-1": {"kind": "pv", "entities": {"sensor.roof_pv_power": "power_kw"}},
        "heat-2": {"kind": "heating", "entities": {"sensor.house_power": "temperature_c"}},
    }
    gateway = HomeAssistantGateway(
        parse_config(mapping(home_assistant, devices=devices, discover_unmapped=False))
    )
    with pytest.raises(MappingError) as caught:
        await gateway.start()
    assert {(p.path, p.code) for p in caught.value.problems} == {
        ("$.devices.pv-1.entities.sensor.roof_pv_power", "unknown_entity"),
        ("$.devices.heat-2.entities.sensor.house_power", "unreadable_entity"),
    }


async def test_the_token_never_reaches_the_logs(
    home_assistant: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gateway = HomeAssistantGateway(parse_config(mapping(home_assistant)))
    await gateway.start()
    try:
        await gateway.send(command("ev-1", Action.SET_POWER_LIMIT_KW, 2.2))
    finally:
        await gateway.close()
    assert "connected to Home Assistant" in caplog.text
    token = home_assistant.token
    # Not even a shortened frame (websockets' debug log keeps a frame's head and tail).
    assert not any(token[i : i + 12] in caplog.text for i in range(len(token) - 11))
