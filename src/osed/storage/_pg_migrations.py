"""Schema migrations for the PostgreSQL stores, recorded in ``schema_migrations``.

Each component (``ledger``, ``timeseries``) has its own numbered migrations: migration ``k``
(1-based) brings the component from version ``k - 1`` to ``k``. Append new migrations; never
edit a released one. All pending migrations of a component run in one transaction (PostgreSQL
DDL is transactional, so a crash leaves the previous version), under an advisory lock so that
processes starting together migrate once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, LiteralString

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from osed.domain.errors import ConfigurationError

Migration = Sequence[LiteralString]

_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    component text NOT NULL,
    version integer NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (component, version)
)"""


def migrate(
    connection: psycopg.Connection[Any],
    schema: str,
    component: str,
    migrations: Sequence[Migration],
) -> None:
    """Create ``schema`` if needed and bring ``component`` in it to ``len(migrations)``."""
    target = len(migrations)
    try:
        with connection.transaction():
            connection.execute(
                "SELECT pg_advisory_xact_lock(hashtext('osed-migrations:' || %s))", (schema,)
            )
            connection.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
            )
            connection.execute(_VERSION_TABLE)
            version = schema_version(connection, component)
            if version > target:
                raise ConfigurationError(
                    f"{component} schema version {version} in schema {schema!r} is newer than"
                    f" this OSED ({target})"
                )
            for number in range(version + 1, target + 1):
                for statement in migrations[number - 1]:
                    connection.execute(statement)
                connection.execute(
                    "INSERT INTO schema_migrations (component, version) VALUES (%s, %s)",
                    (component, number),
                )
    except (
        pg_errors.DuplicateTable,
        pg_errors.DuplicateFunction,
        pg_errors.DuplicateObject,
    ) as exc:
        raise ConfigurationError(
            f"schema {schema!r} holds objects that are not an OSED {component}: {exc}"
        ) from exc


def schema_version(connection: psycopg.Connection[Any], component: str) -> int:
    """The component's version in the current schema, 0 when it has none."""
    exists = connection.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return 0
    row = connection.execute(
        "SELECT coalesce(max(version), 0) FROM schema_migrations WHERE component = %s",
        (component,),
    ).fetchone()
    version = row[0] if row else 0
    if not isinstance(version, int):
        raise ConfigurationError(f"the {component} schema version is unreadable: {version!r}")
    return version
