"""Who may call: a bearer token on every route but health, RFC 6750's answers when it is
missing or refused, and each role's operations."""

from __future__ import annotations

from pathlib import Path

import httpx2 as httpx
import pytest

from tests.unit.api.conftest import Platform, bearer, build, tender_body

PROBLEM = "application/problem+json"


async def test_a_request_without_a_token_is_401_with_a_bearer_challenge(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/network")
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"] == 'Bearer realm="osed"'
    assert response.json()["type"] == "urn:osed:problem:unauthenticated"


async def test_a_refused_token_is_401_invalid_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/network", headers=bearer("forged"))
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="osed", error="invalid_token"')
    assert "error_description=" in challenge
    assert response.json()["type"] == "urn:osed:problem:invalid_token"


async def test_a_malformed_header_is_400_and_another_scheme_401(
    client: httpx.AsyncClient,
) -> None:
    empty = await client.get("/api/v1/network", headers={"Authorization": "Bearer "})
    assert empty.status_code == 400
    assert 'error="invalid_request"' in empty.headers["www-authenticate"]
    basic = await client.get("/api/v1/network", headers={"Authorization": "Basic YTpi"})
    assert basic.status_code == 401
    assert basic.headers["www-authenticate"] == 'Bearer realm="osed"'


async def test_health_stays_open_and_every_other_route_asks(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/readyz")).json() == {"ready": True, "services": {}}
    schema = (await client.get("/api/v1/openapi.json")).json()
    for path, item in schema["paths"].items():
        if path in ("/healthz", "/readyz"):
            continue
        for method in item:
            concrete = path.replace("{", "").replace("}", "")
            response = await client.request(method.upper(), concrete)
            assert response.status_code == 401, f"{method} {path}: {response.status_code}"


async def test_the_validator_is_asked_once_per_request(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    before = platform.validator.asked
    headers = {**bearer("alice-token"), "Idempotency-Key": "once"}
    await client.post(
        "/api/v1/markets/m1/tenders", json=tender_body("t", "BUY", 1, 1), headers=headers
    )
    assert platform.validator.asked == before + 1


@pytest.mark.parametrize(
    ("token", "method", "path", "body"),
    [
        ("viewer-token", "POST", "/api/v1/markets/m1/tenders", tender_body("v", "BUY", 1, 1)),
        ("viewer-token", "GET", "/api/v1/markets/m1/transactions", None),
        ("gm-token", "GET", "/api/v1/markets/m1/positions", None),
        ("viewer-token", "POST", "/api/v1/edcs", {"id": "e", "element": "trafo0"}),
        ("alice-token", "POST", "/api/v1/edcs", {"id": "e", "element": "trafo0"}),
        ("gm-token", "POST", "/api/v1/edcs", {"id": "e", "element": "trafo1"}),
        ("alice-token", "GET", "/api/v1/ledger/verification", None),
        ("viewer-token", "POST", "/api/v1/optimizations", {"x": 1}),
        ("gm-token", "POST", "/api/v1/optimizations/1/cancel", None),
    ],
)
async def test_a_principal_without_the_role_is_403(
    client: httpx.AsyncClient, token: str, method: str, path: str, body: object
) -> None:
    headers = {**bearer(token), "Idempotency-Key": f"{token}-{path}"}
    response = await client.request(method, path, json=body, headers=headers)
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "urn:osed:problem:forbidden"


async def test_a_grid_manager_changes_only_its_areas_edcs(
    client: httpx.AsyncClient,
) -> None:
    own = await client.post(
        "/api/v1/edcs",
        json={"id": "area-0", "element": "trafo0"},
        headers={**bearer("gm-token"), "Idempotency-Key": "gm-create"},
    )
    assert own.status_code == 201, own.text
    other = await client.post(
        "/api/v1/edcs",
        json={"id": "area-1", "element": "trafo1"},
        headers={**bearer("operator-token"), "Idempotency-Key": "op-create"},
    )
    assert other.status_code == 201, other.text
    listed = await client.get("/api/v1/edcs", headers=bearer("gm-token"))
    assert [e["id"] for e in listed.json()["items"]] == ["area-0", "area-1"]  # reading is open
    refused = await client.delete("/api/v1/edcs/area-1", headers=bearer("gm-token"))
    assert refused.status_code == 403
    assert (
        await client.delete("/api/v1/edcs/area-0", headers=bearer("gm-token"))
    ).status_code == 204
    assert (
        await client.get("/api/v1/edcs/area-1", headers=bearer("viewer-token"))
    ).status_code == 200


async def test_an_open_api_serves_without_a_token(tmp_path: Path) -> None:
    for platform in build(tmp_path, open=True):
        async with platform.app.router.lifespan_context(platform.app):
            transport = httpx.ASGITransport(app=platform.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://osed") as client:
                response = await client.get("/api/v1/ledger/verification")
                assert response.status_code == 200
                assert response.json()["ok"] is True
        assert platform.validator.asked == 0
