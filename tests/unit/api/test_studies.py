"""Scenario runs over the platform API, played for real: the runtime's ``studies`` service
(its worker pool, each run in a process of its own) on an SQLite job store, the API over the
port it opens, callers with the fixed tokens of conftest.py. The bundled ``small`` scenario
(10 households, a day at 15 minutes) plays in about 6 s on a shared 2-core machine."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from multiprocessing import forkserver
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from osed.api.app import Parts, Studies, create_app
from osed.domain.time import SystemClock
from osed.runtime.container import build_services
from osed.runtime.settings import JobsSettings, Settings, StudiesSettings
from osed.runtime.studies import StudiesRunner
from osed.sim.scenario import bundled_scenario
from osed.storage.idempotency_sqlite import SqliteIdempotencyStore
from tests.unit.api.conftest import PRINCIPALS, FixedTokens, bearer

OPERATOR = bearer("operator-token")
VIEWER = bearer("viewer-token")
FINISHED = ("succeeded", "failed", "cancelled")


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StudiesRunner]:
    folder = tmp_path_factory.mktemp("studies")
    settings = Settings.model_construct(
        jobs=JobsSettings(sqlite_path=folder / "jobs.sqlite"),
        studies=StudiesSettings(runs_dir=folder / "runs", lease_s=5.0),
    )
    made = StudiesRunner(settings, clock=SystemClock(), state_dir=folder)
    asyncio.run(made.start())
    try:
        yield made
    finally:
        asyncio.run(made.stop())


@pytest.fixture
async def client(runner: StudiesRunner, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        Parts(studies=Studies(runner.open_runs, bundled=runner.bundled)),
        validator=FixedTokens(PRINCIPALS),
        idempotency=lambda: SqliteIdempotencyStore(tmp_path / "keys.sqlite"),
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://osed") as made:
            yield made


async def submit(client: httpx.AsyncClient, body: dict[str, Any], key: str) -> httpx.Response:
    return await client.post(
        "/api/v1/studies", json=body, headers={**OPERATOR, "Idempotency-Key": key}
    )


async def until(
    client: httpx.AsyncClient, study: int, done: Any, timeout_s: float = 60.0
) -> dict[str, Any]:
    """The run's document once ``done(document)`` holds (polled every 0.1 s)."""
    deadline = time.monotonic() + timeout_s
    while True:
        document: dict[str, Any] = (
            await client.get(f"/api/v1/studies/{study}", headers=VIEWER)
        ).json()
        if done(document):
            return document
        assert document["status"] not in FINISHED, document
        assert time.monotonic() < deadline, f"study {study} still {document['status']}"
        await asyncio.sleep(0.1)


def run_processes() -> dict[int, list[int]]:
    """Each process the forkserver started (a run) with the processes of its group."""
    server = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
    children = Path(f"/proc/{server}/task/{server}/children").read_text().split()
    groups: dict[int, list[int]] = {int(child): [] for child in children}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) in groups:  # state, ppid, pgrp
            groups[int(fields[2])].append(int(entry.name))
    return groups


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def longer_small(hours: int) -> str:
    text = bundled_scenario("small").read_text(encoding="utf-8")
    return text.replace("horizon_h: 24", f"horizon_h: {hours}")


async def test_the_small_scenario_runs_to_its_kpis_report_and_tables(
    client: httpx.AsyncClient,
) -> None:
    answer = await submit(client, {"bundled": "small"}, "small-1")
    assert answer.status_code == 202, answer.text
    queued = answer.json()
    study = queued["id"]
    assert answer.headers["location"] == f"/api/v1/studies/{study}"
    assert (queued["scenario"], queued["seed"], queued["households"]) == ("small", 2026, 10)
    again = await submit(client, {"bundled": "small"}, "small-1")
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json()["id"] == study
    other = await submit(client, {"bundled": "small", "seed": 7}, "small-1")
    assert other.status_code == 422
    assert other.json()["errors"][0]["path"] == "$header.Idempotency-Key"

    seen: list[float] = []

    def finished(document: dict[str, Any]) -> bool:
        if document["progress"] is not None:
            seen.append(document["progress"]["share"])
        return document["status"] in FINISHED

    done = await until(client, study, finished)
    assert done["status"] == "succeeded", done
    assert seen
    assert all(0 <= share <= 1 for share in seen)
    kpis = done["kpis"]
    assert kpis["households"] == 10
    assert kpis["steps"] == 96
    assert kpis["ledger_verified"] is True
    assert kpis["peak_managed_kw"] < kpis["peak_baseline_kw"]
    assert kpis["peak_reduction_pct"] == pytest.approx(
        100 * (1 - kpis["peak_managed_kw"] / kpis["peak_baseline_kw"]), abs=1e-3
    )
    listed = (await client.get("/api/v1/studies", headers=VIEWER)).json()
    assert study in [item["id"] for item in listed["items"]]

    report = await client.get(done["links"]["report"], headers=VIEWER)
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in report.headers["content-security-policy"]
    assert "<svg" in report.text
    assert "small" in report.text

    parquet = await client.get(done["links"]["data"]["grid"], headers=VIEWER)
    assert parquet.status_code == 200
    assert parquet.headers["content-type"] == "application/vnd.apache.parquet"
    grid = pq.read_table(io.BytesIO(parquet.content))
    assert grid.num_rows == 2 * 96  # the baseline's steps, then the managed run's
    assert set(grid.column("run").to_pylist()) == {"baseline", "managed"}
    peak = max(grid.column("area_import_kw").to_pylist()[96:])
    assert peak == pytest.approx(kpis["peak_managed_kw"], rel=1e-3)

    csv = await client.get(done["links"]["data"]["grid"], headers={**VIEWER, "Accept": "text/csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    from_csv = pa_csv.read_csv(io.BytesIO(csv.content))
    assert from_csv.column_names == grid.column_names
    assert from_csv.num_rows == grid.num_rows
    for column in ("area_import_kw", "min_voltage_pu"):
        assert from_csv.column(column).to_pylist() == pytest.approx(
            grid.column(column).to_pylist(), rel=1e-12, nan_ok=True
        )
    by_query = await client.get(f"{done['links']['data']['grid']}?format=csv", headers=VIEWER)
    assert by_query.content == csv.content

    unknown = await client.get(f"/api/v1/studies/{study}/data/weather", headers=VIEWER)
    assert unknown.status_code == 404
    refused = await client.get(
        done["links"]["data"]["grid"], headers={**VIEWER, "Accept": "application/json"}
    )
    assert refused.status_code == 406
    assert refused.headers["content-type"] == "application/problem+json"


async def test_a_bad_scenario_is_422_with_every_problem_and_nothing_is_queued(
    client: httpx.AsyncClient,
) -> None:
    before = (await client.get("/api/v1/studies", headers=VIEWER)).json()["items"]
    scenario = (
        longer_small(24)
        .replace("seed: 2026", "seed: -3")
        .replace("horizon_h: 24", "horizon_h: 24.1\ncolour: blue")
    )
    answer = await client.post(
        "/api/v1/studies", json={"scenario": scenario, "seed": "x", "priority": 1}, headers=OPERATOR
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    paths = {(e["path"], e["code"]) for e in answer.json()["errors"]}
    assert {
        ("$.priority", "unexpected_key"),
        ("$header.Idempotency-Key", "missing"),
        ("$.seed", "out_of_range"),
        ("$.scenario.colour", "unknown_field"),
        ("$.scenario.seed", "too_small"),
        ("$.scenario.horizon_h", "not_aligned"),
    } <= paths
    files = await submit(
        client, {"scenario": {"name": "x", "network": {"pandapower": "/etc/grid.json"}}}, "f-1"
    )
    assert files.status_code == 422
    assert ("$.scenario.network.pandapower", "server_file") in {
        (e["path"], e["code"]) for e in files.json()["errors"]
    }
    neither = await submit(client, {}, "n-1")
    assert [e["path"] for e in neither.json()["errors"]] == ["$"]
    after = (await client.get("/api/v1/studies", headers=VIEWER)).json()["items"]
    assert after == before


async def test_a_cancel_stops_a_running_study_and_its_processes(
    client: httpx.AsyncClient, runner: StudiesRunner
) -> None:
    answer = await submit(client, {"scenario": longer_small(72)}, "long-1")
    assert answer.status_code == 202, answer.text
    study = answer.json()["id"]
    await until(client, study, lambda d: d["status"] == "running")
    deadline = time.monotonic() + 20
    while not any(len(group) >= 2 for group in run_processes().values()):  # baseline started
        assert time.monotonic() < deadline, "the run never started its baseline"
        await asyncio.sleep(0.05)
    playing = [pid for group in run_processes().values() for pid in group]
    viewer = await client.delete(f"/api/v1/studies/{study}", headers=VIEWER)
    assert viewer.status_code == 403
    cancelled = await client.delete(f"/api/v1/studies/{study}", headers=OPERATOR)
    assert cancelled.status_code == 200
    assert cancelled.json()["cancel_requested"] is True
    done = await until(client, study, lambda d: d["status"] in FINISHED, timeout_s=5)
    assert done["status"] == "cancelled"
    deadline = time.monotonic() + 2
    while any(alive(pid) for pid in playing):
        assert time.monotonic() < deadline, "a process of the run outlived its cancel"
        await asyncio.sleep(0.05)
    assert not (runner.runs / str(study)).exists()
    report = await client.get(f"/api/v1/studies/{study}/report", headers=VIEWER)
    assert report.status_code == 409
    assert report.json()["type"] == "urn:osed:problem:no_result"
    assert report.json()["status"] == 409


async def test_a_run_whose_process_dies_fails(client: httpx.AsyncClient) -> None:
    answer = await submit(client, {"scenario": longer_small(72), "seed": 5}, "crash-1")
    study = answer.json()["id"]
    await until(client, study, lambda d: d["status"] == "running")
    deadline = time.monotonic() + 20
    while not (groups := run_processes()):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    (leader, members), *_ = groups.items()
    os.kill(leader, signal.SIGKILL)
    try:
        done = await until(client, study, lambda d: d["status"] in FINISHED, timeout_s=5)
    finally:
        for pid in members:  # what the killed process had started
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert done["status"] == "failed"
    assert "exit code -9" in done["error"]
    assert done["kpis"] is None


async def test_viewers_read_and_only_operators_submit_or_cancel(
    client: httpx.AsyncClient,
) -> None:
    for token in ("viewer-token", "alice-token", "gm-token"):
        refused = await client.post(
            "/api/v1/studies",
            json={"bundled": "small"},
            headers={**bearer(token), "Idempotency-Key": f"{token}-1"},
        )
        assert refused.status_code == 403, token
        assert (await client.get("/api/v1/studies", headers=bearer(token))).status_code == 200
    assert (await client.get("/api/v1/studies")).status_code == 401
    missing = await client.get("/api/v1/studies/999999", headers=VIEWER)
    assert missing.status_code == 404


async def test_pages_follow_the_cursor(client: httpx.AsyncClient) -> None:
    every = (await client.get("/api/v1/studies", headers=VIEWER)).json()["items"]
    assert len(every) >= 2
    first = (await client.get("/api/v1/studies?limit=1", headers=VIEWER)).json()
    assert [item["id"] for item in first["items"]] == [every[0]["id"]]
    second = (await client.get(first["links"]["next"], headers=VIEWER)).json()
    assert [item["id"] for item in second["items"]] == [every[1]["id"]]
    wrong = await client.get(
        f"/api/v1/studies?status=failed&cursor={first['next_cursor']}", headers=VIEWER
    )
    assert wrong.status_code == 422


def test_the_runtime_api_serves_studies_with_the_studies_service(tmp_path: Path) -> None:
    settings = Settings.model_construct(
        jobs=JobsSettings(sqlite_path=tmp_path / "jobs.sqlite"),
        studies=StudiesSettings(),
    )
    services = build_services(settings, ["studies", "api"], state_dir=tmp_path)
    api = next(s for s in services if s.name == "api")
    paths = api.app.openapi()["paths"]  # type: ignore[attr-defined]
    assert "/api/v1/studies/{study_id}/data/{table}" in paths
    runner = next(s for s in services if s.name == "studies")
    assert runner.runs == tmp_path / "studies"  # type: ignore[attr-defined]
    alone = build_services(settings, ["api"], state_dir=tmp_path)
    assert "/api/v1/studies" not in alone[-1].app.openapi()["paths"]  # type: ignore[attr-defined]
