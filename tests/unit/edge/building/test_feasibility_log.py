"""A building whose limit lies below its must-run load cannot keep it for many cycles: it
still plans (the limit gives way at a penalty, the shortfall named), says so once, and once when
a plan keeps everything again; "no plan" is left for a plan that is truly impossible."""

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


async def test_a_shortfall_is_planned_and_logged_once_per_spell(
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
            kept = []
            for _ in range(count):
                report = await agent.cycle()
                assert report.replanned  # a plan every cycle: each one could log
                assert agent.plan is not None
                assert agent.plan.usable
                kept.append(agent.plan.kept)
                await devices.advance()
            return kept

        assert all(await cycles(2))
        agent.capacity_bounds(1.0, None)  # below the 2 kW the house draws whatever it does
        assert not any(await cycles(5))
        assert agent.plan is not None
        # The bound holds for the current step: at least the base load's kWh above it.
        assert agent.plan.shortfall["building"] >= (2.0 - 1.0) * STEP_H - 1e-6
        agent.capacity_bounds(None, None)
        assert all(await cycles(3))
        agent.capacity_bounds(0.5, None)
        assert not any(await cycles(2))
    finally:
        await agent.stop()
        await devices.close()
        await bus.stop()
    lines = [r.getMessage() for r in caplog.records if r.name == AGENT_LOG]
    assert not [line for line in lines if "no plan" in line]
    short = [line.split(":")[1] for line in lines if "leaves short" in line]
    again = [line for line in lines if "keeps everything" in line]
    assert short == [" the plan from step 2 leaves short", " the plan from step 10 leaves short"]
    assert again == ["building h1: the plan keeps everything from step 7"]
