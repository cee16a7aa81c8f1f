"""Home Assistant restarted under a running gateway: it reconnects, subscribes again and
resends the commands still pending, each applied once.

Home Assistant's own counters tell how often a service was really applied: the EV charge
limit's template number counts each set_value it runs (counter.ev_limit_applied), an
automation counts each climate.set_temperature call (counter.setpoint_calls). Counters keep
their value across a restart.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime

from osed.devices.homeassistant import HomeAssistantGateway
from osed.domain.devices import Action, Command, Outcome, Quantity
from tests.integration.devices.ha_support import Readings
from tests.services.homeassistant import HomeAssistant


def counter(server: HomeAssistant, name: str) -> int:
    return int(float(server.state(f"counter.{name}")["state"]))


async def test_restart_reconnects_resubscribes_and_resends_pending_commands_once(
    gateway: HomeAssistantGateway, home_assistant: HomeAssistant, readings: Readings
) -> None:
    now = datetime.now(UTC)
    before = Command("restart-before", "ev-1", Action.SET_POWER_LIMIT_KW, 5.0, now)
    assert (await gateway.send(before)).outcome is Outcome.APPLIED
    limits_applied = counter(home_assistant, "ev_limit_applied")
    setpoints_called = counter(home_assistant, "setpoint_calls")

    await asyncio.to_thread(home_assistant.stop)
    limit = Command("restart-limit", "ev-1", Action.SET_POWER_LIMIT_KW, 6.2, now)
    setpoint = Command("restart-setpoint", "heating-1", Action.SET_SETPOINT_C, 23.5, now)
    assert (await gateway.send(limit, timeout_s=0.5)).outcome is Outcome.PENDING
    assert (await gateway.send(setpoint, timeout_s=0.5)).outcome is Outcome.PENDING
    assert (await gateway.send(before)).outcome is Outcome.APPLIED  # settled before: no call
    # What the devices cannot take is known without Home Assistant: refused at once.
    too_hot = Command("restart-too-hot", "heating-1", Action.SET_SETPOINT_C, 40.0, now)
    refused = await asyncio.wait_for(gateway.send(too_hot, timeout_s=30), 1.0)
    assert refused.outcome is Outcome.REJECTED
    assert not any(alive.online for alive in gateway.liveness())

    await asyncio.to_thread(home_assistant.start)
    # The same ids again: they wait for the resent commands, they do not call again.
    applied = await asyncio.gather(
        gateway.send(limit, timeout_s=60), gateway.send(setpoint, timeout_s=60)
    )
    assert [r.outcome for r in applied] == [Outcome.APPLIED, Outcome.APPLIED]
    assert float(home_assistant.state("input_number.ev_charge_limit")["state"]) == 6.2
    assert home_assistant.state("climate.living_room")["attributes"]["temperature"] == 23.5
    for _ in range(3):
        assert (await gateway.send(limit)).outcome is Outcome.APPLIED
        assert (await gateway.send(setpoint)).outcome is Outcome.APPLIED
    assert counter(home_assistant, "ev_limit_applied") == limits_applied + 1
    assert counter(home_assistant, "setpoint_calls") == setpoints_called + 1

    # Subscribed again: a change made in Home Assistant reaches the handlers.
    await asyncio.to_thread(
        home_assistant.call,
        "input_number",
        "set_value",
        {"entity_id": "input_number.house_power", "value": 4321},
    )
    await readings.wait_for(
        "sensor.house_power", Quantity.POWER_KW, lambda v: math.isclose(v, 4.321)
    )
    assert all(alive.online for alive in gateway.liveness())
