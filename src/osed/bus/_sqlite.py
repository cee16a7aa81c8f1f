"""Opening the SQLite files of the outbox and the consumer positions, errors translated."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from osed.domain.errors import ConfigurationError, ConflictError, IntegrityError, NotFoundError

Synchronous = Literal["FULL", "NORMAL"]


def connect(path: str | Path, schema: str, synchronous: Synchronous) -> sqlite3.Connection:
    """A WAL-mode connection in autocommit mode (transactions are explicit), schema applied."""
    if synchronous not in ("FULL", "NORMAL"):
        raise ConfigurationError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
    try:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise ConfigurationError(f"cannot open {path}: {exc}") from exc
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(schema)
    except sqlite3.Error as exc:
        db.close()
        raise ConfigurationError(f"cannot use {path}: {exc}") from exc
    return db


def connect_read_only(path: str | Path) -> sqlite3.Connection:
    """A connection that cannot change the file (for tools reading a running service's state);
    NotFoundError when there is no such file."""
    if Path(path).is_dir():
        raise NotFoundError(f"{path} is a directory, not a file")
    if not Path(path).is_file():
        raise NotFoundError(f"no such file: {path}")
    try:
        db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
        db.execute("PRAGMA busy_timeout=5000")
    except sqlite3.Error as exc:
        raise ConfigurationError(f"cannot open {path}: {exc}") from exc
    return db


@contextmanager
def transaction(db: sqlite3.Connection, what: str) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``; rolled back and translated on any error."""
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise ConflictError(f"{what} is busy with another writer: {exc}") from exc
        raise IntegrityError(f"{what} failed: {exc}") from exc
    except sqlite3.Error as exc:
        raise IntegrityError(f"{what} failed: {exc}") from exc


def query(db: sqlite3.Connection, what: str, sql: str, *args: object) -> list[Any]:
    try:
        return db.execute(sql, args).fetchall()
    except sqlite3.Error as exc:
        raise IntegrityError(f"{what} failed: {exc}") from exc
