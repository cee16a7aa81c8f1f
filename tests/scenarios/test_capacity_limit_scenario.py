"""A capacity-limit event given to an EDC through the API: the buildings tell their ranges and
obey the ``limit`` bounds on their channels, and the area's import is within the limit from the
control cycle after the event's first measurement on; removing the event releases them. On the
memory bus and on Mosquitto."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.scenarios.support import Grid
from tests.unit.edge.conftest import eventually

EDC = "trafo-2"
CHANNEL = f"{EDC}/capacity-limit"
LIMIT_KW = 20.0
WANTED_KW = {"b1": 10.0, "b2": 8.0, "b3": 7.0, "b4": 5.0}
"""What each building draws left alone (30 kW in all)."""
LOWEST_KW = {"b1": 4.0, "b2": 3.0, "b3": 6.0, "b4": 5.0}
"""How far each can go down (b4 not at all)."""


class Building:
    """Draws what it wants within the last bounds the EDC sent it."""

    def __init__(self, grid: Grid, building_id: str) -> None:
        self.grid = grid
        self.id = building_id

    def bounds(self) -> dict[str, Any] | None:
        for message in reversed(self.grid.outbound(EDC, "capacity-limit", self.id)):
            if message["type"] == "release":
                return None
            if message["type"] == "limit":
                body: dict[str, Any] = message["body"]
                return body
        return None

    def power_kw(self) -> float:
        power = WANTED_KW[self.id]
        bounds = self.bounds()
        if bounds is not None and bounds["max_kw"] is not None:
            power = max(min(power, bounds["max_kw"]), LOWEST_KW[self.id])
        return power

    async def report(self) -> None:
        await self.grid.send(CHANNEL, self.id, "report", {"demand_kw": self.power_kw()})

    async def tell_range(self) -> None:
        body = {"min_kw": LOWEST_KW[self.id], "max_kw": WANTED_KW[self.id]}
        await self.grid.send(CHANNEL, self.id, "flexibility", body)


async def test_a_capacity_limit_is_respected_within_one_control_cycle(grid: Grid) -> None:
    await capacity_limit_event(grid)


async def test_a_capacity_limit_on_mosquitto(grid_on_mosquitto: Grid) -> None:
    await capacity_limit_event(grid_on_mosquitto)


async def capacity_limit_event(grid: Grid) -> None:
    await grid.create(EDC, list(WANTED_KW))
    buildings = [Building(grid, b) for b in WANTED_KW]
    edc = grid.manager.get(EDC)
    sent = 0

    async def delivered(count: int) -> None:
        nonlocal sent
        sent += count
        await eventually(
            lambda: edc.function_status("capacity-limit")["messages"]["accepted"] == sent
        )

    async def cycle() -> dict[str, Any]:
        """The buildings report what they draw under their bounds; then one control cycle."""
        for building in buildings:
            await building.report()
        await delivered(len(buildings))
        grid.clock.advance(timedelta(seconds=5))
        await edc.tick()
        return await grid.status(EDC, "capacity-limit")

    await grid.assign(EDC, "capacity-limit", {"import_limit_kw": LIMIT_KW})
    await eventually(lambda: all(grid.outbound(EDC, "capacity-limit", b.id) for b in buildings))
    for building in buildings:  # asked for their range as the event starts
        kinds = [m["type"] for m in grid.outbound(EDC, "capacity-limit", building.id)]
        assert kinds == ["flexibility_request"]  # nothing measured or told yet: no bound
        await building.tell_range()
    await delivered(len(buildings))

    first = await cycle()  # the event's first measurement: the bounds follow from it
    assert first["status"]["measured_kw"] == pytest.approx(sum(WANTED_KW.values()))
    await eventually(lambda: all(b.bounds() is not None for b in buildings))
    for _ in range(3):  # from the next cycle on, the limit holds, shared by the ranges told
        status = await cycle()
        assert status["status"]["measured_kw"] <= LIMIT_KW + 1e-6
    assert status["status"]["measured_kw"] == pytest.approx(LIMIT_KW)  # no more shed than asked
    assert status["status"]["feasible"] is True
    assert status["status"]["cycles_over_limit"] == 0
    assert status["messages"]["rejected"] == 0
    assert status["last_error"] is None
    aggregate = (await grid.client.get(f"/api/v1/edcs/{EDC}/aggregate")).json()
    assert aggregate["net_kw"] == pytest.approx(status["status"]["measured_kw"])

    removed = await grid.client.delete(f"/api/v1/edcs/{EDC}/functions/capacity-limit")
    assert removed.status_code == 204
    await eventually(lambda: all(b.bounds() is None for b in buildings))
    assert sum(b.power_kw() for b in buildings) == pytest.approx(sum(WANTED_KW.values()))
