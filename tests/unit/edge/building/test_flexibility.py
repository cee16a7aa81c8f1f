"""The range a building reports to a capacity limit keeps what its EV must take now to be filled
by its departure, so that a limit shared by these ranges leaves the car its energy."""

from __future__ import annotations

import pytest

from osed.bus.memory import MemoryBroker, MemoryBus
from osed.devices.simulated import METER_ID
from osed.domain.devices import Measurement, Quantity
from osed.domain.time import ManualClock
from osed.edge.building.agent import AgentSettings, BuildingAgent
from osed.edge.building.reading import EV_MARGIN_KWH
from tests.unit.edge.building.neighbourhood import START, STEP_H, STEPS, TARIFF, building, gateway


def _car(departure: int) -> dict[str, object]:
    return {
        "id": "car",
        "kind": "ev",
        "arrival_step": 0,
        "departure_step": departure,
        "energy_kwh": 10.0,
        "charge_max_kw": 7.0,
    }


@pytest.mark.parametrize(("departure", "needs_kw"), [(2, 1.0 + EV_MARGIN_KWH), (4, 0.0)])
async def test_the_lowest_import_keeps_what_the_car_cannot_postpone(
    departure: int, needs_kw: float
) -> None:
    house = building("h1", [1.0] * STEPS, [_car(departure)])
    devices = gateway(house)
    bus = MemoryBus(MemoryBroker())
    await bus.start()
    settings = AgentSettings(STEPS, STEP_H, TARIFF)
    agent = BuildingAgent(house, devices, bus, {}, settings, clock=ManualClock(START))
    await agent.start()
    try:
        # Plugged in, 2 kWh charged, charging at 1 kW beside the 1 kW base load.
        agent.measured.take(
            [
                Measurement("car", Quantity.CONNECTED, 1.0, START),
                Measurement("car", Quantity.ENERGY_KWH, 2.0, START),
                Measurement("car", Quantity.POWER_KW, 1.0, START),
                Measurement(METER_ID, Quantity.POWER_KW, 2.0, START),
            ]
        )
        low, high = agent.flexibility_kw()
        assert low == pytest.approx(1.0 + needs_kw)
        assert high == pytest.approx(1.0 + 7.0)
    finally:
        await agent.stop()
        await devices.close()
        await bus.stop()
