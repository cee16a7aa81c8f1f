"""XOR and DLC in closed loop: bids from the building's own re-planning, the award delivered,
comfort offsets applied and restored, on a real EDC with simulated devices."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from osed.bus.memory import MemoryBus
from osed.devices.simulated import METER_ID
from osed.domain.devices import Quantity
from osed.domain.envelope import Envelope
from tests.unit.edge.building.neighbourhood import (
    STEP_H,
    STEPS,
    Neighbourhood,
    battery,
    building,
    heating,
)


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


async def test_xor_bids_follow_the_flexibility_and_the_award_is_delivered(
    area: Neighbourhood,
) -> None:
    houses = [
        building("h1", [3.0] * STEPS, [battery(0.8), heating(0.0)]),
        building("h2", [2.0] * STEPS, [battery(0.5)]),
    ]
    prices = [0.05, 0.2, 0.5, 2.0]
    parameters = {"request_kw": 2.0, "duration_h": 2.0, "prices": prices, "bid_window_s": 300}
    await area.open({}, houses, ["xor"])
    for member in area.members:  # measured once, so that bids start from the building's state
        await member.agent.cycle()
        await member.gateway.advance()
    flexible = {m.agent.building.id: m.agent.flexibility_kw() for m in area.members}
    net = {m.agent.building.id: m.agent.measured.reading().net_kw for m in area.members}
    assert area.edc is not None
    edc = area.edc
    bids: dict[str, list[float]] = {}
    listener = MemoryBus(area.broker)
    await listener.start()

    async def record(envelope: Envelope) -> None:
        message = json.loads(envelope.payload)
        if message["type"] == "bid":
            bids[message["building"]] = message["body"]["quantities_kw"]

    await listener.subscribe("edc/area-1/xor/in", record)
    await edc.assign("xor", parameters)
    await eventually(lambda: edc.function_status("xor")["status"]["phase"] != "bidding")
    status = edc.function_status("xor")["status"]
    await listener.stop()
    assert set(bids) == {"h1", "h2"}
    for ident, quantities in bids.items():
        assert np.all(np.diff(quantities) >= -1e-9)  # more at a higher price
        assert max(quantities) <= net[ident] - flexible[ident][0] + 1e-6  # within its range
        assert quantities[-1] > 0.5  # at a high price a battery sells
    winners = status["winners"]
    assert winners, status
    awarded = {w["building"]: w["quantity_kw"] for w in winners}

    agents = {m.agent.building.id: m for m in area.members}
    for ident in awarded:
        await eventually(lambda i=ident: agents[i].agent.requests.commitment is not None)
    for hour in range(2):  # the delivery: two steps of an hour
        for ident, quantity in awarded.items():
            member = agents[ident]
            commitment = member.agent.requests.commitment
            assert commitment is not None
            await member.agent.cycle()
            net_now = member.gateway.true_values(METER_ID)[Quantity.POWER_KW]
            assert net_now <= commitment.baseline_kw - quantity + 0.05
        for member in area.members:
            await member.gateway.advance()  # the meter read: the agents report it
        await asyncio.sleep(0.05)
        area.clock.advance(timedelta(hours=STEP_H))
        await edc.tick()
        if hour == 0:  # the EDC's own measure of the first hour, from the reports
            delivery = edc.function_status("xor")["status"]["delivery"]
            assert delivery["measured_h"] == pytest.approx(1.0)
            for row in delivery["buildings"]:
                assert row["delivered_kw"] >= awarded[row["building"]] - 0.05
    assert edc.function_status("xor")["last_error"] is None


async def test_dlc_offsets_are_applied_and_restored(area: Neighbourhood) -> None:
    house = building("h1", [1.0] * STEPS, [heating(0.0, temp_c=20.0)])
    await area.open({}, [house], ["dlc"])
    member = area.members[0]
    agent = member.agent
    await agent.cycle()
    await member.gateway.advance()
    before = agent.measured.reading().device_kw["zone"]
    assert area.edc is not None
    edc = area.edc
    await edc.assign("dlc", {"offset_k": -2, "duration": 3600, "response_deadline": 60})
    await eventually(lambda: agent.requests.offset is not None)
    status = edc.function_status("dlc")["status"]
    assert status["flexibility_kw"] > 0.1  # the building announced what the offset sheds
    assert agent.requests.comfort_offset_c(agent.step) == {"zone": -2.0}

    await agent.cycle()  # the offset in force: the zone draws less, within the moved band
    during = member.gateway.true_values("zone")[Quantity.POWER_KW]
    assert during < before - 0.1
    await member.gateway.advance()
    indoor = member.gateway.true_values("zone")[Quantity.TEMPERATURE_C]
    assert 18.0 - 0.05 <= indoor <= 21.0 + 0.05
    await asyncio.sleep(0.05)

    area.clock.advance(timedelta(hours=1, seconds=1))
    await edc.tick()  # past `until`: the EDC restores
    await eventually(lambda: agent.requests.offset is None)
    assert edc.function_status("dlc")["status"]["phase"] != "active"
    await agent.cycle()  # back to the owner's band: the zone heats again
    after = member.gateway.true_values("zone")[Quantity.POWER_KW]
    assert after > during + 0.1
    readings = edc.function_status("dlc")["status"]["consumption_kw"]
    assert readings.get("during") is not None  # consumption was reported during the offset
    assert edc.function_status("dlc")["last_error"] is None
