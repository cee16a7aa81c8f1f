"""The SQLite EDC state store: one row per EDC, replaced in one transaction."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from osed.domain.errors import ConfigurationError
from osed.storage._closing import ClosesOnExit
from osed.storage._sqlite_common import migrate_component, switch_to_wal, write_transaction

COMPONENT = "edc"
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    ("CREATE TABLE edc_state (edc_id TEXT PRIMARY KEY, document BLOB NOT NULL) STRICT",),
)


class SqliteEdcStateStore(ClosesOnExit):
    """An :class:`~osed.ports.edc.EdcStateStore` in one SQLite file (created if missing)."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=busy_timeout_s)
        except sqlite3.Error as exc:
            raise ConfigurationError(f"cannot open EDC store {self.path}: {exc}") from exc
        try:
            switch_to_wal(self._db, busy_timeout_s)
            self._db.execute("PRAGMA synchronous = FULL")
            migrate_component(self._db, COMPONENT, _MIGRATIONS)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise ConfigurationError(f"{self.path} is not an OSED EDC store: {exc}") from exc
        except BaseException:
            self._db.close()
            raise

    def put(self, edc_id: str, document: bytes) -> None:
        with write_transaction(self._db, "EDC store"):
            self._db.execute(
                "INSERT INTO edc_state VALUES (?, ?)"
                " ON CONFLICT (edc_id) DO UPDATE SET document = excluded.document",
                (edc_id, document),
            )

    def remove(self, edc_id: str) -> None:
        with write_transaction(self._db, "EDC store"):
            self._db.execute("DELETE FROM edc_state WHERE edc_id = ?", (edc_id,))

    def load_all(self) -> dict[str, bytes]:
        rows = self._db.execute("SELECT edc_id, document FROM edc_state ORDER BY edc_id")
        return {str(edc_id): bytes(document) for edc_id, document in rows}

    def close(self) -> None:
        self._db.close()
