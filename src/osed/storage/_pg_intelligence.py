"""The PostgreSQL decision log of the grid intelligence."""

from __future__ import annotations

from datetime import datetime

from osed.storage._closing import ClosesOnExit
from osed.storage._pg_connection import PgSession
from osed.storage._pg_migrations import migrate
from osed.storage._pg_schema import INTELLIGENCE_COMPONENT, INTELLIGENCE_MIGRATIONS


class PostgresDecisionStore(ClosesOnExit):
    """A :class:`~osed.ports.intelligence.DecisionStore` in a PostgreSQL schema (created if
    missing); it may share the schema with the other stores."""

    def __init__(self, conninfo: str, *, schema: str = "osed") -> None:
        self.schema = schema
        self._session = PgSession(conninfo, schema, subject="decision store", read_only=False)
        try:
            with self._session.translated():
                migrate(
                    self._session.connection(),
                    schema,
                    INTELLIGENCE_COMPONENT,
                    INTELLIGENCE_MIGRATIONS,
                )
        except BaseException:
            self._session.close()
            raise

    def append(self, at: datetime, area: str, action: str, document: bytes) -> int:
        with self._session.translated():
            row = (
                self._session.connection()
                .execute(
                    "INSERT INTO intelligence_decisions (at, area, action, document)"
                    " VALUES (%s, %s, %s, %s) RETURNING seq",
                    (at, area, action, document),
                )
                .fetchone()
            )
        return int(row[0]) if row else 0

    def recent(self, limit: int = 100) -> list[tuple[int, bytes]]:
        with self._session.translated():
            rows = (
                self._session.connection()
                .execute(
                    "SELECT seq, document FROM intelligence_decisions ORDER BY seq DESC LIMIT %s",
                    (limit,),
                )
                .fetchall()
            )
        return [(int(seq), bytes(document)) for seq, document in reversed(rows)]

    def close(self) -> None:
        self._session.close()
