"""The balancer job service end to end over HTTP, printing JSON.

Starts the service as ``osed run balancer`` does (uvicorn, worker processes, the job store
chosen), submits ``--jobs`` copies of pymfm's optimisation example (distinct idempotency
keys) as fast as one client can, and waits until every job succeeded. Figures: submit
latency (median, p95), throughput in jobs per second from the first submit to the last
result, per worker count. ``--redis-url`` uses a Redis job store instead of SQLite.

    .venv/bin/python bench/bench_balancer_service.py [--jobs 60] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from osed.domain.time import SystemClock
from osed.runtime.api_access import open_access
from osed.runtime.container import BalancerRunner
from osed.runtime.settings import Settings

BODY = (
    Path(__file__).parents[1]
    / "tests"
    / "data"
    / "optimizer"
    / "pymfm"
    / "input_scheduling_optimization_based.json"
).read_bytes()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def post(url: str, key: str) -> dict[str, Any]:
    request = urllib.request.Request(url, data=BODY, method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("Idempotency-Key", key)
    with urllib.request.urlopen(request, timeout=30) as response:
        job: dict[str, Any] = json.loads(response.read())
        return job


def get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=30) as response:
        document: dict[str, Any] = json.loads(response.read())
        return document


def drive(base: str, jobs: int) -> dict[str, Any]:
    run = uuid.uuid4().hex
    latencies = []
    started = time.perf_counter()
    ids = []
    for n in range(jobs):
        sent = time.perf_counter()
        ids.append(post(base, f"{run}-{n}")["id"])
        latencies.append(time.perf_counter() - sent)
    pending = set(ids)
    while pending:
        for job_id in list(pending):
            if get(f"{base}/{job_id}")["status"] in ("succeeded", "failed", "cancelled"):
                pending.discard(job_id)
        time.sleep(0.01)
    seconds = time.perf_counter() - started
    failed = sum(get(f"{base}/{i}")["status"] != "succeeded" for i in ids)
    return {
        "jobs": jobs,
        "failed": failed,
        "seconds": seconds,
        "jobs_per_s": jobs / seconds,
        "submit_median_ms": 1000 * statistics.median(latencies),
        "submit_p95_ms": 1000 * statistics.quantiles(latencies, n=20)[-1],
    }


async def measure(workers: int, jobs: int, redis_url: str | None) -> dict[str, Any]:
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="osed-bench-jobs-"))
    store: dict[str, Any] = {"backend": "sqlite", "sqlite_path": folder / "jobs.sqlite"}
    if redis_url:
        store = {"backend": "redis", "redis_url": redis_url, "redis_prefix": f"bench:{port}:"}
    settings = Settings(jobs=store, balancer={"port": port, "workers": workers})
    runner = BalancerRunner(settings, SystemClock(), open_access())
    await runner.start()
    try:
        base = f"http://127.0.0.1:{port}/optimizations"
        await asyncio.to_thread(drive, base, 2)  # warm the worker processes
        return await asyncio.to_thread(drive, base, jobs)
    finally:
        await runner.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=60)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--redis-url")
    args = parser.parse_args()
    figures: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "store": "redis" if args.redis_url else "sqlite",
        "case": "pymfm optimisation example (96 steps, 3 batteries)",
        "runs": {str(w): asyncio.run(measure(w, args.jobs, args.redis_url)) for w in args.workers},
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
