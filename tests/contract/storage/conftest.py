"""Backends for the storage contract suites: every test runs once per backend, unchanged.

A backend fixture hands out stores: ``open()`` connects a new store to this test's storage
(an SQLite file, a PostgreSQL schema), ``fresh()`` one on new, empty storage. Every store it
opened is closed at the end of the test.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from osed.ports.jobs import JobStore
from osed.ports.ledger import LedgerStore
from osed.ports.timeseries import TimeSeriesStore
from osed.storage import postgres, sqlite
from osed.storage.jobs_redis import RedisJobStore
from osed.storage.jobs_sqlite import SqliteJobStore
from osed.storage.timeseries_sqlite import SqliteTimeSeriesStore
from tests.contract.storage.backends import Backend, sqlite_locations
from tests.services.postgres import (
    drop_schema,
    new_schema_name,
    postgres_cluster,  # noqa: F401  (a fixture, used through postgres_conninfo)
    postgres_conninfo,  # noqa: F401
)
from tests.services.redis import RedisServer, redis_server  # noqa: F401  (a fixture)

BACKENDS = ["sqlite", "postgres"]


def _postgres_locations(
    request: pytest.FixtureRequest,
) -> tuple[str, Callable[[], str]]:
    conninfo: str = request.getfixturevalue("postgres_conninfo")
    schemas: list[str] = []

    def new_schema() -> str:
        schemas.append(new_schema_name())
        return schemas[-1]

    def drop_all() -> None:
        for schema in schemas:
            drop_schema(conninfo, schema)

    request.addfinalizer(drop_all)
    return conninfo, new_schema


@pytest.fixture(params=BACKENDS)
def ledger_backend(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Backend[LedgerStore]]:
    backend: Backend[LedgerStore]
    if request.param == "sqlite":
        backend = Backend(
            "sqlite",
            sqlite.SqliteLedgerStore,
            sqlite_locations(tmp_path, "ledger.db"),
            trace_buffer_rows=sqlite.TRACE_BUFFER_ROWS,
        )
    else:
        conninfo, new_schema = _postgres_locations(request)
        backend = Backend(
            "postgres",
            lambda schema: postgres.PostgresLedgerStore(conninfo, schema=schema),
            new_schema,
            trace_buffer_rows=postgres.TRACE_BUFFER_ROWS,
        )
    yield backend
    backend.close_all()


@pytest.fixture
def ledger(ledger_backend: Backend[LedgerStore]) -> LedgerStore:
    return ledger_backend.open()


@pytest.fixture(params=BACKENDS)
def timeseries_backend(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Backend[TimeSeriesStore]]:
    backend: Backend[TimeSeriesStore]
    if request.param == "sqlite":
        backend = Backend(
            "sqlite", SqliteTimeSeriesStore, sqlite_locations(tmp_path, "timeseries.db")
        )
    else:
        conninfo, new_schema = _postgres_locations(request)
        backend = Backend(
            "postgres",
            lambda schema: postgres.PostgresTimeSeriesStore(conninfo, schema=schema),
            new_schema,
        )
    yield backend
    backend.close_all()


@pytest.fixture
def timeseries(timeseries_backend: Backend[TimeSeriesStore]) -> TimeSeriesStore:
    return timeseries_backend.open()


class JobsBackend:
    """Job stores on this test's storage, as :class:`Backend` hands out the other stores
    (a class of its own, since ``Backend`` is typed for the ledger and time-series ports)."""

    def __init__(
        self, name: str, opener: Callable[[str], JobStore], new_location: Callable[[], str]
    ) -> None:
        self.name = name
        self._opener = opener
        self._new_location = new_location
        self._location = new_location()
        self._opened: list[JobStore] = []

    def open(self, *, closed_by_caller: bool = False) -> JobStore:
        """A new store (a new connection); one used in another thread must be opened and
        closed by its caller in that thread."""
        store = self._opener(self._location)
        if not closed_by_caller:
            self._opened.append(store)
        return store

    def fresh(self) -> JobStore:
        """A store on new, empty storage, e.g. one per hypothesis example."""
        store = self._opener(self._new_location())
        self._opened.append(store)
        return store

    def close_all(self) -> None:
        for store in self._opened:
            store.close()


@pytest.fixture(params=[*BACKENDS, "redis"])
def jobs_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobsBackend]:
    if request.param == "sqlite":
        backend = JobsBackend("sqlite", SqliteJobStore, sqlite_locations(tmp_path, "jobs.db"))
    elif request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        prefixes = (f"osed-test:{uuid.uuid4().hex}:" for _ in itertools.count())
        backend = JobsBackend(
            "redis",
            lambda prefix: RedisJobStore(server.url, prefix=prefix),
            lambda: next(prefixes),
        )
    else:
        conninfo, new_schema = _postgres_locations(request)
        backend = JobsBackend(
            "postgres",
            lambda schema: postgres.PostgresJobStore(conninfo, schema=schema),
            new_schema,
        )
    yield backend
    backend.close_all()


@pytest.fixture
def jobs(jobs_backend: JobsBackend) -> JobStore:
    return jobs_backend.open()
