"""SqliteLedgerStore, what only SQLite has: its schema, file checks, triggers, read-only mode.

The behaviour every ledger backend shares is in tests/contract/storage/test_ledger_contract.py."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_samples import trade, trades

from osed.cli.ledger import verify_ledger_file
from osed.domain.errors import ConfigurationError, IntegrityError
from osed.storage._schema import MIGRATIONS, SCHEMA_VERSION
from osed.storage.sqlite import SqliteLedgerStore


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def store(path: Path) -> Iterator[SqliteLedgerStore]:
    with SqliteLedgerStore(path) as opened:
        yield opened


def test_a_failure_inside_the_transaction_rolls_everything_back(
    store: SqliteLedgerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.append_many(trades(2))
    before = (store.head(), list(store.raw_rows()), store.all_positions())
    from osed.storage._ledger_plan import LedgerBatchPlan

    def failing_position_rows(self: object) -> list[tuple[str, int, int, int, int]]:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(LedgerBatchPlan, "position_rows", failing_position_rows)
    with pytest.raises(IntegrityError):
        store.append_many(trades(3, first=2))
    assert (store.head(), list(store.raw_rows()), store.all_positions()) == before


def test_schema_version_is_recorded_and_a_newer_file_is_refused(path: Path) -> None:
    SqliteLedgerStore(path).close()
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.commit()
    connection.close()
    with pytest.raises(ConfigurationError, match="newer"):
        SqliteLedgerStore(path)


def test_a_foreign_database_is_not_taken_for_a_ledger(path: Path) -> None:
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE other (x)")
    connection.commit()
    connection.close()
    with pytest.raises(ConfigurationError, match="not an OSED ledger"):
        SqliteLedgerStore(path)
    with pytest.raises(ConfigurationError):
        SqliteLedgerStore.open_existing(path)


def test_ledger_rows_cannot_be_updated_or_deleted_through_sql(path: Path) -> None:
    with SqliteLedgerStore(path) as store:
        store.append(*trade(1))
    connection = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        connection.execute("UPDATE ledger SET entry = X'00' WHERE seq = 1")
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        connection.execute("DELETE FROM ledger WHERE seq = 2")
    connection.close()


def test_appending_onto_a_truncated_ledger_is_refused(path: Path) -> None:
    with SqliteLedgerStore(path) as store:
        store.append_many(trades(3))
    connection = sqlite3.connect(path)
    connection.execute("DROP TRIGGER ledger_no_delete")
    connection.execute("DELETE FROM ledger WHERE seq = 6")
    connection.commit()
    connection.close()
    with SqliteLedgerStore(path) as store, pytest.raises(IntegrityError, match="head"):
        store.append(*trade(9))


def test_a_read_only_store_refuses_writes(path: Path) -> None:
    SqliteLedgerStore(path).close()
    with SqliteLedgerStore.open_existing(path) as store, pytest.raises(ConfigurationError):
        store.append(*trade(1))


def _as_schema_version_4(path: Path) -> list[tuple[str, int, int]]:
    """Rewrite the file's messages table the way schema version 4 created it (a rowid table
    with a UNIQUE id), set the version back to 4, and return the message rows."""
    (released,) = [s for s in MIGRATIONS[0] if s.lstrip().startswith("CREATE TABLE messages")]
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT * FROM messages ORDER BY first_seq").fetchall()
        connection.execute("DROP TABLE messages")
        connection.execute(released)
        connection.executemany("INSERT INTO messages VALUES (?, ?, ?)", rows)
        connection.execute("PRAGMA user_version = 4")
    connection.close()
    return rows


def _messages_table(path: Path) -> str:
    with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as connection:
        (sql,) = connection.execute(
            "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'messages'"
        ).fetchone()
    connection.close()
    return str(sql)


def test_a_version_4_ledger_is_read_as_it_is_and_migrates_its_messages_on_write(
    path: Path,
) -> None:
    with SqliteLedgerStore(path) as store:
        first = store.append_many(trades(20))
    rows = _as_schema_version_4(path)
    assert "WITHOUT ROWID" not in _messages_table(path)

    with SqliteLedgerStore.open_existing(path) as old:  # read-only: not migrated
        assert old.message_seqs(["clear:m1:3", "clear:m1:99"]) == {"clear:m1:3": 7}
    assert verify_ledger_file(str(path)).ok
    assert "WITHOUT ROWID" not in _messages_table(path)

    with SqliteLedgerStore(path) as store:
        retried = store.append_many(trades(3, first=18))
        added = store.append_many(trades(2, first=21))
        migrated = sqlite3.connect(path)
        assert migrated.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        kept = migrated.execute("SELECT * FROM messages ORDER BY first_seq").fetchall()
        migrated.close()
    assert "WITHOUT ROWID" in _messages_table(path)
    assert kept == [*rows, *((f"clear:m1:{n}", 2 * n + 1, 2) for n in (20, 21, 22))]
    assert [r.duplicate for r in retried] == [True, True, False]
    assert [r.entries for r in retried[:2]] == [r.entries for r in first[18:]]
    assert [r.entries[0].seq for r in [*retried[2:], *added]] == [41, 43, 45]
    assert verify_ledger_file(str(path)).ok
