"""The SQLite time-series store: one file, WAL mode, every write one ``BEGIN IMMEDIATE``.

Instants are stored as integer microseconds since the epoch (UTC), so ordering and range
queries are integer comparisons. Each series gets a small integer key and its unit in
``ts_series``; ``ts_points`` is a ``WITHOUT ROWID`` table clustered on the idempotency key
``(series, event time, source, belief time)``, so a range read is one index walk.
Durability as for the ledger: ``synchronous=FULL`` (the default) fsyncs the WAL at every commit.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from osed.domain.errors import (
    ConfigurationError,
)
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
    finite_buckets,
)
from osed.storage._closing import ClosesOnExit
from osed.storage._sqlite_common import (
    instant_of,
    micros,
    migrate_component,
    switch_to_wal,
    translated,
    write_transaction,
)

Synchronous = Literal["FULL", "NORMAL"]

COMPONENT = "timeseries"
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE ts_series (
            series_key INTEGER PRIMARY KEY,
            series_id TEXT NOT NULL UNIQUE,
            unit TEXT NOT NULL
        ) STRICT""",
        # quality is checked before writing (osed.ports.timeseries); a CHECK constraint here
        # would cost about a third of the ingest rate.
        """CREATE TABLE ts_points (
            series_key INTEGER NOT NULL,
            event_us INTEGER NOT NULL,
            source TEXT NOT NULL,
            belief_us INTEGER NOT NULL,
            value REAL NOT NULL,
            quality TEXT NOT NULL,
            PRIMARY KEY (series_key, event_us, source, belief_us)
        ) STRICT, WITHOUT ROWID""",
    ),
)

_INSERT_POINT = """INSERT OR IGNORE INTO ts_points
    (series_key, event_us, source, belief_us, value, quality) VALUES (?, ?, ?, ?, ?, ?)"""
# Every belief, or (SQLite's documented bare-column rule for max()) each source's latest one.
_SELECT_ALL = """SELECT event_us, source, belief_us, value, quality FROM ts_points
    WHERE series_key = ? AND event_us >= ? AND event_us < ? AND belief_us <= ?
    ORDER BY event_us, source, belief_us"""
_SELECT_LATEST = """SELECT event_us, source, max(belief_us), value, quality FROM ts_points
    WHERE series_key = ? AND event_us >= ? AND event_us < ? AND belief_us <= ?
    GROUP BY event_us, source ORDER BY event_us, source"""
# Aggregates over what a latest-belief read returns, bad points left out; the bucket index is
# the integer quotient of the offset from the start (non-negative, so it floors).
_KEPT = """WITH latest AS (
        SELECT event_us, source, max(belief_us), value, quality FROM ts_points
        WHERE series_key = :key AND event_us >= :start AND event_us < :end
          AND belief_us <= :as_of
        GROUP BY event_us, source
    ), kept AS (
        SELECT (event_us - :start) / :every AS bucket, event_us, source, value FROM latest
        WHERE quality != 'bad'
    )"""
_SQL_FUNCTIONS = {
    Aggregate.MEAN: "avg(value)",
    Aggregate.MIN: "min(value)",
    Aggregate.MAX: "max(value)",
    Aggregate.SUM: "sum(value)",
    Aggregate.COUNT: "count(*)",
}
_AGGREGATE_LAST = (
    _KEPT
    + """
    SELECT bucket, value, n FROM (
        SELECT bucket, value, count(*) OVER (PARTITION BY bucket) AS n,
            row_number() OVER (PARTITION BY bucket ORDER BY event_us DESC, source DESC) AS r
        FROM kept
    ) WHERE r = 1 ORDER BY bucket"""
)
_NO_LIMIT = 2**63 - 1
CACHE_KIB = 65_536  # batches land all over the index (one place per series): keep it cached


_Row = tuple[int, int, str, int, float, str]


def _rows(points: list[TimeSeriesPoint], keys: dict[str, int]) -> list[_Row]:
    """The rows of ``points``. Points often share one instant (the samples of one message,
    event time = belief time): it is converted once."""
    rows: list[_Row] = []
    last: datetime | None = None
    last_us = 0
    for point in points:
        event = point.event_time
        if event is not last:
            last, last_us = event, micros(event)
        belief = point.belief_time
        belief_us = last_us if belief is event else micros(belief)
        # quality is a StrEnum: stored as its text
        rows.append(
            (keys[point.series_id], last_us, point.source, belief_us, point.value, point.quality)
        )
    return rows


class SqliteTimeSeriesStore(ClosesOnExit):
    """A :class:`~osed.ports.timeseries.TimeSeriesStore` in one SQLite file (created if missing).

    Use a file of its own, not the ledger's: each keeps its own schema version.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = "FULL",
        busy_timeout_s: float = 10.0,
    ) -> None:
        self.path = Path(path)
        # Key and unit of each series seen, never changed once stored: a write of known series
        # needs no lookup.
        self._known: dict[str, tuple[int, str]] = {}
        if synchronous not in ("FULL", "NORMAL"):
            raise ConfigurationError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=busy_timeout_s)
        except sqlite3.Error as exc:
            raise ConfigurationError(f"cannot open time-series store {self.path}: {exc}") from exc
        try:
            switch_to_wal(self._db, busy_timeout_s)
            self._db.execute(f"PRAGMA synchronous = {synchronous}")
            self._db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            migrate_component(self._db, COMPONENT, _MIGRATIONS)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise ConfigurationError(
                f"{self.path} is not an OSED time-series store: {exc}"
            ) from exc
        except BaseException:
            self._db.close()
            raise

    def write(self, points: Sequence[TimeSeriesPoint]) -> int:
        checked = checked_points(points)
        if not checked:
            return 0
        with self._write_transaction():
            keys, registered = self._series_keys(checked)
            rows = _rows(checked, keys)
            before = self._db.total_changes
            self._db.executemany(_INSERT_POINT, rows)
            written = self._db.total_changes - before
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
        believed_by = _NO_LIMIT if as_of is None else micros(as_of)
        with translated("time-series"):
            found = self._db.execute(
                "SELECT series_key, unit FROM ts_series WHERE series_id = ?", (series_id,)
            ).fetchone()
            if found is None:
                return []
            series_key, unit = found
            rows = self._db.execute(
                _SELECT_LATEST if latest_belief else _SELECT_ALL,
                (series_key, micros(start), micros(end), believed_by),
            ).fetchall()
        return [
            TimeSeriesPoint(
                series_id,
                instant_of(event_us),
                value,
                unit,
                instant_of(belief_us),
                source,
                Quality(quality),
            )
            for event_us, source, belief_us, value, quality in rows
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
        width = check_aggregate(start, end, every, function, as_of)
        function = Aggregate(function)
        if function is Aggregate.LAST:
            query = _AGGREGATE_LAST
        else:
            query = (
                f"{_KEPT} SELECT bucket, {_SQL_FUNCTIONS[function]}, count(*) FROM kept "
                "GROUP BY bucket ORDER BY bucket"
            )
        with translated("time-series"):
            found = self._db.execute(
                "SELECT series_key FROM ts_series WHERE series_id = ?", (series_id,)
            ).fetchone()
            if found is None:
                return []
            origin = micros(start)
            rows = self._db.execute(
                query,
                {
                    "key": found[0],
                    "start": origin,
                    "end": micros(end),
                    "as_of": _NO_LIMIT if as_of is None else micros(as_of),
                    "every": width,
                },
            ).fetchall()
        buckets = [
            Bucket(instant_of(origin + bucket * width), float(value), count)
            for bucket, value, count in rows
        ]
        return finite_buckets(buckets, function)

    def series(self) -> list[SeriesInfo]:
        with translated("time-series"):
            rows = self._db.execute("SELECT series_id, unit FROM ts_series ORDER BY series_id")
            return [SeriesInfo(series_id, unit) for series_id, unit in rows]

    def close(self) -> None:
        self._db.close()

    def _series_keys(
        self, points: list[TimeSeriesPoint]
    ) -> tuple[dict[str, int], dict[str, tuple[int, str]]]:
        """Each series' key, after checking every point's unit against its series' unit; and
        the series registered or first seen by this write, to remember after the commit."""
        units = {point.series_id: point.unit for point in points}
        registered: dict[str, tuple[int, str]] = {}
        unknown = [series_id for series_id in units if series_id not in self._known]
        if unknown:
            self._db.executemany(
                "INSERT OR IGNORE INTO ts_series (series_id, unit) VALUES (?, ?)",
                [(series_id, units[series_id]) for series_id in unknown],
            )
            for series_id in unknown:
                key, unit = self._db.execute(
                    "SELECT series_key, unit FROM ts_series WHERE series_id = ?", (series_id,)
                ).fetchone()
                registered[series_id] = key, unit
        recorded = {
            series_id: registered.get(series_id) or self._known[series_id] for series_id in units
        }
        check_recorded_units(points, {series_id: unit for series_id, (_, unit) in recorded.items()})
        return {series_id: key for series_id, (key, _) in recorded.items()}, registered

    @contextmanager
    def _write_transaction(self) -> Iterator[None]:
        with write_transaction(self._db, "time-series"):
            yield
