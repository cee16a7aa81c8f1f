"""The outbox: every envelope a publisher sends, written before it is sent.

Brokers lose acknowledged messages on kill -9, so the publisher's own outbox is what a replay
is served from. Two implementations: :class:`InMemoryOutbox` (one process, tests, benchmarks:
gone with the process, so a source using it must not restart under the same name) and
:class:`SqliteOutbox` (survives a crash of the broker and of the publisher; resumes its seq).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from osed.bus._sqlite import Synchronous, connect, query, transaction
from osed.codec.envelope import decode_envelope, encode_envelope
from osed.domain.envelope import Envelope
from osed.domain.errors import ConflictError, IntegrityError, ValidationError
from osed.domain.time import require_aware


class Outbox(Protocol):
    """The envelopes of one source, by seq."""

    def last_seq(self) -> int:
        """The highest seq ever appended (0 before the first); trimming does not lower it."""
        ...

    def first_seq(self) -> int:
        """The lowest seq still held; ``last_seq() + 1`` when nothing is held."""
        ...

    def append(self, envelopes: Sequence[Envelope], written_at: datetime) -> None:
        """Store ``envelopes`` durably, atomically; their seqs continue ``last_seq()``
        without a gap (ConflictError otherwise)."""
        ...

    def read(self, first: int, last: int) -> list[Envelope]:
        """The held envelopes with ``first <= seq <= last``, in seq order."""
        ...

    def trim_through(self, seq: int) -> None:
        """Forget every envelope with a seq up to ``seq``."""
        ...

    def last_written_before(self, instant: datetime) -> int:
        """The highest held seq written before ``instant`` (0 when none)."""
        ...

    def close(self) -> None: ...


def check_continues(last_seq: int, envelopes: Sequence[Envelope]) -> None:
    for offset, envelope in enumerate(envelopes, start=1):
        if envelope.seq != last_seq + offset:
            raise ConflictError(
                f"outbox holds seq {last_seq}; {envelope.source}#{envelope.seq} would leave a gap"
            )


class InMemoryOutbox:
    """An outbox in a list; ``seq`` k sits at index ``k - first_seq``."""

    def __init__(self) -> None:
        self._first = 1
        self._envelopes: list[Envelope] = []
        self._written_at: list[datetime] = []

    def last_seq(self) -> int:
        return self._first + len(self._envelopes) - 1

    def first_seq(self) -> int:
        return self._first

    def append(self, envelopes: Sequence[Envelope], written_at: datetime) -> None:
        last = self._first + len(self._envelopes) - 1
        if len(envelopes) == 1 and envelopes[0].seq == last + 1:  # the hot path
            self._envelopes.append(envelopes[0])
            self._written_at.append(written_at)
            return
        check_continues(last, envelopes)
        self._envelopes.extend(envelopes)
        self._written_at.extend([written_at] * len(envelopes))

    def read(self, first: int, last: int) -> list[Envelope]:
        low = max(first, self._first) - self._first
        high = min(last, self.last_seq()) - self._first + 1
        return self._envelopes[low:high] if low < high else []

    def trim_through(self, seq: int) -> None:
        count = min(seq - self._first + 1, len(self._envelopes))
        if count > 0:
            del self._envelopes[:count]
            del self._written_at[:count]
            self._first += count

    def last_written_before(self, instant: datetime) -> int:
        # Written times only grow, so a binary search finds the boundary.
        low, high = 0, len(self._written_at)
        while low < high:
            middle = (low + high) // 2
            if self._written_at[middle] < instant:
                low = middle + 1
            else:
                high = middle
        return self._first + low - 1 if low else 0

    def close(self) -> None:
        pass


_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    source TEXT NOT NULL,
    seq INTEGER NOT NULL,
    written_at_us INTEGER NOT NULL,
    frame BLOB NOT NULL,
    PRIMARY KEY (source, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox_head (
    source TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL
);
"""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(instant: datetime) -> int:
    delta = require_aware(instant) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class SqliteOutbox:
    """The outbox of ``source`` in a SQLite file (several sources may share one file).

    Each append is one transaction; with ``synchronous="FULL"`` (default) a returned append is
    on disk and survives a power cut, with ``"NORMAL"`` it survives a process kill.
    """

    def __init__(self, path: str | Path, source: str, *, synchronous: Synchronous = "FULL") -> None:
        self.path = Path(path)
        self.source = source
        self._what = f"outbox {self.path} of {source!r}"
        self._db = connect(self.path, _SCHEMA, synchronous)
        rows = query(
            self._db, self._what, "SELECT last_seq FROM outbox_head WHERE source = ?", source
        )
        self._last = int(rows[0][0]) if rows else 0

    def last_seq(self) -> int:
        return self._last

    def first_seq(self) -> int:
        rows = query(
            self._db, self._what, "SELECT min(seq) FROM outbox WHERE source = ?", self.source
        )
        low = rows[0][0]
        return int(low) if isinstance(low, int) else self._last + 1

    def append(self, envelopes: Sequence[Envelope], written_at: datetime) -> None:
        check_continues(self._last, envelopes)
        if not envelopes:
            return
        for envelope in envelopes:
            if envelope.source != self.source:
                raise ConflictError(f"{self._what} cannot hold {envelope.source!r}")
        at = _micros(written_at)
        rows = [(self.source, e.seq, at, encode_envelope(e)) for e in envelopes]
        last = envelopes[-1].seq
        with transaction(self._db, self._what) as db:
            db.executemany("INSERT INTO outbox VALUES (?, ?, ?, ?)", rows)
            db.execute(
                "INSERT INTO outbox_head VALUES (?, ?) "
                "ON CONFLICT (source) DO UPDATE SET last_seq = excluded.last_seq",
                (self.source, last),
            )
        self._last = last

    def read(self, first: int, last: int) -> list[Envelope]:
        rows = query(
            self._db,
            self._what,
            "SELECT seq, frame FROM outbox WHERE source = ? AND seq BETWEEN ? AND ? ORDER BY seq",
            self.source,
            first,
            last,
        )
        envelopes = []
        for seq, frame in rows:
            try:
                envelopes.append(decode_envelope(bytes(frame)))
            except ValidationError as exc:
                raise IntegrityError(f"{self._what}: seq {seq} does not decode: {exc}") from exc
        return envelopes

    def trim_through(self, seq: int) -> None:
        with transaction(self._db, self._what) as db:
            db.execute("DELETE FROM outbox WHERE source = ? AND seq <= ?", (self.source, seq))

    def last_written_before(self, instant: datetime) -> int:
        rows = query(
            self._db,
            self._what,
            "SELECT max(seq) FROM outbox WHERE source = ? AND written_at_us < ?",
            self.source,
            _micros(instant),
        )
        high = rows[0][0]
        return int(high) if isinstance(high, int) else 0

    def close(self) -> None:
        self._db.close()
