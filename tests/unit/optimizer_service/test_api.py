"""The balancer's REST job API with its workers, on real job stores (SQLite, Redis)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from osed.optimizer_service.app import create_app
from osed.optimizer_service.workers import WorkerPool
from osed.ports.jobs import JobStore
from osed.storage.jobs_redis import RedisJobStore
from osed.storage.jobs_sqlite import SqliteJobStore
from tests.services.redis import RedisServer, redis_server  # noqa: F401  (a fixture)
from tests.unit.optimizer.balancer_cases import osed_document
from tests.unit.optimizer.fleet_scenarios import fleet, fleet_document

CASES = Path(__file__).parents[2] / "data" / "optimizer" / "pymfm"
PYMFM = json.loads((CASES / "input_scheduling_optimization_based.json").read_text())


@pytest.fixture(params=["sqlite", "redis"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], JobStore]:
    """The job store of one test: an SQLite file, or a fresh prefix on a real Redis server."""
    if request.param == "sqlite":
        return lambda: SqliteJobStore(tmp_path / "jobs.sqlite")
    server: RedisServer = request.getfixturevalue("redis_server")
    prefix = f"api-test:{uuid.uuid4().hex}:"
    return lambda: RedisJobStore(server.url, prefix=prefix)


@pytest.fixture
def client(open_store: Callable[[], JobStore]) -> Iterator[TestClient]:
    with TestClient(create_app(open_store)) as test_client:
        yield test_client


@pytest.fixture
def workers(open_store: Callable[[], JobStore]) -> Iterator[WorkerPool]:
    pool = WorkerPool(open_store, workers=2, processes=False, poll_s=0.02)
    pool.start()
    yield pool
    pool.stop()


def wait_for(client: TestClient, job_id: int, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status: dict[str, Any] = client.get(f"/optimizations/{job_id}").json()
        if status["status"] in ("succeeded", "failed", "cancelled"):
            return status
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish")


def submit(client: TestClient, body: object, key: str, **params: Any) -> Any:
    return client.post("/optimizations", json=body, headers={"Idempotency-Key": key}, params=params)


def test_a_pymfm_request_is_queued_solved_and_its_result_kept(
    client: TestClient, workers: WorkerPool
) -> None:
    response = submit(client, PYMFM, "k1")
    assert response.status_code == 202
    job = response.json()
    assert response.headers["Location"] == f"/optimizations/{job['id']}"
    # The workers poll every 20 ms: one may have claimed the job before the response is made.
    assert job["status"] in ("queued", "running")
    assert wait_for(client, job["id"])["status"] == "succeeded"
    result = client.get(f"/optimizations/{job['id']}/result").json()
    assert result["solver_status"] == "optimal"
    assert result["objective_value"] == pytest.approx(2158.0643009715773, rel=1e-6)


def test_the_same_key_and_request_return_the_same_job(client: TestClient) -> None:
    first = submit(client, osed_document(), "same").json()
    again = submit(client, osed_document(), "same")
    assert again.status_code == 202
    assert again.json()["id"] == first["id"]
    other = submit(client, osed_document(load=30), "same")
    assert other.status_code == 409


def test_a_malformed_request_is_422_with_every_path_and_nothing_is_queued(
    client: TestClient,
) -> None:
    bad = osed_document()
    bad["load_kw"][1] = "lots"
    bad["batteries"][0]["capacity_kwh"] = 0
    response = submit(client, bad, "bad")
    assert response.status_code == 422
    paths = {p["path"] for p in response.json()["problems"]}
    assert paths == {"$.load_kw[1]", "$.batteries[0].capacity_kwh"}
    missing_key = client.post("/optimizations", json=osed_document())
    assert missing_key.status_code == 422
    assert missing_key.json()["problems"][0]["path"] == "$header.Idempotency-Key"
    broken = client.post(
        "/optimizations",
        content=b"{nope",
        headers={"Idempotency-Key": "x", "Content-Type": "application/json"},
    )
    assert broken.status_code == 422
    assert client.get("/optimizations").json()["items"] == []


def test_listing_is_newest_first_with_a_cursor(client: TestClient) -> None:
    ids = [submit(client, osed_document(load=10 + n), f"k{n}").json()["id"] for n in range(5)]
    page = client.get("/optimizations", params={"limit": 2}).json()
    assert [j["id"] for j in page["items"]] == ids[::-1][:2]
    following = client.get(
        "/optimizations", params={"limit": 3, "before": page["next_before"]}
    ).json()
    assert [j["id"] for j in following["items"]] == ids[::-1][2:5]


def test_a_queued_job_can_be_cancelled(client: TestClient) -> None:
    job = submit(client, osed_document(), "c").json()
    cancelled = client.post(f"/optimizations/{job['id']}/cancel").json()
    assert cancelled["status"] == "cancelled"
    result = client.get(f"/optimizations/{job['id']}/result")
    assert result.status_code == 409
    assert client.get("/optimizations/999").status_code == 404


def test_an_infeasible_request_succeeds_with_its_conflicts(
    client: TestClient, workers: WorkerPool
) -> None:
    body = osed_document(final=90)
    body["net_limits"] = {"upper_kw": [0, 0, 0, 0], "lower_kw": [0, 0, 0, 0]}
    job = submit(client, body, "inf").json()
    assert wait_for(client, job["id"])["status"] == "succeeded"
    result = client.get(f"/optimizations/{job['id']}/result").json()
    assert result["status"] == "infeasible"
    assert result["conflicts"]


def test_results_survive_a_restart(open_store: Callable[[], JobStore]) -> None:
    pool = WorkerPool(open_store, workers=1, processes=False, poll_s=0.02)
    pool.start()
    try:
        with TestClient(create_app(open_store)) as first:
            job = submit(first, osed_document(), "keep").json()
            wait_for(first, job["id"])
    finally:
        pool.stop()
    with TestClient(create_app(open_store)) as second:
        result = second.get(f"/optimizations/{job['id']}/result").json()
        assert result["status"] == "optimal"


def test_worker_processes_solve_every_queued_request(
    client: TestClient, open_store: Callable[[], JobStore]
) -> None:
    pool = WorkerPool(open_store, workers=2, processes=True, poll_s=0.02)
    pool.start()
    try:
        ids = [submit(client, osed_document(load=10 + n), f"p{n}").json()["id"] for n in range(6)]
        finished = [wait_for(client, job_id, timeout=60) for job_id in ids]
    finally:
        pool.stop()
    assert {f["status"] for f in finished} == {"succeeded"}
    results = [client.get(f"/optimizations/{i}/result").json() for i in ids]
    assert {r["status"] for r in results} == {"optimal"}


def slow_run(payload: bytes) -> bytes:
    time.sleep(3.0)
    return b"{}"


def test_a_running_job_is_cancelled_at_its_next_heartbeat(
    client: TestClient, open_store: Callable[[], JobStore]
) -> None:
    pool = WorkerPool(
        open_store,
        workers=1,
        processes=False,
        poll_s=0.02,
        lease=timedelta(seconds=0.3),
        run=slow_run,
    )
    pool.start()
    try:
        job = submit(client, osed_document(), "slow").json()
        deadline = time.monotonic() + 5
        while client.get(f"/optimizations/{job['id']}").json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        asked = client.post(f"/optimizations/{job['id']}/cancel").json()
        assert asked["status"] == "running"
        assert asked["cancel_requested"] is True
        started = time.monotonic()
        assert wait_for(client, job["id"])["status"] == "cancelled"
        assert time.monotonic() - started < 1.0  # well before the 3 s solve ends
    finally:
        pool.stop()


def test_the_openapi_schema_describes_every_format(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/optimizations"]["post"]["requestBody"]["content"]
    members = body["application/json"]["schema"]["anyOf"]
    models = schema["components"]["schemas"]
    titles = {models[m["$ref"].rsplit("/", 1)[1]]["title"] for m in members}
    assert titles == {"BalancingDocument", "PymfmInput", "FleetDocument"}


def test_a_fleet_request_is_solved_and_a_bad_one_is_422(
    client: TestClient, workers: WorkerPool
) -> None:
    document = fleet_document(fleet(8, seed=2, cap_share=0.6))
    job = submit(client, document, "fleet").json()
    assert wait_for(client, job["id"])["status"] == "succeeded"
    result = client.get(f"/optimizations/{job['id']}/result").json()
    assert result["status"] == "optimal"
    assert result["objective"]["gap"] <= 1e-3
    assert len(result["households"]) == 8
    document["export_price"] = document["export_price"][:-1]  # type: ignore[index]
    bad = submit(client, document, "bad-fleet")
    assert bad.status_code == 422
    assert {p["path"] for p in bad.json()["problems"]} == {"$.export_price"}
