"""The PostgreSQL backends: the ledger and the time-series store, one schema each or shared.

Both take a libpq ``conninfo`` and a ``schema`` (default ``osed``), created with its tables
and migrated at start; see ``docs/storage.md``. Needs the ``postgres`` extra (psycopg 3).
"""

from __future__ import annotations

from osed.storage._pg_ledger import TRACE_BUFFER_ROWS, PostgresLedgerStore
from osed.storage._pg_timeseries import PostgresTimeSeriesStore

__all__ = ["TRACE_BUFFER_ROWS", "PostgresLedgerStore", "PostgresTimeSeriesStore"]
