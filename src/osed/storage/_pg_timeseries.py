"""The PostgreSQL time-series store: binary COPY, and ``ON CONFLICT DO NOTHING`` for retries.

COPY is the fastest way into PostgreSQL but cannot skip rows already stored. So a write first
copies the batch straight into ``ts_points`` inside a savepoint; if a key is already there, it
rolls back to the savepoint, copies the batch into a session-private temporary table that
empties at commit, and moves the new rows over with one ``INSERT … ON CONFLICT DO NOTHING``.
Durability as for the ledger: ``synchronous_commit = on``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, LiteralString

import psycopg
from psycopg import errors as pg_errors

from osed.ports.timeseries import (
    Aggregate,
    Bucket,
    Quality,
    SeriesInfo,
    TimeSeriesPoint,
    check_aggregate,
    check_range,
    check_recorded_units,
    checked_points,
    first_of_each_key,
)
from osed.storage._closing import ClosesOnExit
from osed.storage._pg_connection import PgSession
from osed.storage._pg_migrations import migrate
from osed.storage._pg_schema import TIMESERIES_COMPONENT, TIMESERIES_MIGRATIONS

_STAGING = """CREATE TEMPORARY TABLE ts_staging (
    series_key integer, event_time timestamptz, source text,
    belief_time timestamptz, value double precision, quality text
) ON COMMIT DELETE ROWS"""
_COPY_STAGING = """COPY ts_staging (series_key, event_time, source, belief_time, value, quality)
    FROM STDIN (FORMAT BINARY)"""
_COPY_POINTS = """COPY ts_points (series_key, event_time, source, belief_time, value, quality)
    FROM STDIN (FORMAT BINARY)"""
_ROW_TYPES = ("int4", "timestamptz", "text", "timestamptz", "float8", "text")
_MOVE_STAGED = """INSERT INTO ts_points
    SELECT series_key, event_time, source, belief_time, value, quality FROM ts_staging
    ON CONFLICT DO NOTHING"""
_REGISTER_SERIES = """INSERT INTO ts_series (series_id, unit) VALUES (%s, %s)
    ON CONFLICT (series_id) DO NOTHING"""
_SELECT_ALL = """SELECT event_time, source, belief_time, value, quality FROM ts_points
    WHERE series_key = %(key)s AND event_time >= %(start)s AND event_time < %(end)s
      AND (%(as_of)s::timestamptz IS NULL OR belief_time <= %(as_of)s)
    ORDER BY event_time, source, belief_time"""
_SELECT_LATEST = """SELECT DISTINCT ON (event_time, source)
        event_time, source, belief_time, value, quality FROM ts_points
    WHERE series_key = %(key)s AND event_time >= %(start)s AND event_time < %(end)s
      AND (%(as_of)s::timestamptz IS NULL OR belief_time <= %(as_of)s)
    ORDER BY event_time, source, belief_time DESC"""

# Aggregates over what a latest-belief read returns, bad points left out; date_bin
# (PostgreSQL 14) gives each point's bucket start, counted from the query's start.
_KEPT = """WITH latest AS (
        SELECT DISTINCT ON (event_time, source) event_time, source, value, quality
        FROM ts_points
        WHERE series_key = %(key)s AND event_time >= %(start)s AND event_time < %(end)s
          AND (%(as_of)s::timestamptz IS NULL OR belief_time <= %(as_of)s)
        ORDER BY event_time, source, belief_time DESC
    ), kept AS (
        SELECT date_bin(%(every)s, event_time, %(start)s) AS bucket, event_time, source, value
        FROM latest WHERE quality != 'bad'
    )"""
_AGGREGATES: dict[Aggregate, LiteralString] = {
    Aggregate.MEAN: _KEPT + " SELECT bucket, avg(value), count(*) FROM kept GROUP BY bucket",
    Aggregate.MIN: _KEPT + " SELECT bucket, min(value), count(*) FROM kept GROUP BY bucket",
    Aggregate.MAX: _KEPT + " SELECT bucket, max(value), count(*) FROM kept GROUP BY bucket",
    Aggregate.SUM: _KEPT + " SELECT bucket, sum(value), count(*) FROM kept GROUP BY bucket",
    Aggregate.COUNT: _KEPT + " SELECT bucket, count(*), count(*) FROM kept GROUP BY bucket",
    Aggregate.LAST: _KEPT
    + """ SELECT DISTINCT ON (bucket) bucket, value, count(*) OVER (PARTITION BY bucket)
        FROM kept ORDER BY bucket, event_time DESC, source DESC""",
}


class PostgresTimeSeriesStore(ClosesOnExit):
    """A :class:`~osed.ports.timeseries.TimeSeriesStore` in a PostgreSQL schema (created if
    missing); it may share the schema with a :class:`PostgresLedgerStore`."""

    def __init__(self, conninfo: str, *, schema: str = "osed") -> None:
        self.schema = schema
        self._session = PgSession(
            conninfo, schema, subject="time-series store", read_only=False, setup=(_STAGING,)
        )
        # Key and unit of each series seen, never changed once stored: a write of known series
        # needs no lookup.
        self._known: dict[str, tuple[int, str]] = {}
        try:
            with self._session.translated():
                migrate(
                    self._session.connection(), schema, TIMESERIES_COMPONENT, TIMESERIES_MIGRATIONS
                )
        except BaseException:
            self._session.close()
            raise

    def write(self, points: Sequence[TimeSeriesPoint]) -> int:
        checked = checked_points(points)
        if not checked:
            return 0
        with self._session.translated():
            connection = self._session.connection()
            with connection.transaction(), connection.cursor() as cursor:
                keys, registered = self._series_keys(cursor, checked)
                written = self._insert(connection, cursor, checked, keys)
        self._known.update(registered)  # committed: safe to remember
        return written

    def read(
        self,
        series_id: str,
        start: datetime,
        end: datetime,
        *,
        latest_belief: bool = True,
        as_of: datetime | None = None,
    ) -> list[TimeSeriesPoint]:
        check_range(start, end, as_of)
        with self._session.translated():
            connection = self._session.connection()
            found = connection.execute(
                "SELECT series_key, unit FROM ts_series WHERE series_id = %s", (series_id,)
            ).fetchone()
            if found is None:
                return []
            series_key, unit = found
            rows = connection.execute(
                _SELECT_LATEST if latest_belief else _SELECT_ALL,
                {"key": series_key, "start": start, "end": end, "as_of": as_of},
            ).fetchall()
        return [
            TimeSeriesPoint(
                series_id, event_time, value, unit, belief_time, source, Quality(quality)
            )
            for event_time, source, belief_time, value, quality in rows
        ]

    def aggregate(
        self,
        series_id: str,
        start: datetime,
        end: datetime,
        every: timedelta,
        function: Aggregate,
        *,
        as_of: datetime | None = None,
    ) -> list[Bucket]:
        check_aggregate(start, end, every, function, as_of)
        query = _AGGREGATES[Aggregate(function)]
        if Aggregate(function) is not Aggregate.LAST:
            query += " ORDER BY bucket"
        with self._session.translated():
            connection = self._session.connection()
            found = connection.execute(
                "SELECT series_key FROM ts_series WHERE series_id = %s", (series_id,)
            ).fetchone()
            if found is None:
                return []
            rows = connection.execute(
                query,
                {"key": found[0], "start": start, "end": end, "as_of": as_of, "every": every},
            ).fetchall()
        return [Bucket(bucket, float(value), count) for bucket, value, count in rows]

    def series(self) -> list[SeriesInfo]:
        with self._session.translated():
            rows = self._session.connection().execute(
                "SELECT series_id, unit FROM ts_series ORDER BY series_id"
            )
            return [SeriesInfo(series_id, unit) for series_id, unit in rows]

    def close(self) -> None:
        self._session.close()

    def _series_keys(
        self, cursor: psycopg.Cursor[Any], points: list[TimeSeriesPoint]
    ) -> tuple[dict[str, int], dict[str, tuple[int, str]]]:
        """Each series' key, after checking every point's unit against its series' unit; and
        the series registered or first seen by this write, to remember after the commit."""
        units = {point.series_id: point.unit for point in points}
        registered: dict[str, tuple[int, str]] = {}
        unknown = [series_id for series_id in units if series_id not in self._known]
        if unknown:
            cursor.executemany(
                _REGISTER_SERIES, [(series_id, units[series_id]) for series_id in unknown]
            )
            cursor.execute(
                "SELECT series_id, series_key, unit FROM ts_series WHERE series_id = ANY(%s)",
                (unknown,),
            )
            registered = {series_id: (key, unit) for series_id, key, unit in cursor.fetchall()}
        recorded = {
            series_id: registered.get(series_id) or self._known[series_id] for series_id in units
        }
        check_recorded_units(points, {series_id: unit for series_id, (_, unit) in recorded.items()})
        return {series_id: key for series_id, (key, _) in recorded.items()}, registered

    @staticmethod
    def _insert(
        connection: psycopg.Connection[Any],
        cursor: psycopg.Cursor[Any],
        points: list[TimeSeriesPoint],
        keys: dict[str, int],
    ) -> int:
        # New points are the usual case, and COPY straight into the table is twice as fast as
        # through the staging table: try that first.
        try:
            with connection.transaction():  # a savepoint, to fall back to
                _copy(cursor, _COPY_POINTS, _rows(points, keys))
            return len(points)
        except pg_errors.UniqueViolation:
            pass  # some points are stored already: take the way that skips them
        _copy(cursor, _COPY_STAGING, _rows(first_of_each_key(points), keys))
        cursor.execute(_MOVE_STAGED)
        return cursor.rowcount


def _rows(points: list[TimeSeriesPoint], keys: dict[str, int]) -> list[tuple[object, ...]]:
    return [
        (
            keys[point.series_id],
            point.event_time,
            point.source,
            point.belief_time,
            point.value,
            point.quality.value,
        )
        for point in points
    ]


def _copy(
    cursor: psycopg.Cursor[Any], statement: LiteralString, rows: list[tuple[object, ...]]
) -> None:
    with cursor.copy(statement) as copy:
        copy.set_types(_ROW_TYPES)
        for row in rows:
            copy.write_row(row)
