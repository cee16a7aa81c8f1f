"""The SQLite store of idempotency keys (:mod:`osed.ports.idempotency`): one row per caller
and key, dropped once its time to live has passed."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from osed.domain.errors import ConfigurationError
from osed.ports.idempotency import Claimed, StoredResponse
from osed.storage._closing import ClosesOnExit
from osed.storage._sqlite_common import (
    micros,
    migrate_component,
    switch_to_wal,
    translated,
    write_transaction,
)

COMPONENT = "idempotency"
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE idempotency_keys (owner TEXT NOT NULL, key TEXT NOT NULL,"
        " fingerprint BLOB NOT NULL, status INTEGER, headers TEXT, body BLOB,"
        " expires_at INTEGER NOT NULL, PRIMARY KEY (owner, key)) STRICT",
        "CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at)",
    ),
)
PURGE_EVERY = 256
"""Every this many claims, the rows whose time has passed are deleted in one statement."""


class SqliteIdempotencyStore(ClosesOnExit):
    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=busy_timeout_s)
        except sqlite3.Error as exc:
            raise ConfigurationError(f"cannot open idempotency store {self.path}: {exc}") from exc
        try:
            switch_to_wal(self._db, busy_timeout_s)
            migrate_component(self._db, COMPONENT, _MIGRATIONS)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise ConfigurationError(f"{self.path} is not an OSED key store: {exc}") from exc
        except BaseException:
            self._db.close()
            raise
        self._claims = 0

    def claim(
        self, owner: str, key: str, fingerprint: bytes, *, now: datetime, lease: timedelta
    ) -> Claimed | None:
        at = micros(now)
        with write_transaction(self._db, "idempotency store"):
            self._claims += 1
            if self._claims % PURGE_EVERY == 0:
                self._db.execute("DELETE FROM idempotency_keys WHERE expires_at <= ?", (at,))
            row = self._db.execute(
                "SELECT fingerprint, status, headers, body FROM idempotency_keys"
                " WHERE owner = ? AND key = ? AND expires_at > ?",
                (owner, key, at),
            ).fetchone()
            if row is not None:
                return _claimed(row)
            self._db.execute(
                "INSERT OR REPLACE INTO idempotency_keys (owner, key, fingerprint, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (owner, key, fingerprint, micros(now + lease)),
            )
        return None

    def complete(
        self, owner: str, key: str, response: StoredResponse, *, now: datetime, ttl: timedelta
    ) -> None:
        headers = json.dumps([list(pair) for pair in response.headers])
        with write_transaction(self._db, "idempotency store"):
            self._db.execute(
                "UPDATE idempotency_keys SET status = ?, headers = ?, body = ?, expires_at = ?"
                " WHERE owner = ? AND key = ?",
                (response.status, headers, response.body, micros(now + ttl), owner, key),
            )

    def release(self, owner: str, key: str) -> None:
        with write_transaction(self._db, "idempotency store"):
            self._db.execute(
                "DELETE FROM idempotency_keys WHERE owner = ? AND key = ? AND status IS NULL",
                (owner, key),
            )

    def count(self) -> int:
        """Rows kept, lapsed ones included until the next purge (for tests and status)."""
        with translated("idempotency store"):
            (rows,) = self._db.execute("SELECT count(*) FROM idempotency_keys").fetchone()
        return int(rows)

    def close(self) -> None:
        self._db.close()


def _claimed(row: tuple[bytes, int | None, str | None, bytes | None]) -> Claimed:
    fingerprint, status, headers, body = row
    if status is None:
        return Claimed(bytes(fingerprint), None)
    pairs = tuple((str(name), str(value)) for name, value in json.loads(headers or "[]"))
    return Claimed(bytes(fingerprint), StoredResponse(int(status), pairs, bytes(body or b"")))
