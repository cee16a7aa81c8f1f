"""Hostile but fair requests to the balancer API get a clear 4xx that names the problem,
never a server error, and nothing is queued (a real SQLite job store)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from osed.optimizer_service.app import create_app
from osed.storage.jobs_sqlite import SqliteJobStore
from tests.unit.optimizer.balancer_cases import osed_document

LIMIT = 8192
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(lambda: SqliteJobStore(tmp_path / "jobs.sqlite"), max_request_bytes=LIMIT)
    with TestClient(app) as test_client:
        yield test_client


def post(client: TestClient, body: Any, **headers: str) -> Any:
    return client.post(
        "/optimizations", content=body, headers={"Idempotency-Key": "k", **JSON, **headers}
    )


def paths(response: Any) -> set[str]:
    return {p["path"] for p in response.json()["problems"]}


def nothing_queued(client: TestClient) -> bool:
    return client.get("/optimizations").json()["items"] == []


@pytest.mark.parametrize("job_id", ["99999999999999999999999", "9" * 5000, "0", "-3"])
def test_a_job_id_outside_the_schema_is_422_with_its_path(client: TestClient, job_id: str) -> None:
    for url in (f"/optimizations/{job_id}", f"/optimizations/{job_id}/result"):
        response = client.get(url)
        assert response.status_code == 422
        assert paths(response) == {"$path.job_id"}
    assert client.post(f"/optimizations/{job_id}/cancel").status_code == 422


def test_a_job_id_inside_the_schema_is_404_when_unknown(client: TestClient) -> None:
    response = client.get(f"/optimizations/{2**63 - 1}")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_a_deeply_nested_body_is_422(tmp_path: Path) -> None:
    depth = 100_000
    app = create_app(lambda: SqliteJobStore(tmp_path / "jobs.sqlite"))  # the default limit
    with TestClient(app) as client:
        response = post(client, b"[" * depth + b"]" * depth)
        assert response.status_code == 422
        assert response.json()["problems"][0]["code"] == "too_deep"
        nested: list[Any] = []
        for _ in range(70):  # parsed by json, but deeper than any request format
            nested = [nested]
        inside = osed_document(extra=nested)
        response = client.post("/optimizations", json=inside, headers={"Idempotency-Key": "d"})
        assert response.status_code == 422
        assert response.json()["problems"][0]["path"].startswith("$.extra[0][0]")
        assert nothing_queued(client)


def test_a_5000_digit_integer_is_422(client: TestClient) -> None:
    body = b'{"id": "x", "start": "2026-06-01T00:00:00Z", "load_kw": [' + b"7" * 5000 + b"]}"
    assert len(body) < LIMIT  # the number is refused, not the size
    response = post(client, body)
    assert response.status_code == 422
    assert response.json()["problems"][0]["code"] == "bad_json"
    assert nothing_queued(client)


@pytest.mark.parametrize("token", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_non_finite_numbers_are_refused(client: TestClient, token: bytes) -> None:
    body = b'{"id": "x", "start": "2026-06-01T00:00:00Z", "load_kw": [1], "note": ' + token + b"}"
    response = post(client, body)
    assert response.status_code == 422
    assert response.json()["problems"][0]["code"] == "not_finite"
    assert nothing_queued(client)


@pytest.mark.parametrize("body", [b"null", b"[]", b'"text"', b"7"])
@pytest.mark.parametrize("format", [None, "pymfm", "osed", "fleet"])
def test_a_body_that_is_not_an_object_is_422(
    client: TestClient, body: bytes, format: str | None
) -> None:
    params = {} if format is None else {"format": format}
    response = client.post(
        "/optimizations", content=body, params=params, headers={"Idempotency-Key": "k", **JSON}
    )
    assert response.status_code == 422
    assert response.json()["problems"][0] == {
        "path": "$",
        "code": "not_object",
        "message": "the request must be a JSON object",
    }
    assert nothing_queued(client)


@pytest.mark.parametrize("media_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_a_body_that_is_not_json_is_415(client: TestClient, media_type: str) -> None:
    body = b'{"id": "x"}'
    response = client.post(
        "/optimizations",
        content=body,
        headers={"Idempotency-Key": "k", "Content-Type": media_type},
    )
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"
    assert nothing_queued(client)


@pytest.mark.parametrize("key", ["k" * 10_000, "with space", ""])
def test_an_unusable_idempotency_key_is_422_with_its_path(client: TestClient, key: str) -> None:
    response = client.post("/optimizations", json=osed_document(), headers={"Idempotency-Key": key})
    assert response.status_code == 422
    assert paths(response) == {"$header.Idempotency-Key"}
    assert nothing_queued(client)


def test_a_body_above_the_limit_is_413_before_it_is_parsed(client: TestClient) -> None:
    big = b'{"id": "' + b"x" * LIMIT + b'"}'
    declared = post(client, big)
    assert declared.status_code == 413
    assert declared.json()["error"] == "too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(LIMIT // 64 + 2):
            yield b" " * 64

    streamed = post(client, chunks())
    assert streamed.status_code == 413
    assert nothing_queued(client)


def test_the_schema_states_the_bounds_and_every_answer(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    status = schema["paths"]["/optimizations/{job_id}"]["get"]
    job_id = next(p for p in status["parameters"] if p["name"] == "job_id")["schema"]
    assert (job_id["minimum"], job_id["maximum"]) == (1, 2**63 - 1)
    assert {"200", "404", "422"} <= set(status["responses"])
    submit = schema["paths"]["/optimizations"]["post"]
    assert {"202", "409", "413", "415", "422"} <= set(submit["responses"])
    key = next(p for p in submit["parameters"] if p["name"] == "idempotency-key")
    assert key["required"] is True
    assert key["schema"]["maxLength"] == 200
