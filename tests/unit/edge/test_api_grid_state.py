"""``PUT /api/v1/edcs/{id}/grid-state``: a grid-level manager without OSED's estimator feeds an
EDC's area; a bad state gets every problem with its path and nothing is applied."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx2 as httpx
import pytest

from osed.bus.memory import MemoryBus
from osed.domain.time import ManualClock
from osed.edge.api import create_app
from osed.edge.intelligence_areas import AreaMap
from osed.edge.manager import EdcManager
from osed.storage.edc_sqlite import SqliteEdcStateStore
from tests.unit.edge import probe
from tests.unit.edge.conftest import Site
from tests.unit.edge.test_intelligence_areas import substation
from tests.unit.grid_services.estimation_support import T0

NETWORK = substation()
GOOD = {
    "estimated_at": "2023-06-29T09:59:30Z",
    "voltages_pu": {"n1": 0.97, "n3": 1.06},
    "loading": {"l1": 0.92, "t1": 1.1},
}


async def _client(manager: EdcManager) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(manager, max_request_bytes=4096))
    async with httpx.AsyncClient(transport=transport, base_url="http://edc") as made:
        yield made


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A manager with the network model: ids are checked against the EDC's area."""
    bus = MemoryBus()
    await bus.start()
    with SqliteEdcStateStore(tmp_path / "edc.sqlite") as store:
        manager = EdcManager(
            bus,
            store,
            clock=ManualClock(T0),
            control_cycle=timedelta(hours=1),
            element_exists=NETWORK.has,
            areas=AreaMap(NETWORK),
            grid_state_max_age=timedelta(seconds=60),
            load_function=probe.load_function,
            function_names=probe.function_names,
        )
        await manager.start()
        async for made in _client(manager):
            created = await made.post(
                "/api/v1/edcs",
                json={"id": "feeder", "element": "l1"},
                headers={"Idempotency-Key": "feeder"},
            )
            assert created.status_code == 201
            yield made
        await manager.stop()
    await bus.stop()


async def test_a_put_state_is_what_the_functions_see(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/v1/edcs/feeder/grid-state", json=GOOD)
    assert response.status_code == 200, response.text
    state = response.json()
    assert state == {
        "edc": "feeder",
        "element": "l1",
        "estimated_at": "2023-06-29T09:59:30+00:00",
        "grid_state_source": "api",
        "voltages_pu": {"n1": 0.97, "n3": 1.06},
        "loading": {"l1": 0.92, "t1": 1.1},
        "voltage_min_pu": 0.97,
        "voltage_max_pu": 1.06,
        "element_loading": 0.92,
        "grid_state_age_s": 30.0,
        "grid_state_stale": False,
    }
    assert (await client.get("/api/v1/edcs/feeder/grid-state")).json() == state


async def test_before_any_state_the_edc_has_none_and_it_counts_as_stale(
    client: httpx.AsyncClient,
) -> None:
    state = (await client.get("/api/v1/edcs/feeder/grid-state")).json()
    assert state["grid_state_source"] is None
    assert state["voltages_pu"] == {}
    assert state["grid_state_stale"] is True


async def test_a_bad_state_names_every_problem_and_nothing_is_applied(
    client: httpx.AsyncClient,
) -> None:
    await client.put("/api/v1/edcs/feeder/grid-state", json=GOOD)
    bad = {
        "estimated_at": "yesterday",
        "voltages_pu": {"n1": 0.0, "n4": 1.0, "n3": "high"},
        "loading": {"l1": -1, "l3": 0.2},
        "transformers": {},
    }
    response = await client.put("/api/v1/edcs/feeder/grid-state", json=bad)
    assert response.status_code == 422
    found = {(p["path"], p["code"]) for p in response.json()["problems"]}
    assert found == {
        ("$.estimated_at", "bad_time"),
        ("$.voltages_pu.n1", "out_of_range"),
        ("$.voltages_pu.n4", "not_in_area"),  # n4 is on l3's feeder
        ("$.voltages_pu.n3", "not_a_number"),
        ("$.loading.l1", "out_of_range"),
        ("$.loading.l3", "not_in_area"),
        ("$.transformers", "unexpected_key"),
    }
    kept = (await client.get("/api/v1/edcs/feeder/grid-state")).json()
    assert kept["voltages_pu"] == GOOD["voltages_pu"]
    assert kept["estimated_at"] == "2023-06-29T09:59:30+00:00"


@pytest.mark.parametrize(
    ("content", "path", "code"),
    [
        (b"[1.0]", "$", "dict_type"),
        (b'{"voltages_pu": {"n1": NaN}}', "$.voltages_pu.n1", "out_of_range"),
        (b'{"voltages_pu": {"n1": 1e999}}', "$.voltages_pu.n1", "out_of_range"),
        (b'{"voltages_pu": ', "$", "json_invalid"),
    ],
)
async def test_a_body_that_is_not_a_state_is_refused(
    client: httpx.AsyncClient, content: bytes, path: str, code: str
) -> None:
    response = await client.put(
        "/api/v1/edcs/feeder/grid-state",
        content=content,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert [(p["path"], p["code"]) for p in response.json()["problems"]] == [(path, code)]


async def test_an_unknown_edc_is_not_found_and_a_large_body_refused(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.put("/api/v1/edcs/nowhere/grid-state", json=GOOD)
    assert missing.status_code == 404
    large = {"voltages_pu": {f"n{i}": 1.0 for i in range(1000)}}
    assert (await client.put("/api/v1/edcs/feeder/grid-state", json=large)).status_code == 413


async def test_without_a_network_model_any_id_is_taken(site: Site) -> None:
    manager = await site.manager()
    await manager.create("area-1", "trafo-7", idempotency_key="k")
    async for client in _client(manager):
        state = {"voltages_pu": {"bus-17": 1.02}, "loading": {"trafo-7": 0.5}}
        response = await client.put("/api/v1/edcs/area-1/grid-state", json=state)
        assert response.status_code == 200, response.text
        assert response.json()["element_loading"] == 0.5
        assert manager.get("area-1").grid_state()["voltages_pu"] == {"bus-17": 1.02}
