"""An EDC created through the API is given ``dac``; its buildings answer every round of prices
on their channels with their own best responses until the game converges, and the area peak
ends below what the buildings reach alone at the tariff, at the central optimum. A manager
restarted mid-game resumes it; a destroyed EDC leaves nothing behind."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from osed.gridfunctions.builtin._dac_central import central_optimum
from osed.gridfunctions.builtin._dac_document import read_document
from tests.scenarios.dac_agents import DacAgent
from tests.scenarios.support import Grid
from tests.unit.edge.conftest import eventually
from tests.unit.gridfunctions.dac_scenarios import area

EDC = "feeder-3"


async def play(grid: Grid, agents: dict[str, DacAgent], rounds: int) -> bool:
    """Each building answers the rounds of prices sent to it, up to ``rounds`` of them; True
    once every building got the ``final`` message."""
    for _ in range(rounds):
        await eventually(
            lambda: all(len(grid.outbound(EDC, "dac", b)) > a.handled for b, a in agents.items()),
            timeout=5,
        )
        if {grid.outbound(EDC, "dac", b)[-1]["type"] for b in agents} == {"final"}:
            return True
        for building, agent in agents.items():
            message = grid.outbound(EDC, "dac", building)[agent.handled]
            assert message["type"] == "prices"
            agent.handled += 1
            await grid.send(f"{EDC}/dac", building, "schedule", agent.answer(message["body"]))
    return False


def check_outcome(
    document: dict[str, Any], agents: dict[str, DacAgent], status: dict[str, Any]
) -> None:
    finals = [message["body"] for message in status["finals"]]
    assert len({f["iteration"] for f in finals}) == 1
    (peak,) = {f["peak_kw"] for f in finals}
    assert status["last_error"] is None
    assert status["status"]["state"] == "converged"
    assert status["messages"]["rejected"] == 0
    alone = np.sum([agent.alone() for agent in agents.values()], axis=0).max()
    central = central_optimum(read_document(document)).peak_kw
    assert peak < 0.8 * alone  # coordination cuts the uncoordinated peak ...
    assert peak <= 1.02 * central  # ... to within 2 % of the central minimum
    assert peak >= central - 1e-6
    last = np.sum([agent.last for agent in agents.values()], axis=0)
    assert peak == pytest.approx(last.max(), rel=1e-9)  # the EDC's peak is the schedules'
    history = status["status"]["peak_history_kw"]
    assert len(history) == finals[0]["iteration"]
    assert history[-1] == peak


async def assign_dac(grid: Grid, document: dict[str, Any], agents: dict[str, DacAgent]) -> None:
    await grid.create(EDC, list(agents))
    parameters = {
        "steps": document["steps"],
        "step_h": {"value": document["step_h"] * 60, "unit": "min"},
        "prices": document["prices"],
        "max_iterations": 300,
    }
    await grid.assign(EDC, "dac", parameters)


async def finished(grid: Grid, agents: dict[str, DacAgent]) -> dict[str, Any]:
    status = await grid.status(EDC, "dac")
    status["finals"] = [grid.outbound(EDC, "dac", b)[-1] for b in agents]
    return status


@pytest.fixture
def document() -> dict[str, Any]:
    return area(5, 24, seed=11)


@pytest.fixture
def agents(document: dict[str, Any]) -> Iterator[dict[str, DacAgent]]:
    made = {b["id"]: DacAgent(document, b) for b in document["buildings"]}
    yield made
    for agent in made.values():
        agent.close()


async def test_dac_converges_with_the_area_peak_reduced(
    grid: Grid, document: dict[str, Any], agents: dict[str, DacAgent]
) -> None:
    await assign_dac(grid, document, agents)
    assert await play(grid, agents, 300)
    check_outcome(document, agents, await finished(grid, agents))


async def test_a_restarted_manager_resumes_the_game_and_a_destroyed_edc_leaves_nothing(
    grid: Grid, document: dict[str, Any], agents: dict[str, DacAgent]
) -> None:
    await assign_dac(grid, document, agents)
    assert not await play(grid, agents, 5)
    # The sixth round's prices are out when the manager stops; the new one resumes the game
    # where it was: no prices sent again, the buildings' answers to that round taken.
    await eventually(lambda: all(len(grid.outbound(EDC, "dac", b)) == 6 for b in agents))
    await grid.restart()
    await asyncio.sleep(0.05)
    assert all(len(grid.outbound(EDC, "dac", b)) == 6 for b in agents)
    assert (await grid.status(EDC, "dac"))["status"]["iteration"] == 5
    assert await play(grid, agents, 300)
    check_outcome(document, agents, await finished(grid, agents))

    assert (await grid.client.delete(f"/api/v1/edcs/{EDC}")).status_code == 204
    assert grid.manager.resources() == {"edcs": 0, "tasks": 0, "subscriptions": 0, "channels": 0}
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("edc:")]
    await grid.restart()
    assert (await grid.client.get("/api/v1/edcs")).json()["items"] == []
