"""The SQLite decision log of the grid intelligence."""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime
from pathlib import Path

from osed.domain.errors import ConfigurationError
from osed.storage._closing import ClosesOnExit
from osed.storage._sqlite_common import migrate_component, switch_to_wal, write_transaction

COMPONENT = "intelligence"
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE intelligence_decisions (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " at TEXT NOT NULL, area TEXT NOT NULL, action TEXT NOT NULL, document BLOB NOT NULL)"
        " STRICT",
    ),
)


class SqliteDecisionStore(ClosesOnExit):
    """A :class:`~osed.ports.intelligence.DecisionStore` in one SQLite file (it may be the EDC
    state file: the tables do not meet)."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=busy_timeout_s)
        except sqlite3.Error as exc:
            raise ConfigurationError(f"cannot open decision store {self.path}: {exc}") from exc
        try:
            switch_to_wal(self._db, busy_timeout_s)
            migrate_component(self._db, COMPONENT, _MIGRATIONS)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise ConfigurationError(f"{self.path} is not an OSED decision store: {exc}") from exc
        except BaseException:
            self._db.close()
            raise

    def append(self, at: datetime, area: str, action: str, document: bytes) -> int:
        with write_transaction(self._db, "decision store"):
            cursor = self._db.execute(
                "INSERT INTO intelligence_decisions (at, area, action, document)"
                " VALUES (?, ?, ?, ?)",
                (at.isoformat(), area, action, document),
            )
        return int(cursor.lastrowid or 0)

    def recent(self, limit: int = 100) -> list[tuple[int, bytes]]:
        rows = self._db.execute(
            "SELECT seq, document FROM intelligence_decisions ORDER BY seq DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [(int(seq), bytes(document)) for seq, document in reversed(rows)]

    def close(self) -> None:
        self._db.close()
