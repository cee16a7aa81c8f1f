"""A ``dlc`` event through the API: the buildings state what an offset would shed, apply the
setpoint offset together, report their consumption, and return to their own setpoints when the
period is over."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.scenarios.support import Grid
from tests.unit.edge.conftest import eventually

EDC = "trafo-5"
CHANNEL = f"{EDC}/dlc"
OFFSET_K = -2.0
OUTDOOR_C = 0.0
SETPOINT_C = {"b1": 21.0, "b2": 20.0, "b3": 22.0}
KW_PER_K = {"b1": 0.40, "b2": 0.30, "b3": 0.50}
"""Heat-pump power per kelvin between setpoint and outdoors (steady state)."""


class Building:
    def __init__(self, grid: Grid, building_id: str) -> None:
        self.grid = grid
        self.id = building_id

    def offset_k(self) -> float:
        """The offset in force: the last ``setpoint_offset`` unless a ``restore`` followed."""
        offset = 0.0
        for message in self.grid.outbound(EDC, "dlc", self.id):
            if message["type"] == "setpoint_offset":
                offset = float(message["body"]["offset_k"])
            elif message["type"] == "restore":
                offset = 0.0
        return offset

    def kw(self) -> float:
        setpoint = SETPOINT_C[self.id] + self.offset_k()
        return KW_PER_K[self.id] * max(setpoint - OUTDOOR_C, 0.0)


async def test_dlc_offsets_are_applied_and_restored(grid: Grid) -> None:
    await grid.create(EDC, list(SETPOINT_C))
    edc = grid.manager.get(EDC)
    buildings = [Building(grid, b) for b in SETPOINT_C]
    sent = 0

    async def send(building: Building, kind: str, body: dict[str, float]) -> None:
        nonlocal sent
        await grid.send(CHANNEL, building.id, kind, body)
        sent += 1
        await eventually(lambda: edc.function_status("dlc")["messages"]["accepted"] == sent)

    async def report_consumption() -> None:
        for building in buildings:
            await send(building, "consumption", {"kw": building.kw()})

    parameters = {"offset_k": OFFSET_K, "duration": {"value": 15, "unit": "min"}}
    await grid.assign(EDC, "dlc", parameters)
    await eventually(lambda: all(grid.outbound(EDC, "dlc", b.id) for b in buildings))
    await report_consumption()
    before = sum(b.kw() for b in buildings)
    for building in buildings:
        (request,) = grid.outbound(EDC, "dlc", building.id)
        assert request["type"] == "flexibility_request"
        offset = request["body"]["offset_k"]
        await send(building, "flexibility", {"available_kw": -KW_PER_K[building.id] * offset})
    # Everyone answered: the offset goes to all of them at once.
    await eventually(lambda: all(b.offset_k() == OFFSET_K for b in buildings))
    status = (await grid.status(EDC, "dlc"))["status"]
    assert status["phase"] == "active"
    assert status["flexibility_kw"] == pytest.approx(-OFFSET_K * sum(KW_PER_K.values()))
    await report_consumption()
    during = sum(b.kw() for b in buildings)
    assert during < before

    grid.clock.advance(timedelta(minutes=10))
    await edc.tick()  # inside the period: nothing changes
    assert all(b.offset_k() == OFFSET_K for b in buildings)
    grid.clock.advance(timedelta(minutes=5))
    await edc.tick()
    await eventually(lambda: all(b.offset_k() == 0.0 for b in buildings))
    for building in buildings:
        assert grid.outbound(EDC, "dlc", building.id)[-1]["body"] == {"reason": "period_over"}
    await report_consumption()

    status = await grid.status(EDC, "dlc")
    assert status["status"]["phase"] == "restored"
    consumption = status["status"]["consumption_kw"]
    assert consumption["before"] == pytest.approx(before)
    assert consumption["during"] == pytest.approx(during)
    assert consumption["after"] == pytest.approx(before)
    assert status["status"]["reduction_kw"] == pytest.approx(before - during)
    assert status["messages"]["rejected"] == 0
    assert status["last_error"] is None
