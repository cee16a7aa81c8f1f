"""A building whose limit lies below its must-run load has no plan for many cycles: the agent
says so once, and once when a plan is found again."""

from __future__ import annotations

import logging

import pytest

from osed.bus.memory import MemoryBroker, MemoryBus
from osed.domain.time import ManualClock
from osed.edge.building.agent import AgentSettings, BuildingAgent
from tests.unit.edge.building.neighbourhood import (
    START,
    STEP_H,
    STEPS,
    TARIFF,
    building,
    gateway,
    heating,
)

AGENT_LOG = "osed.edge.building.agent"


async def test_no_plan_is_logged_once_per_infeasible_spell(
    caplog: pytest.LogCaptureFixture,
) -> None:
    house = building("h1", [2.0] * STEPS, [heating(2.0)])
    devices = gateway(house)
    bus = MemoryBus(MemoryBroker())
    await bus.start()
    settings = AgentSettings(STEPS, STEP_H, TARIFF, replan_every=1)
    agent = BuildingAgent(house, devices, bus, {}, settings, clock=ManualClock(START))
    await agent.start()
    try:
        caplog.set_level(logging.INFO, logger=AGENT_LOG)

        async def cycles(count: int) -> list[bool]:
            usable = []
            for _ in range(count):
                report = await agent.cycle()
                assert report.replanned  # a plan every cycle: each one could log
                assert agent.plan is not None
                usable.append(agent.plan.usable)
                await devices.advance()
            return usable

        assert all(await cycles(2))
        agent.capacity_bounds(1.0, None)  # below the 2 kW the house draws whatever it does
        assert not any(await cycles(5))
        agent.capacity_bounds(None, None)
        assert all(await cycles(3))
        agent.capacity_bounds(0.5, None)
        assert not any(await cycles(2))
    finally:
        await agent.stop()
        await devices.close()
        await bus.stop()
    lines = [r.getMessage() for r in caplog.records if r.name == AGENT_LOG]
    no_plan = [line for line in lines if "no plan" in line]
    again = [line for line in lines if "a plan again" in line]
    assert no_plan == [
        "building h1: no plan from step 2 (building); the real-time rule holds the limits",
        "building h1: no plan from step 10 (building); the real-time rule holds the limits",
    ]
    assert again == ["building h1: a plan again from step 7"]
