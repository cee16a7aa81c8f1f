"""PostgreSQL-specific storage tests share the session's cluster (tests/services/postgres.py)."""

from tests.services.postgres import (  # noqa: F401  (fixtures)
    postgres_cluster,
    postgres_conninfo,
    postgres_schema,
)
