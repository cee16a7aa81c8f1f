"""The PostgreSQL backends: the ledger, the time-series, the job and the EDC state store, one
schema each or shared.

All take a libpq ``conninfo`` and a ``schema`` (default ``osed``), created with its tables
and migrated at start; see ``docs/storage.md``. Needs the ``postgres`` extra (psycopg 3).
"""

from __future__ import annotations

from osed.storage._pg_edc import PostgresEdcStateStore
from osed.storage._pg_jobs import PostgresJobStore
from osed.storage._pg_ledger import TRACE_BUFFER_ROWS, PostgresLedgerStore
from osed.storage._pg_timeseries import PostgresTimeSeriesStore

__all__ = [
    "TRACE_BUFFER_ROWS",
    "PostgresEdcStateStore",
    "PostgresJobStore",
    "PostgresLedgerStore",
    "PostgresTimeSeriesStore",
]
