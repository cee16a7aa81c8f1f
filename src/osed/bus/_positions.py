"""Where a consumer keeps its place: per source, the last seq it delivered (or reported lost).

Given these positions, a restarted consumer neither delivers a message again nor skips one: it
expects ``position + 1`` from each source and asks for a replay of whatever it missed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from osed.bus._sqlite import Synchronous, connect, query, transaction


class PositionStore(Protocol):
    def load(self, consumer: str) -> dict[str, int]:
        """``{source: last delivered seq}`` of ``consumer`` (empty for a new consumer)."""
        ...

    def save(self, consumer: str, source: str, seq: int) -> None: ...

    def close(self) -> None: ...


class InMemoryPositions:
    def __init__(self) -> None:
        self._positions: dict[str, dict[str, int]] = {}

    def load(self, consumer: str) -> dict[str, int]:
        return dict(self._positions.get(consumer, {}))

    def save(self, consumer: str, source: str, seq: int) -> None:
        self._positions.setdefault(consumer, {})[source] = seq

    def close(self) -> None:
        pass


_SCHEMA = """
CREATE TABLE IF NOT EXISTS consumer_positions (
    consumer TEXT NOT NULL,
    source TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (consumer, source)
) WITHOUT ROWID;
"""


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

    def save(self, consumer: str, source: str, seq: int) -> None:
        with transaction(self._db, self._what) as db:
            db.execute(
                "INSERT INTO consumer_positions VALUES (?, ?, ?) "
                "ON CONFLICT (consumer, source) DO UPDATE SET seq = excluded.seq",
                (consumer, source, seq),
            )

    def close(self) -> None:
        self._db.close()
