"""Where a consumer keeps its place: per source, the last seq it delivered (or reported lost),
and the gap reports of what it reported lost.

Given these positions, a restarted consumer neither delivers a message again nor skips one: it
expects ``position + 1`` from each source and asks for a replay of whatever it missed. A gap
report is saved in the same step as the position that moves past the gap, so a crash can
neither lose a report (the position is not past the gap either: the gap is found again) nor
record it twice. A report of a time window (raw messages a broker may have lost, which never
had seqs) moves no position and is saved on its own.
"""

from __future__ import annotations

import heapq
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from osed.bus._sqlite import Synchronous, connect, connect_read_only, query, transaction
from osed.codec.gap import GapReport


class PositionStore(Protocol):
    def load(self, consumer: str) -> dict[str, int]:
        """``{source: last delivered seq}`` of ``consumer`` (empty for a new consumer)."""
        ...

    def save(self, consumer: str, source: str, seq: int, gaps: Sequence[GapReport] = ()) -> None:
        """Save ``seq`` as the position and ``gaps`` (reports the position moves past) in one
        atomic step; a report already saved (same consumer, source and first seq) is kept as
        it was."""
        ...

    def record(self, gaps: Sequence[GapReport]) -> None:
        """Save reports that move no position (time windows of a possible loss); a report
        already saved (same consumer, source and start) is kept as it was."""
        ...

    def gaps(self, consumer: str | None = None) -> list[GapReport]:
        """The gap reports saved (of ``consumer``, or of every consumer), oldest first."""
        ...

    def close(self) -> None: ...


def _report_key(report: GapReport) -> tuple[str, str, object]:
    seqs = report.seqs
    return (report.consumer, report.source, report.lost_from if seqs is None else seqs[0])


class InMemoryPositions:
    def __init__(self) -> None:
        self._positions: dict[str, dict[str, int]] = {}
        self._gaps: dict[tuple[str, str, object], GapReport] = {}  # in the order saved

    def load(self, consumer: str) -> dict[str, int]:
        return dict(self._positions.get(consumer, {}))

    def save(self, consumer: str, source: str, seq: int, gaps: Sequence[GapReport] = ()) -> None:
        self._positions.setdefault(consumer, {})[source] = seq
        self.record(gaps)

    def record(self, gaps: Sequence[GapReport]) -> None:
        for report in gaps:
            self._gaps.setdefault(_report_key(report), report)

    def gaps(self, consumer: str | None = None) -> list[GapReport]:
        return [g for g in self._gaps.values() if consumer is None or g.consumer == consumer]

    def close(self) -> None:
        pass


_SCHEMA = """
CREATE TABLE IF NOT EXISTS consumer_positions (
    consumer TEXT NOT NULL,
    source TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (consumer, source)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS consumer_gaps (
    consumer TEXT NOT NULL,
    source TEXT NOT NULL,
    first INTEGER NOT NULL,
    last INTEGER NOT NULL,
    reason TEXT NOT NULL,
    pattern TEXT NOT NULL,
    detected_at TEXT NOT NULL,
    PRIMARY KEY (consumer, source, first)
);
CREATE TABLE IF NOT EXISTS consumer_loss_windows (
    consumer TEXT NOT NULL,
    source TEXT NOT NULL,
    lost_from TEXT NOT NULL,
    lost_until TEXT NOT NULL,
    reason TEXT NOT NULL,
    pattern TEXT NOT NULL,
    detected_at TEXT NOT NULL,
    PRIMARY KEY (consumer, source, lost_from)
);
"""
# Both tables keep their rowid: reports are read back in the order they were saved.
_SELECT_GAPS = (
    "SELECT consumer, pattern, source, first, last, reason, detected_at FROM consumer_gaps"
)
_SELECT_WINDOWS = (
    "SELECT consumer, pattern, source, lost_from, lost_until, reason, detected_at "
    "FROM consumer_loss_windows"
)
_INSERT_GAP = (
    "INSERT INTO consumer_gaps VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (consumer, source, first) DO NOTHING"
)
_INSERT_WINDOW = (
    "INSERT INTO consumer_loss_windows VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (consumer, source, lost_from) DO NOTHING"
)


class SqlitePositions:
    """Positions in a SQLite file; ``synchronous="NORMAL"`` (default) survives a process kill,
    ``"FULL"`` also a power cut."""

    def __init__(self, path: str | Path, *, synchronous: Synchronous = "NORMAL") -> None:
        self.path = Path(path)
        self._what = f"positions {self.path}"
        self._db = connect(self.path, _SCHEMA, synchronous)

    def load(self, consumer: str) -> dict[str, int]:
        rows = query(
            self._db,
            self._what,
            "SELECT source, seq FROM consumer_positions WHERE consumer = ?",
            consumer,
        )
        return {str(source): int(seq) for source, seq in rows}

    def save(self, consumer: str, source: str, seq: int, gaps: Sequence[GapReport] = ()) -> None:
        with transaction(self._db, self._what) as db:
            db.execute(
                "INSERT INTO consumer_positions VALUES (?, ?, ?) "
                "ON CONFLICT (consumer, source) DO UPDATE SET seq = excluded.seq",
                (consumer, source, seq),
            )
            _insert_reports(db, gaps)

    def record(self, gaps: Sequence[GapReport]) -> None:
        with transaction(self._db, self._what) as db:
            _insert_reports(db, gaps)

    def gaps(self, consumer: str | None = None) -> list[GapReport]:
        return _select_gaps(self._db, self._what, consumer)

    def close(self) -> None:
        self._db.close()


def read_gap_reports(path: str | Path, consumer: str | None = None) -> list[GapReport]:
    """The gap reports in the positions file ``path``, read without changing it (a running
    service may be writing it); none when the file predates gap reports."""
    db = connect_read_only(path)
    try:
        tables = {
            row[0] for row in query(db, f"positions {path}", "SELECT name FROM sqlite_master")
        }
        return _select_gaps(db, f"positions {path}", consumer, tables)
    finally:
        db.close()


def _select_gaps(
    db: sqlite3.Connection,
    what: str,
    consumer: str | None,
    tables: Iterable[str] = ("consumer_gaps", "consumer_loss_windows"),
) -> list[GapReport]:
    """Both kinds of report, each in the order saved, merged by detection time."""
    where = "" if consumer is None else " WHERE consumer = ?"
    parameters = () if consumer is None else (consumer,)
    ranges: list[GapReport] = []
    windows: list[GapReport] = []
    if "consumer_gaps" in tables:
        rows = query(db, what, f"{_SELECT_GAPS}{where} ORDER BY rowid", *parameters)
        ranges = [_range_report(*row) for row in rows]
    if "consumer_loss_windows" in tables:
        rows = query(db, what, f"{_SELECT_WINDOWS}{where} ORDER BY rowid", *parameters)
        windows = [_window_report(*row) for row in rows]
    return list(heapq.merge(ranges, windows, key=lambda report: report.detected_at))


def _insert_reports(db: sqlite3.Connection, gaps: Sequence[GapReport]) -> None:
    ranges = [_gap_row(report) for report in gaps if report.seqs is not None]
    windows = [_window_row(report) for report in gaps if report.seqs is None]
    if ranges:
        db.executemany(_INSERT_GAP, ranges)
    if windows:
        db.executemany(_INSERT_WINDOW, windows)


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _gap_row(report: GapReport) -> tuple[object, ...]:
    return (
        report.consumer,
        report.source,
        report.first,
        report.last,
        report.reason,
        report.pattern,
        _instant(report.detected_at),
    )


def _window_row(report: GapReport) -> tuple[object, ...]:
    window = report.window
    assert window is not None
    return (
        report.consumer,
        report.source,
        _instant(window[0]),
        _instant(window[1]),
        report.reason,
        report.pattern,
        _instant(report.detected_at),
    )


def _range_report(*row: Any) -> GapReport:
    consumer, pattern, source, first, last, reason, detected = row
    return GapReport(
        consumer=str(consumer),
        pattern=str(pattern),
        source=str(source),
        first=int(first),
        last=int(last),
        reason=str(reason),
        detected_at=datetime.fromisoformat(str(detected)),
    )


def _window_report(*row: Any) -> GapReport:
    consumer, pattern, source, lost_from, lost_until, reason, detected = row
    return GapReport(
        consumer=str(consumer),
        pattern=str(pattern),
        source=str(source),
        first=None,
        last=None,
        reason=str(reason),
        detected_at=datetime.fromisoformat(str(detected)),
        lost_from=datetime.fromisoformat(str(lost_from)),
        lost_until=datetime.fromisoformat(str(lost_until)),
    )
