"""The job API reads request bodies as strict JSON: deep nesting, NaN, overflowing numbers
and bytes that are not UTF-8 are a 422 naming the problem, never a 500, and nothing is queued."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from osed.optimizer_service.app import create_app
from osed.storage.jobs_sqlite import SqliteJobStore


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "too_deep"),
        (b'{"steps": [1, NaN]}', "not_finite"),
        (b'{"steps": [1, 1e400]}', "not_finite"),
        (b'{"steps": "\xff"}', "not_utf8"),
    ],
)
def test_a_hostile_body_is_422_with_its_problem(tmp_path: Path, body: bytes, code: str) -> None:
    with TestClient(create_app(lambda: SqliteJobStore(tmp_path / "jobs.sqlite"))) as client:
        response = client.post(
            "/optimizations",
            content=body,
            headers={"Idempotency-Key": "k", "Content-Type": "application/json"},
        )
        assert response.status_code == 422, response.text
        assert code in response.text
        assert client.get("/optimizations").json()["items"] == []
