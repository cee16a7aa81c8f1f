"""The PostgreSQL backends: the ledger, the time-series, the job and the EDC state store, and
the grid intelligence's decision log, one schema each or shared.

All take a libpq ``conninfo`` and a ``schema`` (default ``osed``), created with its tables
and migrated at start; see ``docs/storage.md``. Needs the ``postgres`` extra (psycopg 3).
"""

from __future__ import annotations

from osed.storage._pg_edc import PostgresEdcStateStore
from osed.storage._pg_intelligence import PostgresDecisionStore
from osed.storage._pg_jobs import PostgresJobStore
from osed.storage._pg_ledger import TRACE_BUFFER_ROWS, PostgresLedgerStore
from osed.storage._pg_timeseries import PostgresTimeSeriesStore

__all__ = [
    "TRACE_BUFFER_ROWS",
    "PostgresDecisionStore",
    "PostgresEdcStateStore",
    "PostgresJobStore",
    "PostgresLedgerStore",
    "PostgresTimeSeriesStore",
]
