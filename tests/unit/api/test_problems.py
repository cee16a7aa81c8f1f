"""Every error status as application/problem+json (RFC 9457): FastAPI's own 422, 404 and 405,
OSED's errors, and the plain bodies the joined routers answer with themselves."""

from __future__ import annotations

import httpx2 as httpx
import pytest

from tests.unit.api.conftest import bearer, tender_body

PROBLEM = "application/problem+json"
ADMIN = bearer("admin-token")


def problem_of(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    document: dict[str, object] = response.json()
    assert document["status"] == status
    assert isinstance(document["title"], str)
    assert document["title"]
    assert isinstance(document["type"], str)
    assert document["type"] == "about:blank" or document["type"].startswith("urn:osed:problem:")
    return document


def paths(document: dict[str, object]) -> set[str]:
    errors = document["errors"]
    assert isinstance(errors, list)
    return {error["path"] for error in errors}


async def test_an_unknown_route_and_an_unknown_resource_are_404(
    client: httpx.AsyncClient,
) -> None:
    route = problem_of(await client.get("/api/v1/nothing", headers=ADMIN), 404)
    assert route["type"] == "about:blank"
    assert route["instance"] == "/api/v1/nothing"
    node = problem_of(await client.get("/api/v1/network/nodes/bus99", headers=ADMIN), 404)
    assert node["type"] == "urn:osed:problem:not_found"
    assert "bus99" in str(node["detail"])


async def test_a_wrong_method_is_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/v1/network", headers=ADMIN)
    problem_of(response, 405)
    assert response.headers["allow"] == "GET"


async def test_bad_parameters_are_422_with_every_path(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/series/data?series=x&start=2026-07-01T00:00Z&end=2026-07-01T01:00Z&limit=0&agg=median",
        headers=ADMIN,
    )
    document = problem_of(response, 422)
    assert paths(document) == {"$query.limit", "$query.agg"}
    ranges = await client.get(
        "/api/v1/series/data?series=x&start=yesterday&end=2026-07-01T01:00&agg=max",
        headers=ADMIN,
    )
    assert paths(problem_of(ranges, 422)) == {"$query.start", "$query.end", "$query.agg"}


async def test_a_bad_tender_names_every_problem_at_once(client: httpx.AsyncClient) -> None:
    body = tender_body("t1", "HOLD", -5, 0)
    body["tender"].pop("currency")
    body["extra"] = 1
    response = await client.post(
        "/api/v1/markets/m1/tenders", json=body, headers=bearer("alice-token")
    )
    assert paths(problem_of(response, 422)) == {
        "$header.Idempotency-Key",
        "$.extra",
        "$.tender.side",
        "$.tender.currency",
        "$.tender.tenderDetail.interval.quantity",
    }


async def test_a_missing_idempotency_key_is_422_at_its_header(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/markets/m1/tenders", json=tender_body("t", "BUY", 1, 1), headers=ADMIN
    )
    assert paths(problem_of(response, 422)) == {"$header.Idempotency-Key", "$.partyId"}


async def test_conflicts_are_409(client: httpx.AsyncClient) -> None:
    headers = {**ADMIN, "Idempotency-Key": "first"}
    created = await client.post("/api/v1/edcs", json={"id": "e1", "element": "x"}, headers=headers)
    assert created.status_code == 201
    headers["Idempotency-Key"] = "second"
    taken = await client.post("/api/v1/edcs", json={"id": "e1", "element": "x"}, headers=headers)
    assert problem_of(taken, 409)["type"] == "urn:osed:problem:conflict"


async def test_the_balancers_own_answers_become_problems(client: httpx.AsyncClient) -> None:
    headers = {**bearer("operator-token"), "Idempotency-Key": "text", "Content-Type": "text/plain"}
    media = problem_of(
        await client.post("/api/v1/optimizations", content=b"{}", headers=headers), 415
    )
    assert media["type"] == "urn:osed:problem:unsupported_media_type"
    assert "text/plain" in str(media["detail"])
    no_result = await client.get("/api/v1/optimizations/7/result", headers=ADMIN)
    assert problem_of(no_result, 404)["type"] == "urn:osed:problem:not_found"


async def test_a_body_beyond_the_limit_is_413(client: httpx.AsyncClient) -> None:
    headers = {**ADMIN, "Idempotency-Key": "big", "Content-Type": "application/json"}
    body = b'{"tender": "' + b"x" * 70_000 + b'"}'
    document = problem_of(
        await client.post("/api/v1/markets/m1/tenders", content=body, headers=headers), 413
    )
    assert document["type"] == "urn:osed:problem:too_large"


@pytest.mark.parametrize("accept", ["image/png", "text/html;q=1, application/xml"])
async def test_a_format_it_cannot_give_is_406(client: httpx.AsyncClient, accept: str) -> None:
    response = await client.get(
        "/api/v1/series/data?series=meter0/grid/power/ABC&start=2026-07-01T00:00Z"
        "&end=2026-07-01T01:00Z",
        headers={**ADMIN, "Accept": accept},
    )
    problem_of(response, 406)


async def test_the_openapi_document_states_problems_for_every_error(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/api/v1/openapi.json")).json()
    assert "Problem" in schema["components"]["schemas"]
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for code, answer in operation["responses"].items():
                if int(code) >= 400:
                    assert list(answer["content"]) == [PROBLEM], f"{method} {path} {code}"
            if path not in ("/healthz", "/readyz"):
                assert {"401", "403", "422"} <= set(operation["responses"]), f"{method} {path}"
