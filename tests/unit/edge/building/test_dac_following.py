"""A plan that cannot keep the building's DAC schedule (a car behind it) goes above the schedule
by as little as it must, spread over the steps left, rather than dropping the schedule and
charging the rest at full power in the step the level prices make a hair cheaper."""

from __future__ import annotations

import numpy as np
import pytest

from osed.bus.memory import MemoryBroker, MemoryBus
from osed.devices.simulated import METER_ID
from osed.domain.devices import Measurement, Quantity
from osed.domain.time import ManualClock
from osed.edge.building.agent import AgentSettings, BuildingAgent
from osed.edge.building.reading import EV_MARGIN_KWH
from tests.unit.edge.building.neighbourhood import START, STEP_H, STEPS, TARIFF, building, gateway

DEPARTURE = 6
ENERGY_KWH = 10.0
SCHEDULED_CAR_KW = 1.0
"""The car's power in the game's schedule: 6 kWh by its departure, 4 kWh short of its need."""
MARGIN_KW = 0.5


async def test_a_car_behind_its_schedule_catches_up_evenly_not_in_its_last_step() -> None:
    car = {
        "id": "car",
        "kind": "ev",
        "arrival_step": 0,
        "departure_step": DEPARTURE,
        "energy_kwh": ENERGY_KWH,
        "charge_max_kw": 7.0,
    }
    house = building("h1", [1.0] * STEPS, [car])
    devices = gateway(house)
    bus = MemoryBus(MemoryBroker())
    await bus.start()
    settings = AgentSettings(STEPS, STEP_H, TARIFF, dac_margin_kw=MARGIN_KW)
    agent = BuildingAgent(house, devices, bus, {}, settings, clock=ManualClock(START))
    await agent.start()
    try:
        agent.measured.take(
            [
                Measurement("car", Quantity.CONNECTED, 1.0, START),
                Measurement("car", Quantity.ENERGY_KWH, 0.0, START),
                Measurement("car", Quantity.POWER_KW, 0.0, START),
                Measurement(METER_ID, Quantity.POWER_KW, 1.0, START),
            ]
        )
        # The game flattened the prices: level, the car's last step a hair cheaper.
        prices = np.full(STEPS, 0.30)
        prices[DEPARTURE - 1] -= 0.001
        schedule = np.full(STEPS, 1.0)
        schedule[:DEPARTURE] += SCHEDULED_CAR_KW
        agent.requests.prices_per_kwh = prices
        agent.requests.dac_net_kw = schedule
        agent.requests.changed.append("dac")

        report = await agent.cycle()

        plan = agent.plan
        assert report.replanned
        assert plan is not None
        assert plan.kept  # the car is filled by its departure
        need_kwh = ENERGY_KWH + EV_MARGIN_KWH
        assert plan.devices["car"].sum() * STEP_H == pytest.approx(need_kwh, abs=1e-6)
        least_raise_kw = (need_kwh / STEP_H - DEPARTURE * (SCHEDULED_CAR_KW + MARGIN_KW)) / (
            DEPARTURE
        )
        above = plan.net_kw[:DEPARTURE] - (schedule[:DEPARTURE] + MARGIN_KW)
        assert above.max() <= least_raise_kw + 0.05 + 1e-6
        assert plan.devices["car"].max() < 7.0 / 2
    finally:
        await agent.stop()
        await devices.close()
        await bus.stop()
