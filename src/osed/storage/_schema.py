"""The SQLite ledger schema and its migrations; the version lives in ``PRAGMA user_version``.

Migration ``k`` (1-based) brings a file from version ``k - 1`` to ``k``. Append new migrations
to :data:`MIGRATIONS`; never edit a released one.
"""

from __future__ import annotations

import sqlite3

from osed.domain.errors import ConfigurationError
from osed.domain.ledger import GENESIS_HASH

_V1 = (
    # seq is the rowid; entry holds the canonical bytes that the hash covers.
    """CREATE TABLE ledger (
        seq INTEGER PRIMARY KEY,
        message_id TEXT NOT NULL,
        entry BLOB NOT NULL,
        hash BLOB NOT NULL
    ) STRICT""",
    # One row per appended message: the idempotency record and where its entries are.
    """CREATE TABLE messages (
        message_id TEXT NOT NULL UNIQUE,
        first_seq INTEGER NOT NULL,
        entry_count INTEGER NOT NULL
    ) STRICT""",
    """CREATE TABLE positions (
        party TEXT NOT NULL,
        interval_start_us INTEGER NOT NULL,
        duration_s INTEGER NOT NULL,
        quantity_scale INTEGER NOT NULL,
        quantity INTEGER NOT NULL,
        PRIMARY KEY (party, interval_start_us, duration_s, quantity_scale)
    ) STRICT, WITHOUT ROWID""",
    """CREATE TABLE head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        entry_count INTEGER NOT NULL,
        last_hash BLOB NOT NULL
    ) STRICT""",
    f"INSERT INTO head VALUES (1, 0, X'{GENESIS_HASH.hex()}')",
    """CREATE TABLE trace (
        seq INTEGER PRIMARY KEY,
        message_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        received_at TEXT NOT NULL,
        body TEXT NOT NULL
    ) STRICT""",
    # Postings are never changed: a mistake is fixed by a correcting entry.
    """CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
        BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END""",
    """CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
        BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END""",
)

_V2 = (
    # An agent's state at a trace position (the seq of the last trace row it covers), so that
    # a restart replays only the trace after it. The store keeps the body's SHA-256 beside it.
    """CREATE TABLE snapshots (
        id INTEGER PRIMARY KEY,
        format TEXT NOT NULL,
        trace_seq INTEGER NOT NULL,
        taken_at TEXT NOT NULL,
        body BLOB NOT NULL,
        checksum BLOB NOT NULL
    ) STRICT""",
    "CREATE INDEX snapshots_newest ON snapshots (format, trace_seq, id)",
)

_V3 = (
    # Each trace row's place in the trace hash chain (osed.storage._trace_chain); rows written
    # before this version keep NULL.
    "ALTER TABLE trace ADD COLUMN hash BLOB",
)

_V4 = (
    # Pieces of snapshot state stored once by their SHA-256 and shared by the snapshots that
    # refer to them (snapshot_refs), so that a snapshot writes only what changed. IF NOT
    # EXISTS: a file whose version was set back by hand still migrates.
    """CREATE TABLE IF NOT EXISTS snapshot_chunks (
        id INTEGER PRIMARY KEY,
        digest BLOB NOT NULL UNIQUE,
        body BLOB NOT NULL
    ) STRICT""",
    """CREATE TABLE IF NOT EXISTS snapshot_refs (
        snapshot_id INTEGER NOT NULL,
        digest BLOB NOT NULL,
        PRIMARY KEY (snapshot_id, digest)
    ) STRICT, WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS snapshot_refs_digest ON snapshot_refs (digest)",
)

_V5 = (
    # The idempotency record keyed by the message id itself: one b-tree insert per appended
    # message, where a rowid table with a UNIQUE index on the id took two. The rows are copied
    # over in id order, and the new table takes the old one's name.
    """CREATE TABLE messages_by_id (
        message_id TEXT NOT NULL PRIMARY KEY,
        first_seq INTEGER NOT NULL,
        entry_count INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID""",
    """INSERT INTO messages_by_id (message_id, first_seq, entry_count)
        SELECT message_id, first_seq, entry_count FROM messages ORDER BY message_id""",
    "DROP TABLE messages",
    "ALTER TABLE messages_by_id RENAME TO messages",
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3, _V4, _V5)
SCHEMA_VERSION = len(MIGRATIONS)
LEDGER_TABLES = frozenset({"ledger", "messages", "positions", "head", "trace"})


# What the other stores of a shared file (storage.sqlite_path) create first: their migrations
# table (osed.storage._sqlite_common.migrate_component) and the time-series tables.
_SHARED_TABLES = frozenset({"schema_migrations", "ts_series", "ts_points"})


def schema_version(connection: sqlite3.Connection) -> int:
    version: int = connection.execute("PRAGMA user_version").fetchone()[0]
    return version


def migrate(connection: sqlite3.Connection) -> None:
    """Bring the file to :data:`SCHEMA_VERSION`, each migration in its own transaction.

    The connection must be in autocommit mode (``isolation_level=None``).
    """
    connection.execute("BEGIN IMMEDIATE")
    try:
        version = schema_version(connection)
        if version > SCHEMA_VERSION:
            raise ConfigurationError(
                f"ledger schema version {version} is newer than this OSED ({SCHEMA_VERSION})"
            )
        if version == 0 and not _table_names(connection) <= _SHARED_TABLES:
            raise ConfigurationError("the file is an SQLite database but not an OSED ledger")
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[target - 1]:
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {target}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def is_ledger(connection: sqlite3.Connection) -> bool:
    """True for a file this OSED can read as a ledger."""
    version = schema_version(connection)
    return 1 <= version <= SCHEMA_VERSION and _table_names(connection) >= LEDGER_TABLES


def _table_names(connection: sqlite3.Connection) -> set[str]:
    rows = connection.execute("SELECT name FROM sqlite_schema WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}
