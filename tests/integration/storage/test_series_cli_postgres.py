"""``osed series query`` reads PostgreSQL when the settings say so (storage.postgres_dsn)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from osed.ports.timeseries import TimeSeriesPoint
from osed.storage.postgres import PostgresTimeSeriesStore
from tests.services.postgres import drop_schema

T0 = datetime(2026, 7, 1, tzinfo=UTC)
SERIES = "pmu1/node-1/voltmagnitude/A"
SCHEMA = "osed"  # the schema the runtime's stores use


@pytest.fixture
def dsn(postgres_conninfo: str) -> Iterator[str]:
    drop_schema(postgres_conninfo, SCHEMA)
    yield postgres_conninfo
    drop_schema(postgres_conninfo, SCHEMA)


def test_query_aggregates_a_series_stored_in_postgres(dsn: str, tmp_path: Path) -> None:
    with PostgresTimeSeriesStore(dsn, schema=SCHEMA) as store:
        store.write(
            [
                TimeSeriesPoint(SERIES, T0 + k * timedelta(seconds=30), float(k), "V", T0, "b")
                for k in range(8)
            ]
        )
    done = subprocess.run(
        [
            sys.executable, "-m", "osed.cli", "series", "query", "--series", SERIES,
            "--start", "2026-07-01T00:00Z", "--end", "2026-07-01T01:00Z", "--every", "1min",
            "--agg", "last",
        ],
        env=dict(os.environ, OSED_STORAGE__BACKEND="postgres", OSED_STORAGE__POSTGRES_DSN=dsn),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [series] = json.loads(done.stdout)["series"]
    assert [(p["value"], p["count"]) for p in series["points"]] == [
        (1.0, 2),
        (3.0, 2),
        (5.0, 2),
        (7.0, 2),
    ]
    assert not list(tmp_path.iterdir())  # nothing written beside
