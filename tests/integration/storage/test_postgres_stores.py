"""What only the PostgreSQL stores have: migrations, triggers, reconnection, snapshots.

The behaviour they share with SQLite is in tests/contract/storage.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import LiteralString

import psycopg
import pytest
from psycopg import sql

from osed.domain.errors import (
    ConfigurationError,
    IntegrityError,
    UnavailableError,
    ValidationError,
)
from osed.ledger.verify import Finding, verify_store
from osed.ports.timeseries import TimeSeriesPoint
from osed.storage._pg_schema import LEDGER_MIGRATIONS
from osed.storage.postgres import PostgresLedgerStore, PostgresTimeSeriesStore
from tests.unit.storage.store_samples import entry, trade, trades

AT = datetime(2026, 7, 1, tzinfo=UTC)


@pytest.fixture
def admin(postgres_conninfo: str, postgres_schema: str) -> Iterator[psycopg.Connection]:
    """A plain connection into the test's schema, for what a store would never do."""
    with psycopg.connect(postgres_conninfo, autocommit=True) as connection:
        connection.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(postgres_schema)))
        yield connection


@pytest.fixture
def store(postgres_conninfo: str, postgres_schema: str) -> Iterator[PostgresLedgerStore]:
    with PostgresLedgerStore(postgres_conninfo, schema=postgres_schema) as opened:
        yield opened


def backend_pid(store: PostgresLedgerStore | PostgresTimeSeriesStore) -> int:
    return store._session.connection().info.backend_pid


def test_migrations_are_recorded_per_component(
    store: PostgresLedgerStore,
    postgres_conninfo: str,
    postgres_schema: str,
    admin: psycopg.Connection,
) -> None:
    PostgresTimeSeriesStore(postgres_conninfo, schema=postgres_schema).close()
    PostgresLedgerStore(postgres_conninfo, schema=postgres_schema).close()  # nothing to do
    rows = admin.execute("SELECT component, version FROM schema_migrations ORDER BY 1").fetchall()
    assert rows == [("ledger", 1), ("ledger", 2), ("ledger", 3), ("ledger", 4), ("timeseries", 1)]


def test_a_newer_schema_is_refused(
    store: PostgresLedgerStore,
    postgres_conninfo: str,
    postgres_schema: str,
    admin: psycopg.Connection,
) -> None:
    newer = len(LEDGER_MIGRATIONS) + 1
    admin.execute(
        "INSERT INTO schema_migrations (component, version) VALUES ('ledger', %s)", (newer,)
    )
    with pytest.raises(ConfigurationError, match="newer"):
        PostgresLedgerStore(postgres_conninfo, schema=postgres_schema)


def test_a_schema_with_foreign_tables_is_not_taken_for_a_ledger(
    postgres_conninfo: str, postgres_schema: str
) -> None:
    with psycopg.connect(postgres_conninfo, autocommit=True) as connection:
        name = sql.Identifier(postgres_schema)
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(name))
        connection.execute(sql.SQL("CREATE TABLE {}.ledger (x int)").format(name))
    with pytest.raises(ConfigurationError, match="not an OSED ledger"):
        PostgresLedgerStore(postgres_conninfo, schema=postgres_schema)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger SET entry = '\\x00' WHERE seq = 1",
        "DELETE FROM ledger WHERE seq = 2",
        "TRUNCATE ledger",
        "DELETE FROM messages",
        "UPDATE messages SET first_seq = 9",
    ],
)
def test_ledger_rows_cannot_be_changed_through_sql(
    store: PostgresLedgerStore, admin: psycopg.Connection, statement: LiteralString
) -> None:
    store.append(*trade(1))
    with pytest.raises(psycopg.errors.RaiseException, match="immutable"):
        admin.execute(statement)


def test_appending_onto_a_truncated_ledger_is_refused(
    store: PostgresLedgerStore, admin: psycopg.Connection
) -> None:
    store.append_many(trades(3))
    admin.execute("ALTER TABLE ledger DISABLE TRIGGER ledger_no_change")
    admin.execute("DELETE FROM ledger WHERE seq = 6")
    with pytest.raises(IntegrityError, match="head"):
        store.append(*trade(9))
    assert verify_store(store).problem is Finding.MISSING_TAIL


def test_a_changed_entry_is_evident(store: PostgresLedgerStore, admin: psycopg.Connection) -> None:
    store.append_many(trades(3))
    admin.execute("ALTER TABLE ledger DISABLE TRIGGER ledger_no_change")
    admin.execute("UPDATE ledger SET message_id = 'forged' WHERE seq = 4")
    report = verify_store(store)
    assert (report.problem, report.first_bad_seq) == (Finding.HASH_MISMATCH, 4)


def test_a_read_only_store_refuses_writes(
    store: PostgresLedgerStore, postgres_conninfo: str, postgres_schema: str
) -> None:
    store.append(*trade(1))
    with PostgresLedgerStore(postgres_conninfo, schema=postgres_schema, read_only=True) as reader:
        assert reader.count() == 2
        assert verify_store(reader).ok
        with pytest.raises(ConfigurationError, match="read-only"):
            reader.append(*trade(2))
    with pytest.raises(ConfigurationError, match="no OSED ledger"):
        PostgresLedgerStore(postgres_conninfo, schema="no_such_schema", read_only=True)


def test_an_unreachable_server_is_a_configuration_error(postgres_conninfo: str) -> None:
    with pytest.raises(ConfigurationError, match="cannot connect"):
        PostgresLedgerStore(postgres_conninfo.replace("dbname=", "dbname=missing_"))


def test_a_lost_connection_fails_one_call_and_the_next_reconnects(
    store: PostgresLedgerStore, admin: psycopg.Connection
) -> None:
    store.append(*trade(1))
    admin.execute("SELECT pg_terminate_backend(%s)", (backend_pid(store),))
    with pytest.raises(UnavailableError, match="unavailable"):
        store.append(*trade(2))
    assert [r.duplicate for r in store.append_many([trade(1), trade(2)])] == [True, False]


def test_traces_of_a_failed_append_are_kept_for_the_next(store: PostgresLedgerStore) -> None:
    store.append("big-1", [entry(quantity=2**63 - 1)])
    store.trace("m1", "EiCreateTender", AT, "{}")
    with pytest.raises(ValidationError):  # the position overflows: the transaction rolls back
        store.append("big-2", [entry(quantity=2**63 - 1)])
    assert [record.message_id for record in store.traces()] == ["m1"]


def test_a_trace_body_postgres_cannot_hold_is_refused_at_once(store: PostgresLedgerStore) -> None:
    with pytest.raises(ValidationError, match=r"\$\.body"):
        store.trace("m1", "EiCreateTender", AT, "nul\x00byte")
    store.append(*trade(1))  # nothing bad was buffered


def test_a_snapshot_does_not_see_appends_that_commit_during_it(
    store: PostgresLedgerStore, postgres_conninfo: str, postgres_schema: str
) -> None:
    store.append(*trade(1))
    with PostgresLedgerStore(postgres_conninfo, schema=postgres_schema) as other:
        with store.snapshot():
            head = store.head()
            other.append(*trade(2))
            assert store.head() == head
            assert len(list(store.raw_rows())) == 2
        assert store.count() == 4


def test_time_series_writes_continue_after_a_lost_connection(
    postgres_conninfo: str, postgres_schema: str, admin: psycopg.Connection
) -> None:
    def reading(minute: int) -> TimeSeriesPoint:
        instant = AT.replace(minute=minute)
        return TimeSeriesPoint("feeder/p", instant, 1.0, "kW", instant, "meter")

    with PostgresTimeSeriesStore(postgres_conninfo, schema=postgres_schema) as series:
        series.write([reading(0)])
        admin.execute("SELECT pg_terminate_backend(%s)", (backend_pid(series),))
        with pytest.raises(UnavailableError):
            series.write([reading(1)])
        assert series.write([reading(1), reading(2)]) == 2  # a new session, a new staging table
