"""The SQLite EDC state store: one row per EDC for its state document, one row per enrolled
building; every call is one transaction.

``synchronous=FULL`` (the default) fsyncs the WAL at every commit, so an enrolment whose token
was handed out survives a power loss; ``NORMAL`` saves that fsync and survives a crash of the
process, but a power loss may take the last commits.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from osed.domain.errors import ConfigurationError, NotFoundError
from osed.ports.edc import StoredEdc
from osed.storage._closing import ClosesOnExit
from osed.storage._sqlite_common import migrate_component, switch_to_wal, write_transaction

COMPONENT = "edc"
Synchronous = Literal["FULL", "NORMAL"]
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    ("CREATE TABLE edc_state (edc_id TEXT PRIMARY KEY, document BLOB NOT NULL) STRICT",),
    (
        "CREATE TABLE edc_enrolment (edc_id TEXT NOT NULL, building_id TEXT NOT NULL,"
        " enrolment BLOB NOT NULL, PRIMARY KEY (edc_id, building_id)) STRICT, WITHOUT ROWID",
        # Version 1 kept the enrolments inside the document, under "enrolled": move them out.
        # A document that is not a JSON object stays as it was (the manager reports it).
        "INSERT INTO edc_enrolment"
        " SELECT s.edc_id, e.key, CAST(e.value AS BLOB)"
        " FROM edc_state AS s, json_each(CAST(s.document AS TEXT), '$.enrolled') AS e"
        " WHERE json_valid(CAST(s.document AS TEXT))"
        " AND json_type(CAST(s.document AS TEXT), '$.enrolled') = 'object'",
        "UPDATE edc_state"
        " SET document = CAST(json_remove(CAST(document AS TEXT), '$.enrolled') AS BLOB)"
        " WHERE json_valid(CAST(document AS TEXT))"
        " AND json_type(CAST(document AS TEXT), '$.enrolled') IS NOT NULL",
    ),
)


class SqliteEdcStateStore(ClosesOnExit):
    """An :class:`~osed.ports.edc.EdcStateStore` in one SQLite file (created if missing)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = "FULL",
        busy_timeout_s: float = 10.0,
    ) -> None:
        self.path = Path(path)
        if synchronous not in ("FULL", "NORMAL"):
            raise ConfigurationError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=busy_timeout_s)
        except sqlite3.Error as exc:
            raise ConfigurationError(f"cannot open EDC store {self.path}: {exc}") from exc
        try:
            switch_to_wal(self._db, busy_timeout_s)
            self._db.execute(f"PRAGMA synchronous = {synchronous}")
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

    def put_enrolments(self, edc_id: str, enrolments: Sequence[tuple[str, bytes]]) -> None:
        with write_transaction(self._db, "EDC store"):
            known = self._db.execute("SELECT 1 FROM edc_state WHERE edc_id = ?", (edc_id,))
            if known.fetchone() is None:
                raise NotFoundError(f"no stored EDC {edc_id!r} to enrol buildings in")
            self._db.executemany(
                "INSERT INTO edc_enrolment VALUES (?, ?, ?)"
                " ON CONFLICT (edc_id, building_id) DO UPDATE SET enrolment = excluded.enrolment",
                [(edc_id, building_id, enrolment) for building_id, enrolment in enrolments],
            )

    def remove_enrolment(self, edc_id: str, building_id: str) -> None:
        with write_transaction(self._db, "EDC store"):
            self._db.execute(
                "DELETE FROM edc_enrolment WHERE edc_id = ? AND building_id = ?",
                (edc_id, building_id),
            )

    def remove(self, edc_id: str) -> None:
        with write_transaction(self._db, "EDC store"):
            self._db.execute("DELETE FROM edc_enrolment WHERE edc_id = ?", (edc_id,))
            self._db.execute("DELETE FROM edc_state WHERE edc_id = ?", (edc_id,))

    def load_all(self) -> dict[str, StoredEdc]:
        # One read transaction, so the documents and the enrolments are of the same moment.
        self._db.execute("BEGIN")
        try:
            documents = self._db.execute("SELECT edc_id, document FROM edc_state").fetchall()
            enrolments: dict[str, dict[str, bytes]] = {str(edc_id): {} for edc_id, _ in documents}
            for edc_id, building_id, enrolment in self._db.execute(
                "SELECT edc_id, building_id, enrolment FROM edc_enrolment"
                " ORDER BY edc_id, building_id"
            ):
                enrolments.setdefault(str(edc_id), {})[str(building_id)] = bytes(enrolment)
        finally:
            self._db.execute("COMMIT")
        return {
            str(edc_id): StoredEdc(bytes(document), enrolments[str(edc_id)])
            for edc_id, document in sorted(documents)
        }

    def close(self) -> None:
        self._db.close()
