"""A building agent controlling a real Home Assistant through the device gateway: the
thermostat gets the temperature the plan heats the zone to, the battery its power, the EV
charger its limit and its switch; the agent reads the zone's temperature from the thermostat."""

from __future__ import annotations

import asyncio
import math
from typing import Any

from osed.bus.memory import MemoryBroker, MemoryBus
from osed.devices.homeassistant import HomeAssistantGateway, parse_config
from osed.domain.devices import Outcome
from osed.edge.building.actuation import indoor_after
from osed.edge.building.agent import AgentSettings, BuildingAgent
from osed.edge.building.solvers import SolverPool
from tests.integration.devices.ha_support import mapping
from tests.services.homeassistant import HomeAssistant
from tests.unit.edge.building.neighbourhood import STEP_H, STEPS, TARIFF, battery, building, heating

INDOOR_C = 19.0
"""Below the comfort band: the plan heats at once."""


def house_devices() -> list[dict[str, Any]]:
    zone = {**heating(outdoor_c=4.5, temp_c=INDOOR_C), "id": "heating-1"}
    ev = {
        "id": "ev-1",
        "kind": "ev",
        "charge_max_kw": 11.0,
        "arrival_step": 0,
        "departure_step": 6,
        "energy_kwh": 20.0,
    }
    return [{**battery(0.55), "id": "battery-1"}, zone, ev]


async def wait_until(predicate: Any, timeout_s: float = 15.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.05)


async def test_the_agent_drives_the_thermostat_battery_and_charger(
    home_assistant: HomeAssistant,
) -> None:
    await asyncio.to_thread(
        home_assistant.call,
        "input_number",
        "set_value",
        {"entity_id": "input_number.living_room_temperature", "value": INDOOR_C},
    )
    house = building("ha-house", [0.8] * STEPS, house_devices())
    gateway = HomeAssistantGateway(parse_config(mapping(home_assistant)))
    bus = MemoryBus(MemoryBroker())
    await bus.start()
    solvers = SolverPool(1)
    agent = BuildingAgent(
        house, gateway, bus, {}, AgentSettings(STEPS, STEP_H, TARIFF), solvers=solvers
    )
    try:
        await agent.start()
        await wait_until(
            lambda: (
                math.isclose(agent.measured.state.get("heating-1", 0.0), INDOOR_C)
                and "battery-1" in agent.measured.state
            )
        )
        report = await agent.cycle()

        assert report.results, "nothing was sent"
        assert {r.outcome for r in report.results} == {Outcome.APPLIED}
        powers = report.control.setpoints_kw
        zone = next(d for d in house.devices if d.id == "heating-1")
        assert powers["heating-1"] > 0  # too cold: the plan heats

        # The thermostat: the temperature the planned power gives at the cycle's end.
        wanted = round(indoor_after(zone, INDOOR_C, powers["heating-1"], STEP_H, 0), 1)
        climate = home_assistant.state("climate.living_room")["attributes"]
        assert math.isclose(climate["temperature"], wanted, abs_tol=1e-9)
        assert home_assistant.state("input_boolean.heater")["state"] == "on"

        battery_kw = float(home_assistant.state("number.battery_power_setpoint")["state"])
        assert math.isclose(battery_kw, powers["battery-1"], abs_tol=0.005)
        ev_limit = float(home_assistant.state("input_number.ev_charge_limit")["state"])
        assert math.isclose(ev_limit, powers["ev-1"], abs_tol=0.05)
        assert home_assistant.state("input_boolean.ev_charger")["state"] == "on"

    finally:
        await agent.stop()
        await gateway.close()
        await bus.stop()
        solvers.close()
        for entity, value in (
            ("input_number.battery_power", 0),
            ("input_number.ev_charge_limit", 7.4),
        ):
            await asyncio.to_thread(
                home_assistant.call,
                "input_number",
                "set_value",
                {"entity_id": entity, "value": value},
            )
        await asyncio.to_thread(
            home_assistant.call,
            "input_boolean",
            "turn_off",
            {"entity_id": "input_boolean.ev_charger"},
        )
