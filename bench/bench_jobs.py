"""Job store benchmark: submits and claim + finish cycles on SQLite and PostgreSQL.

Prints one JSON object. Each submit, claim and finish is one durable transaction (SQLite
``synchronous=FULL``, PostgreSQL ``fsync=on`` and ``synchronous_commit=on``). Claim + finish
runs with one worker and with ``--workers`` threads, each with its own store (connection),
taking jobs until none is left. PostgreSQL is a throw-away cluster started for the run
(tests/services/postgres.py), never the machine's own server. Rates are the best of
``--repeat`` runs, since other processes share this machine.

    .venv/bin/python bench/bench_jobs.py [--jobs 2000] [--workers 4] [--repeat 3]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.services.postgres

from osed.ports.jobs import JobStatus, JobStore
from osed.storage.jobs_sqlite import SqliteJobStore
from osed.storage.postgres import PostgresJobStore
from tests.services.postgres import PostgresCluster

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LEASE = timedelta(minutes=5)
PAYLOAD = json.dumps({"feeder": 7, "horizon_h": 24, "steps": 96}).encode()


def submit_all(store: JobStore, count: int) -> float:
    began = time.perf_counter()
    for n in range(count):
        store.submit("optimise", PAYLOAD, idempotency_key=f"req-{n}", submitted_at=T0)
    return count / (time.perf_counter() - began)


def drain(open_store: Callable[[], JobStore], worker: str, done: list[int]) -> None:
    store = open_store()
    try:
        while (job := store.claim(worker, ["optimise"], now=T0, lease=LEASE)) is not None:
            store.finish(job.job_id, worker, JobStatus.SUCCEEDED, now=T0, result=b"{}")
            done.append(job.job_id)
    finally:
        store.close()


def cycle_rate(open_store: Callable[[], JobStore], count: int, workers: int) -> float:
    done: list[int] = []
    threads = [
        threading.Thread(target=drain, args=(open_store, f"w{k}", done)) for k in range(workers)
    ]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    assert len(set(done)) == len(done), "a job was claimed twice"
    assert len(done) == count, (len(done), count)
    return count / elapsed


def rates(
    open_store: Callable[[int], Callable[[], JobStore]], count: int, workers: int, repeat: int
) -> dict[str, int]:
    best = {"submits_per_s": 0.0, "claim_finish_per_s": 0.0, "claim_finish_per_s_parallel": 0.0}
    stores = itertools.count()
    for _ in range(repeat):
        for key, threads in (("claim_finish_per_s", 1), ("claim_finish_per_s_parallel", workers)):
            opener = open_store(next(stores))
            with opener() as store:
                best["submits_per_s"] = max(best["submits_per_s"], submit_all(store, count))
            best[key] = max(best[key], cycle_rate(opener, count, threads))
    return {key: round(value) for key, value in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    results: dict[str, object] = {
        "jobs": arguments.jobs,
        "workers": arguments.workers,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    count, workers, repeat = arguments.jobs, arguments.workers, arguments.repeat
    with tempfile.TemporaryDirectory() as folder:
        results["sqlite"] = rates(
            lambda number: lambda: SqliteJobStore(Path(folder) / f"jobs-{number}.db"),
            count,
            workers,
            repeat,
        )
    cluster = PostgresCluster.create(database="osed_bench")
    try:
        conninfo = cluster.conninfo("osed_bench")
        results["postgres"] = rates(
            lambda number: lambda: PostgresJobStore(conninfo, schema=f"jobs_{number}"),
            count,
            workers,
            repeat,
        )
    finally:
        cluster.destroy()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
