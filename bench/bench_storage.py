"""Storage benchmark: time-series ingest on SQLite and PostgreSQL, ledger appends on PostgreSQL.

Prints one JSON object. Ingest writes ``--points`` new points in batches of ``--batch`` (one
transaction each, durable at return: SQLite ``synchronous=FULL``, PostgreSQL ``fsync=on`` and
``synchronous_commit=on``); building the points is not timed, validating them is. Ledger
appends are clearing messages of one trade (two entries), ``--messages-per-batch`` per
``append_many``; single-message appends show the per-commit cost. PostgreSQL is a throw-away
cluster started for the run (tests/services/postgres.py), never the machine's own server.
Rates are the best of ``--repeat`` runs, since other processes share this machine.

    .venv/bin/python bench/bench_storage.py [--points 1000000] [--batch 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.services.postgres

from bench_ledger import MESSAGES_PER_BATCH, trade_batch
from osed.ports.timeseries import Quality, TimeSeriesPoint, TimeSeriesStore
from osed.storage.postgres import PostgresLedgerStore, PostgresTimeSeriesStore
from osed.storage.timeseries_sqlite import SqliteTimeSeriesStore
from tests.services.postgres import PostgresCluster

START = datetime(2026, 1, 1, tzinfo=UTC)
SERIES = [f"feeder-{k:02d}/bus-{k * 7 % 100:02d}/p" for k in range(100)]


def point_batches(total: int, batch: int) -> list[list[TimeSeriesPoint]]:
    """``total`` distinct meter readings, 100 series at one-second steps, in batches."""
    received = START + timedelta(days=1)
    points = [
        TimeSeriesPoint(
            SERIES[n % len(SERIES)],
            START + timedelta(seconds=n // len(SERIES)),
            230.0 + (n % 97) * 0.01,
            "kW",
            received,
            "ami",
            Quality.GOOD,
        )
        for n in range(total)
    ]
    return [points[k : k + batch] for k in range(0, total, batch)]


def ingest_rate(
    open_store: Callable[[int], TimeSeriesStore], batches: list[list[TimeSeriesPoint]], repeat: int
) -> float:
    best = 0.0
    for run in range(repeat):
        store = open_store(run)
        try:
            began = time.perf_counter()
            written = sum(store.write(batch) for batch in batches)
            elapsed = time.perf_counter() - began
        finally:
            store.close()
        assert written == sum(map(len, batches)), written
        best = max(best, written / elapsed)
    return best


def ledger_rates(conninfo: str, entries: int, repeat: int) -> dict[str, float]:
    batches = [trade_batch(first) for first in range(0, entries // 2, MESSAGES_PER_BATCH)]
    batched = single = 0.0
    for run in range(repeat):
        with PostgresLedgerStore(conninfo, schema=f"ledger_{run}") as store:
            began = time.perf_counter()
            for batch in batches:
                store.append_many(batch)
            batched = max(batched, store.count() / (time.perf_counter() - began))
            singles = trade_batch(10**9)[:300]
            began = time.perf_counter()
            for message_id, message in singles:
                store.append(message_id, message)
            single = max(single, len(singles) / (time.perf_counter() - began))
    return {"entries_per_s_batched": round(batched), "single_message_appends_per_s": round(single)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--ledger-entries", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    batches = point_batches(arguments.points, arguments.batch)
    results: dict[str, object] = {
        "points": arguments.points,
        "batch": arguments.batch,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory() as folder:
        results["sqlite_timeseries_points_per_s"] = round(
            ingest_rate(
                lambda run: SqliteTimeSeriesStore(Path(folder) / f"ts-{run}.db"),
                batches,
                arguments.repeat,
            )
        )
    cluster = PostgresCluster.create(database="osed_bench")
    try:
        conninfo = cluster.conninfo("osed_bench")
        results["postgres_timeseries_points_per_s"] = round(
            ingest_rate(
                lambda run: PostgresTimeSeriesStore(conninfo, schema=f"ts_{run}"),
                batches,
                arguments.repeat,
            )
        )
        results["postgres_ledger"] = {
            "messages_per_batch": MESSAGES_PER_BATCH,
            **ledger_rates(conninfo, arguments.ledger_entries, arguments.repeat),
        }
    finally:
        cluster.destroy()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
