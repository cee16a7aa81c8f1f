"""Building agents in closed loop with simulated devices and a real EDC on a memory bus: the
grid functions' messages in, the agents' answers and setpoints out, the devices' physics
deciding what happens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import pytest

from osed.devices.simulated import METER_ID
from osed.domain.devices import Quantity
from osed.edge.building.agent import Channel
from tests.unit.edge.building.neighbourhood import (
    STEPS,
    TARIFF,
    Neighbourhood,
    battery,
    building,
    gateway,
    heating,
)

TOLERANCE_C = 0.05
"""Measurement noise and rounding of the setpoints."""


async def eventually(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@pytest.fixture
async def area(tmp_path: Path) -> AsyncIterator[Neighbourhood]:
    made = Neighbourhood(tmp_path / "edc.sqlite")
    yield made
    await made.close()


async def test_comfort_is_kept_in_band_under_the_dac_prices(area: Neighbourhood) -> None:
    houses = [
        building(f"h{i}", [1.0 + 0.5 * i] * STEPS, [battery(0.3 + 0.2 * i), heating(2.0 - i)])
        for i in range(3)
    ]
    parameters = {"steps": STEPS, "step_h": 1.0, "prices": TARIFF.tolist(), "max_iterations": 60}
    await area.open({"dac": parameters}, houses)
    assert area.edc is not None
    edc = area.edc

    def outcome() -> str:
        return str(edc.function_status("dac")["status"]["state"])

    await eventually(lambda: outcome() in ("converged", "max_iterations"))
    status = edc.function_status("dac")["status"]
    assert status["state"] == "converged"  # the live game settles as the offline one does
    peaks = status["peak_history_kw"]
    assert peaks[-1] < peaks[0] - 0.5  # the game moved the schedules off the tariff's peak
    final = np.asarray(status["prices_per_kwh"])
    for member in area.members:  # every agent plans against the game's last prices
        await eventually(lambda m=member: m.agent.requests.prices_per_kwh is not None)
        np.testing.assert_allclose(member.agent.requests.prices_per_kwh, final, rtol=1e-9)

    low = high = None
    aggregate = []
    for _ in range(STEPS):
        for member in area.members:
            report = await member.agent.cycle()
            assert report.control.shortfall_kw == 0.0
        aggregate.append(
            sum(m.gateway.true_values(METER_ID)[Quantity.POWER_KW] for m in area.members)
        )
        for member in area.members:
            await member.gateway.advance()
            indoor = member.gateway.true_values("zone")[Quantity.TEMPERATURE_C]
            low = indoor if low is None else min(low, indoor)
            high = indoor if high is None else max(high, indoor)
    assert low is not None
    assert high is not None
    # The agents follow their schedules of the game: the area's peak is the game's, within
    # each building's margin, not the tariff's.
    margin = sum(m.agent.settings.dac_margin_kw for m in area.members)
    assert max(aggregate) <= peaks[-1] + margin
    assert low >= 20.0 - TOLERANCE_C
    assert high <= 23.0 + TOLERANCE_C
    for member in area.members:
        plan = member.agent.plan
        assert plan is not None
        assert plan.status == "optimal"
    assert edc.function_status("dac")["last_error"] is None


async def test_a_capacity_limit_holds_within_one_control_cycle_after_a_spike(
    area: Neighbourhood,
) -> None:
    limit_kw = 6.0
    house = building("h1", [2.0] * STEPS, [battery(0.9), heating(0.0)])
    await area.open({"capacity-limit": {"import_limit_kw": limit_kw}}, [])
    assert area.edc is not None
    edc = area.edc
    token = await edc.enrol("h1", None)
    spike = [2.0] * 3 + [7.5] * 2 + [2.0] * (STEPS - 5)  # the oven and the kettle at once
    devices = gateway(house, spike)
    agent = await area.join(house, devices, token, ["capacity-limit"])
    await agent.cycle()  # reports the building's power to the EDC
    await devices.advance()
    await eventually(lambda: edc.aggregate()["reporting"] == 1)
    await edc.tick()  # the EDC shares its limit: the building's bound
    await eventually(lambda: agent.requests.import_limit_kw < 1e9)
    assert agent.requests.import_limit_kw <= limit_kw + 1e-9

    over_after_cycle = []
    for step in range(1, 8):
        if step == 3:  # the spike, as measured before the cycle: over the limit
            assert agent.measured.reading().net_kw > limit_kw + 1.0
        await agent.cycle()  # one control cycle on what was measured
        net = devices.true_values(METER_ID)[Quantity.POWER_KW]
        over_after_cycle.append(net - limit_kw)
        assert agent.requests.import_limit_kw <= limit_kw + 1e-9
        await devices.advance()
        await edc.tick()
        if step == 3:  # the spike has just been measured: the cycle above met the limit
            assert devices.true_values("base")[Quantity.POWER_KW] == pytest.approx(7.5)
    assert max(over_after_cycle) <= 1e-6
    assert edc.function_status("capacity-limit")["last_error"] is None


async def test_an_agent_joins_a_function_while_it_runs_and_leaves_it(
    area: Neighbourhood,
) -> None:
    """An EDC created while the agent runs: the agent joins its capacity limit, is held by
    its share, and is free again once it leaves."""
    limit_kw = 3.0
    house = building("h1", [2.0] * STEPS, [battery(0.9), heating(0.0)])
    await area.open({"capacity-limit": {"import_limit_kw": limit_kw}}, [])
    assert area.edc is not None
    edc = area.edc
    token = await edc.enrol("h1", None)
    devices = gateway(house)
    agent = await area.join(house, devices, token, [])
    await agent.cycle()
    assert agent.channels == {}
    await agent.join("capacity-limit", Channel("area-1", token))
    await eventually(lambda: edc.aggregate()["reporting"] == 1)  # its report went at once
    await edc.tick()
    await eventually(lambda: agent.requests.import_limit_kw < 1e9)
    assert agent.requests.import_limit_kw <= limit_kw + 1e-9
    await agent.cycle()
    assert devices.true_values(METER_ID)[Quantity.POWER_KW] <= limit_kw + 1e-6

    await agent.leave("capacity-limit")
    assert agent.channels == {}
    assert agent.requests.import_limit_kw == float("inf")
    await edc.tick()  # the EDC's next share no longer reaches the agent
    await asyncio.sleep(0.05)
    assert agent.requests.import_limit_kw == float("inf")
