"""One PostgreSQL session for a store: opened, set up, reopened after a lost server, and its
errors said in OSED's terms."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, LiteralString

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from osed.domain.errors import (
    ConfigurationError,
    ConflictError,
    IntegrityError,
    Problem,
    UnavailableError,
    ValidationError,
)

CONNECT_TIMEOUT_S = 10


class PgSession:
    """A connection in autocommit mode (transactions are explicit) whose ``search_path`` is the
    store's schema. A connection the server dropped is replaced at the next :meth:`connection`
    call; the operation that saw the loss fails, and the caller decides whether to retry."""

    def __init__(
        self,
        conninfo: str,
        schema: str,
        *,
        subject: str,
        read_only: bool,
        setup: Sequence[LiteralString] = (),
    ) -> None:
        """``setup`` runs at the start of every session (the first and each after a lost
        connection), e.g. to create the session's temporary tables."""
        self.conninfo = conninfo
        self.schema = schema
        self.subject = subject
        self.read_only = read_only
        self._setup = setup
        try:
            self._connection = self._open()
        except psycopg.Error as exc:
            raise ConfigurationError(
                f"cannot connect to PostgreSQL for the {subject}: {exc}"
            ) from exc

    def connection(self) -> psycopg.Connection[Any]:
        if self._connection.closed or self._connection.broken:
            self._connection.close()
            with self.translated():
                self._connection = self._open()
        return self._connection

    def close(self) -> None:
        self._connection.close()

    @contextmanager
    def translated(self) -> Iterator[None]:
        """psycopg's errors, said in OSED's terms."""
        try:
            yield
        except pg_errors.UniqueViolation as exc:
            raise ConflictError(
                f"{self.subject} write conflicts with recorded state: {exc}"
            ) from exc
        except (pg_errors.SerializationFailure, pg_errors.DeadlockDetected) as exc:
            raise ConflictError(f"{self.subject} is busy with another writer: {exc}") from exc
        except (psycopg.IntegrityError, psycopg.DataError) as exc:
            raise ValidationError(
                [Problem("$", "rejected_by_store", str(exc).strip())],
                subject=f"{self.subject} write",
            ) from exc
        except pg_errors.ReadOnlySqlTransaction as exc:
            raise ConfigurationError(f"the {self.subject} was opened read-only") from exc
        except psycopg.OperationalError as exc:
            # The server went away or refuses connections (restarting, shutting down): the
            # outcome of a commit in flight is unknown, and an idempotent retry settles it.
            raise UnavailableError(f"{self.subject} storage is unavailable: {exc}") from exc
        except psycopg.Error as exc:
            raise IntegrityError(f"{self.subject} storage failed: {exc}") from exc

    def _open(self) -> psycopg.Connection[Any]:
        connection = psycopg.connect(
            self.conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
        )
        try:
            # UTC so timestamps come back as UTC; synchronous_commit on so a returned commit is
            # on disk whatever the server default (with fsync on, as the server must run).
            connection.execute(
                sql.SQL(
                    "SET search_path TO {}; SET TIME ZONE 'UTC'; SET synchronous_commit TO on"
                ).format(sql.Identifier(self.schema))
            )
            if self.read_only:
                connection.execute("SET default_transaction_read_only TO on")
            for statement in self._setup:
                connection.execute(statement)
        except BaseException:
            connection.close()
            raise
        return connection
