"""Cancel, shutdown and the hard deadline stop a running solve's process within a second or
two (real solves in worker processes, a real SQLite job store)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from osed.optimizer_service.app import create_app
from osed.optimizer_service.workers import WorkerPool
from osed.ports.jobs import JobStatus, JobStore
from osed.storage.jobs_sqlite import SqliteJobStore
from tests.unit.optimizer_service.long_solves import (
    alive,
    long_request,
    pid_file,
    run_recording_pid,
)

STOPPED_WITHIN_S = 2.0


@pytest.fixture
def open_store(tmp_path: Path) -> Callable[[], JobStore]:
    return lambda: SqliteJobStore(tmp_path / "jobs.sqlite")


@pytest.fixture
def client(open_store: Callable[[], JobStore]) -> Iterator[TestClient]:
    with TestClient(create_app(open_store)) as test_client:
        yield test_client


def solving(client: TestClient, pool: WorkerPool, name: str) -> tuple[int, int]:
    """Submit the long request; its job id and the id of the process solving it."""
    pid_file(name).unlink(missing_ok=True)
    body = long_request(name)
    job = client.post("/optimizations", json=body, headers={"Idempotency-Key": name}).json()
    deadline = time.monotonic() + 30
    while not pid_file(name).exists() or not pid_file(name).read_text():
        assert time.monotonic() < deadline, "the solve did not start"
        time.sleep(0.02)
    time.sleep(0.5)  # well into parsing or solving
    pid = int(pid_file(name).read_text())
    pid_file(name).unlink()
    assert alive(pid)
    return job["id"], pid


def ends_within(pid: int, seconds: float) -> float:
    started = time.monotonic()
    while alive(pid):
        assert time.monotonic() - started < seconds, f"process {pid} still runs"
        time.sleep(0.02)
    return time.monotonic() - started


def test_cancel_stops_the_solving_process(
    client: TestClient, open_store: Callable[[], JobStore]
) -> None:
    pool = WorkerPool(open_store, workers=1, poll_s=0.02, run=run_recording_pid)
    pool.start()
    try:
        name = f"cancel-{uuid.uuid4().hex[:8]}"
        job_id, pid = solving(client, pool, name)
        asked = client.post(f"/optimizations/{job_id}/cancel")
        assert asked.json()["cancel_requested"] is True
        ends_within(pid, STOPPED_WITHIN_S)
        started = time.monotonic()
        while client.get(f"/optimizations/{job_id}").json()["status"] != "cancelled":
            assert time.monotonic() - started < 1.0, "the job is not marked cancelled"
            time.sleep(0.02)
        # The worker is free again: the next request is solved.
        small = long_request(f"small-{name}", steps=8)
        small["time_limit_s"] = 30
        queued = client.post("/optimizations", json=small, headers={"Idempotency-Key": "s"})
        next_id = queued.json()["id"]
        deadline = time.monotonic() + 30
        while client.get(f"/optimizations/{next_id}").json()["status"] != "succeeded":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        pid_file(small["id"]).unlink()
    finally:
        pool.stop()


def test_shutdown_stops_the_solving_process_and_leaves_the_job_to_be_claimed_again(
    client: TestClient, open_store: Callable[[], JobStore]
) -> None:
    pool = WorkerPool(
        open_store, workers=1, poll_s=0.02, run=run_recording_pid, lease=timedelta(seconds=3)
    )
    pool.start()
    name = f"shutdown-{uuid.uuid4().hex[:8]}"
    try:
        job_id, pid = solving(client, pool, name)
    finally:
        started = time.monotonic()
        pool.stop()
    assert time.monotonic() - started < STOPPED_WITHIN_S
    ends_within(pid, STOPPED_WITHIN_S)
    status = client.get(f"/optimizations/{job_id}").json()
    assert status["status"] == "running"  # its lease runs out; another worker takes it over


def test_a_solve_past_its_budget_is_stopped_and_fails_with_time_limit(
    client: TestClient, open_store: Callable[[], JobStore]
) -> None:
    pool = WorkerPool(
        open_store, workers=1, poll_s=0.02, run=run_recording_pid, budget=lambda _: 0.5
    )
    pool.start()
    try:
        name = f"budget-{uuid.uuid4().hex[:8]}"
        pid_file(name).unlink(missing_ok=True)
        body = long_request(name)
        job = client.post("/optimizations", json=body, headers={"Idempotency-Key": name}).json()
        started = time.monotonic()
        while client.get(f"/optimizations/{job['id']}").json()["status"] in ("queued", "running"):
            assert time.monotonic() - started < 0.5 + 1.0 + STOPPED_WITHIN_S
            time.sleep(0.02)
        status = client.get(f"/optimizations/{job['id']}").json()
        assert status["status"] == "failed"
        assert status["error"].startswith("time_limit:")
        ends_within(int(pid_file(name).read_text()), STOPPED_WITHIN_S)
        pid_file(name).unlink()
    finally:
        pool.stop()


def test_a_payload_without_a_budget_fails_its_job_and_the_worker_goes_on(
    open_store: Callable[[], JobStore],
) -> None:
    store = open_store()
    now = datetime.now(UTC)
    broken = store.submit("balancer", b"not a request", idempotency_key="broken", submitted_at=now)
    pool = WorkerPool(open_store, workers=1, poll_s=0.02)
    pool.start()
    try:
        started = time.monotonic()
        while store.get(broken.job_id).status is not JobStatus.FAILED:
            assert time.monotonic() - started < 10
            time.sleep(0.02)
        assert "unreadable job payload" in (store.get(broken.job_id).error or "")
        assert pool.alive()
    finally:
        pool.stop()
        store.close()
