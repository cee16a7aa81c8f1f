"""An EDC created through the API is given ``dac``; its buildings answer every round of prices
on their channels with their own best responses until the game converges, and the area peak
ends below what the buildings reach alone at the tariff, near the central optimum."""

from __future__ import annotations

import numpy as np
import pytest

from osed.gridfunctions.builtin._dac_central import central_optimum
from osed.gridfunctions.builtin._dac_document import read_document
from tests.scenarios.dac_agents import DacAgent
from tests.scenarios.support import Grid
from tests.unit.edge.conftest import eventually
from tests.unit.gridfunctions.dac_scenarios import area

EDC = "feeder-3"


async def test_dac_converges_with_the_area_peak_reduced(grid: Grid) -> None:
    document = area(5, 24, seed=11)
    agents = {b["id"]: DacAgent(document, b) for b in document["buildings"]}
    try:
        await grid.create(EDC, list(agents))
        parameters = {
            "steps": document["steps"],
            "step_h": document["step_h"],
            "prices": document["prices"],
            "max_iterations": 300,
        }
        await grid.assign(EDC, "dac", parameters)
        answered = dict.fromkeys(agents, 0)
        for _ in range(300):
            await eventually(
                lambda: all(len(grid.outbound(EDC, "dac", b)) > answered[b] for b in agents),
                timeout=5,
            )
            latest = {b: grid.outbound(EDC, "dac", b)[-1] for b in agents}
            if {m["type"] for m in latest.values()} == {"final"}:
                break
            for b, agent in agents.items():
                message = grid.outbound(EDC, "dac", b)[answered[b]]
                assert message["type"] == "prices"
                answered[b] += 1
                await grid.send(f"{EDC}/dac", b, "schedule", agent.answer(message["body"]))
        final = {b: grid.outbound(EDC, "dac", b)[-1]["body"] for b in agents}
        assert len({f["iteration"] for f in final.values()}) == 1
        status = await grid.status(EDC, "dac")
        assert status["last_error"] is None
        assert status["status"]["state"] == "converged"
        assert status["messages"]["rejected"] == 0

        alone = np.sum([agent.alone() for agent in agents.values()], axis=0).max()
        central = central_optimum(read_document(document)).peak_kw
        (peak,) = {f["peak_kw"] for f in final.values()}
        last = np.sum([agent.last for agent in agents.values()], axis=0)
        assert peak == pytest.approx(last.max(), rel=1e-9)  # the EDC's peak is the schedules'
        assert peak < 0.8 * alone  # coordination reduces the uncoordinated peak ...
        assert peak <= 1.02 * central  # ... to within 2 % of the central minimum
        assert peak >= central - 1e-6
        history = status["status"]["peak_history_kw"]
        assert history[-1] == peak
    finally:
        for agent in agents.values():
            agent.close()
