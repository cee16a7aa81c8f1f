"""``osed run balancer``'s runner: the API on a real port, workers in processes, jobs in
the configured store."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from osed.domain.time import SystemClock
from osed.runtime.api_access import open_access
from osed.runtime.container import BalancerRunner
from osed.runtime.settings import Settings
from tests.services.brokers import free_port

CASES = Path(__file__).parents[2] / "data" / "optimizer" / "pymfm"


def call(url: str, body: bytes | None = None, key: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Idempotency-Key", key)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def test_the_runner_serves_the_api_and_solves_in_worker_processes(tmp_path: Path) -> None:
    port = free_port()
    settings = Settings(
        jobs={"backend": "sqlite", "sqlite_path": tmp_path / "jobs.sqlite"},
        balancer={"port": port, "workers": 2, "processes": True},
    )
    runner = BalancerRunner(settings, SystemClock(), open_access())
    await runner.start()
    try:
        assert runner.ready()
        base = f"http://127.0.0.1:{port}/optimizations"
        body = (CASES / "input_scheduling_optimization_based.json").read_bytes()
        code, job = await asyncio.to_thread(call, base, body, "run-1")
        assert code == 202
        for _ in range(600):
            _, status = await asyncio.to_thread(call, f"{base}/{job['id']}")
            if status["status"] == "succeeded":
                break
            await asyncio.sleep(0.05)
        code, result = await asyncio.to_thread(call, f"{base}/{job['id']}/result")
        assert code == 200
        assert result["objective_value"] == pytest.approx(2158.0643009715773, rel=1e-6)
        code, schema = await asyncio.to_thread(call, f"http://127.0.0.1:{port}/openapi.json")
        assert code == 200
        assert "/optimizations" in schema["paths"]
    finally:
        await runner.stop()
    assert not runner.ready()


async def test_the_runner_refuses_bodies_above_its_setting(tmp_path: Path) -> None:
    port = free_port()
    settings = Settings(
        jobs={"backend": "sqlite", "sqlite_path": tmp_path / "jobs.sqlite"},
        balancer={"port": port, "workers": 1, "max_request_bytes": 4096},
    )
    runner = BalancerRunner(settings, SystemClock(), open_access())
    await runner.start()
    try:
        base = f"http://127.0.0.1:{port}/optimizations"
        body = (CASES / "input_scheduling_optimization_based.json").read_bytes()
        assert len(body) > 4096
        code, answer = await asyncio.to_thread(call, base, body, "too-large")
        assert code == 413
        assert answer["error"] == "too_large"
        code, listing = await asyncio.to_thread(call, base)
        assert listing["items"] == []
    finally:
        await runner.stop()
