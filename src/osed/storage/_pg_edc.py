"""The PostgreSQL EDC state store: one row per EDC for its state document, one row per
enrolled building; every call is one transaction."""

from __future__ import annotations

from collections.abc import Sequence

from osed.domain.errors import NotFoundError
from osed.ports.edc import StoredEdc
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

    def put_enrolments(self, edc_id: str, enrolments: Sequence[tuple[str, bytes]]) -> None:
        with self._session.translated():
            connection = self._session.connection()
            with connection.transaction():
                # The EDC's row locked: a concurrent remove waits, no enrolment outlives it.
                known = connection.execute(
                    "SELECT 1 FROM edc_state WHERE edc_id = %s FOR SHARE", (edc_id,)
                ).fetchone()
                if known is None:
                    raise NotFoundError(f"no stored EDC {edc_id!r} to enrol buildings in")
                with connection.cursor() as cursor:
                    cursor.executemany(
                        "INSERT INTO edc_enrolment VALUES (%s, %s, %s)"
                        " ON CONFLICT (edc_id, building_id)"
                        " DO UPDATE SET enrolment = excluded.enrolment",
                        [(edc_id, building, enrolment) for building, enrolment in enrolments],
                    )

    def remove_enrolment(self, edc_id: str, building_id: str) -> None:
        with self._session.translated():
            self._session.connection().execute(
                "DELETE FROM edc_enrolment WHERE edc_id = %s AND building_id = %s",
                (edc_id, building_id),
            )

    def remove(self, edc_id: str) -> None:
        with self._session.translated():
            connection = self._session.connection()
            with connection.transaction():
                connection.execute("DELETE FROM edc_state WHERE edc_id = %s", (edc_id,))
                connection.execute("DELETE FROM edc_enrolment WHERE edc_id = %s", (edc_id,))

    def load_all(self) -> dict[str, StoredEdc]:
        with self._session.translated():
            connection = self._session.connection()
            # One snapshot for both tables: the documents and enrolments of the same moment.
            with connection.transaction():
                connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                documents = connection.execute(
                    "SELECT edc_id, document FROM edc_state ORDER BY edc_id"
                ).fetchall()
                rows = connection.execute(
                    "SELECT edc_id, building_id, enrolment FROM edc_enrolment"
                    " ORDER BY edc_id, building_id"
                ).fetchall()
        enrolments: dict[str, dict[str, bytes]] = {str(edc_id): {} for edc_id, _ in documents}
        for edc_id, building_id, enrolment in rows:
            enrolments.setdefault(str(edc_id), {})[str(building_id)] = bytes(enrolment)
        return {
            str(edc_id): StoredEdc(bytes(document), enrolments[str(edc_id)])
            for edc_id, document in documents
        }

    def close(self) -> None:
        self._session.close()
