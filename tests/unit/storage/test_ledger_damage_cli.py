"""``osed ledger verify`` on damaged files, as a user runs it: a truncated SQLite file is
``unreadable`` (exit 1), not "not a ledger"; a damaged trace row is named (exit 1)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from store_samples import trades

from osed.storage.sqlite import SqliteLedgerStore

AT = datetime(2026, 1, 1, 12, tzinfo=UTC)


def verify(path: Path) -> tuple[int, dict[str, object], str]:
    result = subprocess.run(
        [sys.executable, "-m", "osed.cli", "ledger", "verify", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.returncode, json.loads(result.stdout), result.stderr


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.db"
    with SqliteLedgerStore(path) as store:
        store.append_many(trades(300))
        for n in range(50):
            store.trace(f"m{n}", "EiCreateTender", AT + timedelta(seconds=n), "{}")
        store.flush()
    return path


@pytest.mark.parametrize("keep", [0.5, 0.9, 40 / 4096])
def test_a_truncated_ledger_is_unreadable_not_a_non_ledger(ledger: Path, keep: float) -> None:
    data = ledger.read_bytes()
    ledger.write_bytes(data[: int(len(data) * keep)])
    code, report, err = verify(ledger)
    assert (code, report["problem"], report["ok"]) == (1, "unreadable", False), err
    assert "damaged" in str(report["detail"])


def test_an_sqlite_file_without_ledger_tables_is_still_not_a_ledger(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
    connection.close()
    code, report, _ = verify(other)
    assert (code, report["problem"]) == (2, "not_a_ledger")


def test_a_damaged_trace_row_is_named_by_verify(ledger: Path) -> None:
    with sqlite3.connect(ledger) as connection:
        connection.execute("UPDATE trace SET body = '{\"forged\": true}' WHERE seq = 17")
    connection.close()
    code, report, _ = verify(ledger)
    assert (code, report["problem"], report["entries"]) == (1, "trace_mismatch", 600)
    assert "trace row 17 is damaged" in str(report["detail"])


def test_a_ledger_from_before_the_trace_chain_migrates_and_chains_on(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with SqliteLedgerStore(path) as store:
        store.append_many(trades(5))
        store.trace("old", "EiCreateTender", AT, "{}")
    with sqlite3.connect(path) as connection:  # the file as schema version 2 wrote it
        connection.execute("ALTER TABLE trace DROP COLUMN hash")
        connection.execute("PRAGMA user_version = 2")
    connection.close()
    with SqliteLedgerStore(path) as store:
        store.trace("new", "EiCreateTender", AT, "{}")
        assert [r.message_id for r in store.traces()] == ["old", "new"]
    code, report, _ = verify(path)
    assert (code, report["ok"]) == (0, True)
