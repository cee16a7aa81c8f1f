"""A building agent learns its building from its own measurements: the base load it forecasts
follows what the meter shows rather than the description, and a heating zone's C and R move
from the description's to the building's own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import numpy as np
import pytest

from osed.bus.memory import MemoryBroker, MemoryBus
from osed.devices.simulated import SimulatedGateway
from osed.devices.simulated_document import devices_of
from osed.domain.time import ManualClock
from osed.edge.building.agent import AgentSettings, BuildingAgent
from osed.edge.building.solvers import SolverPool
from tests.unit.edge.building.neighbourhood import (
    START,
    STEP_H,
    STEPS,
    TARIFF,
    battery,
    building,
    gateway,
    heating,
)

EVENING = np.array([0.4] * 7 + [1.2] * 2 + [0.5] * 8 + [2.5] * 4 + [0.8] * 3)
"""The household's real base load (kW per hour of the day); the description says 1 kW flat."""


@pytest.fixture
async def bus() -> AsyncIterator[MemoryBus]:
    made = MemoryBus(MemoryBroker())
    await made.start()
    yield made
    await made.stop()


@pytest.fixture
def solvers() -> SolverPool:
    return SolverPool(1)


async def run_days(agent: BuildingAgent, devices: SimulatedGateway, days: int) -> None:
    for _ in range(days * STEPS):
        await agent.cycle()
        await devices.advance()


async def test_the_base_load_forecast_follows_the_meter(
    bus: MemoryBus, solvers: SolverPool
) -> None:
    house = building("h1", [1.0] * STEPS, [battery()])
    devices = gateway(house, EVENING.tolist())
    settings = AgentSettings(STEPS, STEP_H, TARIFF)
    agent = BuildingAgent(
        house, devices, bus, {}, settings, clock=ManualClock(START), solvers=solvers
    )
    await agent.start()
    assert agent._here().base_kw.tolist() == [1.0] * STEPS  # nothing learnt yet

    await run_days(agent, devices, 3)
    learnt = agent._here().base_kw
    truth = np.roll(EVENING, -(agent.step % STEPS))
    assert np.abs(learnt - truth).mean() < 0.05  # the simulated meter's noise: 0.01 kW
    assert np.abs(1.0 - truth).mean() > 0.5  # what the description would have said
    plan = agent.plan
    assert plan is not None
    assert plan.usable
    await agent.stop()


async def test_a_zones_capacitance_and_resistance_are_learnt(
    bus: MemoryBus, solvers: SolverPool
) -> None:
    outdoor = (4.0 + 5.0 * np.sin(2 * np.pi * np.arange(STEPS) / STEPS)).tolist()
    described = building("h1", [0.5] * STEPS, [{**heating(), "outdoor_c": outdoor}])
    zone = described.devices[0]
    true_zone = replace(
        zone, values={**zone.values, "capacitance_kwh_per_k": 5.0, "resistance_k_per_kw": 7.0}
    )
    truth = replace(described, devices=(true_zone,))
    devices = SimulatedGateway(devices_of(truth), step_h=STEP_H, start=START, seed=5)
    settings = AgentSettings(STEPS, STEP_H, TARIFF)
    agent = BuildingAgent(
        described, devices, bus, {}, settings, clock=ManualClock(START), solvers=solvers
    )
    await agent.start()

    await run_days(agent, devices, 4)
    learnt = agent.building.devices[0]
    assert learnt["capacitance_kwh_per_k"] == pytest.approx(5.0, rel=0.05)
    assert learnt["resistance_k_per_kw"] == pytest.approx(7.0, rel=0.05)
    fit = agent.learner.fits["zone"]
    assert fit.held_out is not None
    assert fit.held_out.test_rmse_c < 0.2
    await agent.stop()
