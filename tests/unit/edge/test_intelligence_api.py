"""The grid intelligence's decisions through the EDC API: the last ones, oldest first, each
with its number and reason; a bad limit is refused with its path; a manager without the
intelligence answers 404."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx2 as httpx
import pytest

from osed.edge.api import create_app
from osed.edge.intelligence import IntelligenceConfig
from osed.edge.intelligence_rules import Rules
from osed.sim.feeders import radial_feeder
from tests.unit.edge.conftest import Site as EdcSite
from tests.unit.edge.conftest import eventually
from tests.unit.edge.intelligence_support import Site, at, estimate

URL = "/api/v1/grid-intelligence/decisions"


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    made = Site(tmp_path / "edc.sqlite", radial_feeder(21, feeder_length=10))
    await made.listen()
    yield made
    await made.close()


async def test_the_last_decisions_with_their_numbers_and_reasons(site: Site) -> None:
    config = IntelligenceConfig(rules=Rules(hold_off_s=0, clear_hold_off_s=0))
    intelligence = await site.start(config)
    app = create_app(site.manager(intelligence), decisions=site.decision_store(intelligence))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://edc") as client:
        assert (await client.get(URL)).json() == {"items": []}
        await site.publish(estimate(at(0), pu={"n14": 1.07, "n3": 0.93, "n0": 1.08}))
        await eventually(lambda: len(site.decisions) == 3)
        await site.publish(estimate(at(5), pu={"n14": 1.0, "n3": 1.0}))
        await eventually(lambda: len(site.decisions) == 5)

        every = (await client.get(URL)).json()["items"]
        assert [d["seq"] for d in every] == [1, 2, 3, 4, 5]
        assert [{k: v for k, v in d.items() if k != "seq"} for d in every] == site.decisions
        assert {d["action"] for d in every} == {"create", "ignore", "destroy"}
        assert all(d["reason"] for d in every)

        last = await client.get(URL, params={"limit": 2})
        assert last.status_code == 200
        assert last.json()["items"] == every[3:]
        assert (await client.get(URL, params={"limit": 10_000})).json()["items"] == every

        for bad in ("0", "10001", "-1", "two"):
            refused = await client.get(URL, params={"limit": bad})
            assert refused.status_code == 422, refused.text
            assert [p["path"] for p in refused.json()["problems"]] == ["$query.limit"]


async def test_without_the_intelligence_the_decisions_are_not_found(tmp_path: Path) -> None:
    edcs = EdcSite(tmp_path / "edc.sqlite")
    manager = await edcs.manager()
    transport = httpx.ASGITransport(app=create_app(manager))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://edc") as client:
            response = await client.get(URL)
        assert response.status_code == 404
        assert response.json() == {
            "error": "not_found",
            "message": "no grid intelligence runs beside this EDC manager",
        }
    finally:
        await edcs.stop(manager)
