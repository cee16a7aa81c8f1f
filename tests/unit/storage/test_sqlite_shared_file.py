"""One SQLite file (storage.sqlite_path) holds the ledger and the time series, whichever store
opens it first: `osed serve` builds the bridge's store before the Market Agent's ledger when
the bridge is listed first."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from osed.domain.errors import ConfigurationError
from osed.ports.timeseries import TimeSeriesPoint
from osed.storage.sqlite import SqliteLedgerStore
from osed.storage.timeseries_sqlite import SqliteTimeSeriesStore

T0 = datetime(2026, 7, 1, tzinfo=UTC)


def test_a_ledger_opens_a_file_the_time_series_store_created(tmp_path: Path) -> None:
    path = tmp_path / "osed.sqlite"
    with SqliteTimeSeriesStore(path) as series:
        series.write([TimeSeriesPoint("pmu1/v", T0, 230.0, "V", T0, "bridge")])
        with SqliteLedgerStore(path) as ledger:
            assert ledger.count() == 0
    with SqliteLedgerStore(path) as ledger, SqliteTimeSeriesStore(path) as series:
        assert ledger.count() == 0
        assert [p.value for p in series.read("pmu1/v", T0, datetime(2027, 1, 1, tzinfo=UTC))] == [
            230.0
        ]


def test_a_foreign_database_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as foreign:
        foreign.execute("CREATE TABLE customers (id INTEGER)")
    foreign.close()
    with pytest.raises(ConfigurationError, match="not an OSED ledger"):
        SqliteLedgerStore(path)
