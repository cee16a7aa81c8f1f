"""What every SQLite store shares: switching to WAL, its error translation, its write
transaction, its instant encoding and the migrations of components versioned in
``schema_migrations``."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from osed.domain.errors import (
    ConfigurationError,
    ConflictError,
    IntegrityError,
    Problem,
    ValidationError,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(instant: datetime) -> int:
    """Microseconds since the Unix epoch: instants stored as integers sort and compare exactly."""
    return (instant - _EPOCH) // _MICROSECOND


def instant_of(us: int) -> datetime:
    """The UTC instant ``us`` microseconds after the Unix epoch (inverse of :func:`micros`)."""
    return _EPOCH + us * _MICROSECOND


@contextmanager
def translated(subject: str) -> Iterator[None]:
    """SQLite's errors, said in OSED's terms; ``subject`` names the store ("ledger", …)."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        if "UNIQUE" in str(exc):
            raise ConflictError(f"{subject} write conflicts with recorded state: {exc}") from exc
        raise ValidationError(
            [Problem("$", "rejected_by_store", str(exc))], subject=f"{subject} write"
        ) from exc
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise ConflictError(f"{subject} is busy with another writer: {exc}") from exc
        raise IntegrityError(f"{subject} storage failed: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        raise IntegrityError(f"{subject} storage failed: {exc}") from exc


def migrate_component(
    connection: sqlite3.Connection, component: str, migrations: Sequence[Sequence[str]]
) -> None:
    """Bring ``component`` to version ``len(migrations)`` in one ``BEGIN IMMEDIATE``
    transaction, recording each step in ``schema_migrations`` (several components may share
    a file); a version newer than ``migrations`` knows is refused."""
    target = len(migrations)
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (component TEXT NOT NULL, version INTEGER NOT NULL,"
            " applied_at TEXT NOT NULL, PRIMARY KEY (component, version)) STRICT"
        )
        (version,) = connection.execute(
            "SELECT coalesce(max(version), 0) FROM schema_migrations WHERE component = ?",
            (component,),
        ).fetchone()
        if version > target:
            raise ConfigurationError(
                f"{component} schema version {version} is newer than this OSED ({target})"
            )
        for number in range(version + 1, target + 1):
            for statement in migrations[number - 1]:
                connection.execute(statement)
            connection.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                (component, number, datetime.now(UTC).isoformat()),
            )
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


@contextmanager
def write_transaction(db: sqlite3.Connection, what: str) -> Iterator[None]:
    """One ``BEGIN IMMEDIATE`` transaction (writers queue, none upgrades a read lock and
    deadlocks), committed on success, rolled back otherwise; errors translated for ``what``."""
    with translated(what):
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise


def switch_to_wal(db: sqlite3.Connection, busy_timeout_s: float) -> None:
    """Enable WAL; another connection creating the same new file at once may hold the lock
    this needs, and SQLite's busy handler does not cover this pragma, so retry until the
    timeout."""
    deadline = time.monotonic() + busy_timeout_s
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
