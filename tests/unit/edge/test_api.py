"""The EDC management API as a grid-level manager uses it: create, assign, enrol, read the
area, destroy; bad requests get every problem with its path and change nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx2 as httpx
import pytest

from osed.edge.api import create_app
from osed.edge.manager import EdcManager
from tests.unit.edge.conftest import Field, Site, eventually

KEY = {"Idempotency-Key": "create-area-1"}


@pytest.fixture
async def manager(site: Site) -> EdcManager:
    return await site.manager()


@pytest.fixture
async def client(manager: EdcManager) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(manager, max_request_bytes=4096))
    async with httpx.AsyncClient(transport=transport, base_url="http://edc") as made:
        yield made


async def create(client: httpx.AsyncClient, edc_id: str = "area-1") -> httpx.Response:
    body = {"id": edc_id, "element": "trafo-7"}
    return await client.post("/api/v1/edcs", json=body, headers=KEY)


def paths(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    return {p["path"] for p in response.json()["problems"]}


async def test_create_is_idempotent_by_key_and_a_taken_id_conflicts(
    client: httpx.AsyncClient,
) -> None:
    first = await create(client)
    assert first.status_code == 201
    assert first.headers["Location"] == "/api/v1/edcs/area-1"
    again = await create(client)
    assert again.status_code == 200
    assert again.json() == first.json()
    other = await client.post(
        "/api/v1/edcs",
        json={"id": "area-1", "element": "trafo-7"},
        headers={"Idempotency-Key": "another"},
    )
    assert other.status_code == 409
    listed = (await client.get("/api/v1/edcs")).json()["items"]
    assert [edc["id"] for edc in listed] == ["area-1"]


async def test_a_bad_create_names_every_problem_and_creates_nothing(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/v1/edcs", json={"id": "a/b", "elem": "x"})
    assert paths(response) == {"$.id", "$.element", "$.elem", "$header.Idempotency-Key"}
    assert (await client.get("/api/v1/edcs")).json()["items"] == []


async def test_parameters_are_checked_against_the_manifest_and_nothing_is_applied(
    client: httpx.AsyncClient,
) -> None:
    await create(client)
    bad = {"parameters": {"limit_kw": 5000, "period": {"value": 2, "unit": "kW"}, "x": 1}}
    response = await client.post("/api/v1/edcs/area-1/functions/probe", json=bad)
    assert paths(response) == {"$.parameters.limit_kw", "$.parameters.period", "$.parameters.x"}
    codes = {p["code"] for p in response.json()["problems"]}
    assert codes == {"too_large", "wrong_unit", "unknown_parameter"}
    assert (await client.get("/api/v1/edcs/area-1")).json()["functions"] == []


async def test_an_unknown_function_or_edc_is_a_404(client: httpx.AsyncClient) -> None:
    await create(client)
    unknown = await client.post("/api/v1/edcs/area-1/functions/teleport", json={})
    assert unknown.status_code == 404
    assert "installed: probe" in unknown.json()["message"]
    assert (await client.get("/api/v1/edcs/area-9")).status_code == 404
    assert (await client.delete("/api/v1/edcs/area-9")).status_code == 404
    assert (await client.get("/api/v1/edcs/area-1/functions/probe")).status_code == 404


async def test_units_are_converted_and_defaults_filled(client: httpx.AsyncClient) -> None:
    await create(client)
    body = {"parameters": {"limit_kw": {"value": 0.2, "unit": "MW"}}}
    response = await client.post("/api/v1/edcs/area-1/functions/probe", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["parameters"] == {"limit_kw": pytest.approx(200.0), "period": 60.0}
    twice = await client.post("/api/v1/edcs/area-1/functions/probe", json=body)
    assert twice.status_code == 409


async def test_the_installed_functions_and_the_openapi_document_are_served(
    client: httpx.AsyncClient,
) -> None:
    functions = (await client.get("/api/v1/grid-functions")).json()["items"]
    assert [(f["name"], f["version"]) for f in functions] == [("probe", "0.1")]
    schema = (await client.get("/openapi.json")).json()
    assert "/api/v1/edcs/{edc_id}/functions/{name}" in schema["paths"]
    assert "404" in schema["paths"]["/api/v1/edcs/{edc_id}"]["get"]["responses"]


async def test_an_oversized_body_is_refused(client: httpx.AsyncClient) -> None:
    await create(client)
    big = {"parameters": {"limit_kw": 1, "pad": "x" * 5000}}
    response = await client.post("/api/v1/edcs/area-1/functions/probe", json=big)
    assert response.status_code == 413


async def answer(field: Field, building: str, token: str, **body: Any) -> None:
    message = {"building": building, "token": token, "type": "response", "body": body}
    await field.send("edc/area-1/probe/in", message)


async def test_scenario_create_assign_enrol_answer_reject_destroy(
    client: httpx.AsyncClient, manager: EdcManager, field: Field
) -> None:
    assert (await create(client)).status_code == 201
    tokens = {}
    for building in ("b1", "b2"):
        enrolled = await client.post(
            "/api/v1/edcs/area-1/buildings", json={"building_id": building}
        )
        assert enrolled.status_code == 201, enrolled.text
        tokens[building] = enrolled.json()["token"]
    assigned = await client.post(
        "/api/v1/edcs/area-1/functions/probe", json={"parameters": {"limit_kw": 40}}
    )
    assert assigned.status_code == 201
    await eventually(lambda: len(field.on("edc/area-1/probe/out/")) == 2)
    assert {m["body"]["limit_kw"] for m in field.on("edc/area-1/probe/out/")} == {40.0}

    await answer(field, "b1", tokens["b1"], kw=3.0)
    await answer(field, "b2", tokens["b2"], kw=4.0)
    await answer(field, "b2", tokens["b1"], kw=99.0)  # b1's token is not b2's
    await field.send("edc/area-1/probe/in", b'{"building":"b1","pad":"' + b"x" * 500 + b'"}')
    await field.send(
        "edc/area-1/probe/in",
        {"building": "b1", "token": tokens["b1"], "type": "shutdown", "body": {}},
    )
    await eventually(lambda: len(field.on("dead-letter/")) == 3)
    status = (await client.get("/api/v1/edcs/area-1/functions/probe")).json()
    assert status["status"]["responses"] == {"b1": 3.0, "b2": 4.0}
    assert status["messages"] == {"accepted": 2, "rejected": 3}

    assert (await client.delete("/api/v1/edcs/area-1")).status_code == 204
    await eventually(lambda: len(field.on("edc/area-1/probe/out/")) == 4)
    assert {m["type"] for m in field.on("edc/area-1/probe/out/")[2:]} == {"restore"}
    assert manager.resources() == {"edcs": 0, "tasks": 0, "subscriptions": 0, "channels": 0}
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("edc:")]
    await answer(field, "b1", tokens["b1"], kw=1.0)  # nobody listens any more
    await asyncio.sleep(0.05)
    assert len(field.on("dead-letter/")) == 3
    assert (await client.get("/api/v1/edcs")).json()["items"] == []


async def test_a_restarted_manager_resumes_its_edcs(site: Site, field: Field) -> None:
    manager = await site.manager()
    edc, _ = await manager.create("area-1", "trafo-7", idempotency_key="k")
    token = await edc.enrol("b1", None)
    await edc.assign("probe", {"limit_kw": 25})
    await edc.tick()
    await answer(field, "b1", token, kw=7.5)
    await eventually(lambda: edc.function_status("probe")["status"]["responses"] == {"b1": 7.5})
    await site.stop(manager)

    restarted = await site.manager()
    resumed = restarted.get("area-1")
    status = resumed.function_status("probe")
    assert status["parameters"]["limit_kw"] == pytest.approx(25.0)
    assert status["status"] == {"responses": {"b1": 7.5}, "ticks": 1}
    assert restarted.resources() == {"edcs": 1, "tasks": 1, "subscriptions": 1, "channels": 1}
    await answer(field, "b1", token, kw=8.0)  # the token still holds after the restart
    await eventually(lambda: resumed.function_status("probe")["status"]["responses"]["b1"] == 8)
    await restarted.destroy("area-1")
    await site.stop(restarted)
    assert (await site.manager()).edcs() == []


async def test_many_buildings_enrol_in_one_request_and_a_bad_one_stops_all(
    client: httpx.AsyncClient, manager: EdcManager
) -> None:
    await create(client)
    good = {"buildings": [{"building_id": f"b{k}"} for k in range(50)]}
    enrolled = await client.post("/api/v1/edcs/area-1/buildings/batch", json=good)
    assert enrolled.status_code == 201, enrolled.text
    tokens = [item["token"] for item in enrolled.json()["items"]]
    assert len(set(tokens)) == 50
    bad = {
        "buildings": [
            {"building_id": "c1"},
            {"building_id": "c 2"},
            {"building_id": "c3", "functions": ["probe", "no/such"]},
        ]
    }
    refused = await client.post("/api/v1/edcs/area-1/buildings/batch", json=bad)
    assert paths(refused) == {"$.buildings[1].building_id", "$.buildings[2].functions[1]"}
    assert len(manager.get("area-1").enrolment()) == 50


async def test_concurrent_creates_and_assigns_make_one_each(
    client: httpx.AsyncClient, manager: EdcManager
) -> None:
    created = await asyncio.gather(*(create(client) for _ in range(5)))
    assert sorted(r.status_code for r in created) == [200, 200, 200, 200, 201]
    body = {"parameters": {"limit_kw": 1}}
    assigned = await asyncio.gather(
        *(client.post("/api/v1/edcs/area-1/functions/probe", json=body) for _ in range(5))
    )
    assert sorted(r.status_code for r in assigned) == [201, 409, 409, 409, 409]
    assert manager.resources()["subscriptions"] == 1


@pytest.mark.parametrize("body", [b"\xff\x12\xfe", b'{"id": ', b"[" * 5000])
async def test_a_body_that_is_not_json_is_a_problem_not_a_400(
    client: httpx.AsyncClient, body: bytes
) -> None:
    response = await client.post(
        "/api/v1/edcs",
        content=body,
        headers={**KEY, "Content-Type": "application/json"},
    )
    assert response.status_code in (413, 422), response.text
    if response.status_code == 422:
        assert "$" in paths(response)


async def test_an_unenrolled_building_leaves_every_function_and_the_aggregate(
    client: httpx.AsyncClient, manager: EdcManager, field: Field
) -> None:
    await create(client)
    await client.post("/api/v1/edcs/area-1/functions/probe", json={"parameters": {"limit_kw": 5}})
    tokens = {}
    for building in ("b1", "b2"):
        enrolled = await client.post(
            "/api/v1/edcs/area-1/buildings", json={"building_id": building}
        )
        tokens[building] = enrolled.json()["token"]
        report = {"building": building, "token": tokens[building], "type": "report"}
        await field.send("edc/area-1/probe/in", {**report, "body": {"demand_kw": 3.0}})
    await eventually(lambda: manager.get("area-1").aggregate()["demand_kw"] == 6.0)

    gone = await client.delete("/api/v1/edcs/area-1/buildings/b1")
    assert gone.status_code == 204
    area = (await client.get("/api/v1/edcs/area-1/aggregate")).json()
    assert (area["buildings"], area["reporting"]) == (1, 1)
    assert area["demand_kw"] == pytest.approx(3.0)
    assert manager.get("area-1").function_status("probe")["buildings"] == ["b2"]
    await answer(field, "b1", tokens["b1"], kw=1.0)
    await eventually(lambda: len(field.on("dead-letter/")) == 1)
    assert field.on("dead-letter/")[0]["problems"][0]["code"] == "not_enrolled"

    again = await client.delete("/api/v1/edcs/area-1/buildings/b1")
    assert again.status_code == 404
    assert again.json()["message"] == "'b1' is not enrolled in EDC 'area-1'"
    assert (await client.delete("/api/v1/edcs/nowhere/buildings/b2")).status_code == 404
    assert paths(await client.delete("/api/v1/edcs/area-1/buildings/b%202")) == {
        "$path.building_id"
    }
