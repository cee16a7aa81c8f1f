"""The PostgreSQL EDC state store: one row per EDC, replaced by an upsert."""

from __future__ import annotations

from osed.storage._closing import ClosesOnExit
from osed.storage._pg_connection import PgSession
from osed.storage._pg_migrations import migrate
from osed.storage._pg_schema import EDC_COMPONENT, EDC_MIGRATIONS


class PostgresEdcStateStore(ClosesOnExit):
    """An :class:`~osed.ports.edc.EdcStateStore` in a PostgreSQL schema (created if missing);
    it may share the schema with the other stores."""

    def __init__(self, conninfo: str, *, schema: str = "osed") -> None:
        self.schema = schema
        self._session = PgSession(conninfo, schema, subject="EDC store", read_only=False)
        try:
            with self._session.translated():
                migrate(self._session.connection(), schema, EDC_COMPONENT, EDC_MIGRATIONS)
        except BaseException:
            self._session.close()
            raise

    def put(self, edc_id: str, document: bytes) -> None:
        with self._session.translated():
            self._session.connection().execute(
                "INSERT INTO edc_state VALUES (%s, %s)"
                " ON CONFLICT (edc_id) DO UPDATE SET document = excluded.document",
                (edc_id, document),
            )

    def remove(self, edc_id: str) -> None:
        with self._session.translated():
            self._session.connection().execute("DELETE FROM edc_state WHERE edc_id = %s", (edc_id,))

    def load_all(self) -> dict[str, bytes]:
        with self._session.translated():
            rows = self._session.connection().execute(
                "SELECT edc_id, document FROM edc_state ORDER BY edc_id"
            )
            return {str(edc_id): bytes(document) for edc_id, document in rows}

    def close(self) -> None:
        self._session.close()
