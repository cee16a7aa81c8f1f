"""The ledger storage port: append-only, hash-chained, idempotent by message id."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from osed.domain.ledger import LedgerEntry, StoredEntry
from osed.domain.time import Interval


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append recorded; ``duplicate`` is true when the message id was seen before and
    the stored entries are returned instead of new ones."""

    entries: tuple[StoredEntry, ...]
    duplicate: bool


@dataclass(frozen=True, slots=True)
class PositionRow:
    party: str
    interval: Interval
    quantity: int
    quantity_scale: int


@dataclass(frozen=True, slots=True)
class TraceRecord:
    seq: int
    message_id: str
    kind: str
    received_at: datetime
    body: str


class LedgerStore(Protocol):
    def append(self, message_id: str, entries: Sequence[LedgerEntry]) -> AppendResult:
        """Record ``entries`` and update positions in one atomic step, unless ``message_id``
        was recorded before, in which case nothing is written and the earlier result returns."""
        ...

    def entries(self, *, after_seq: int = 0) -> Iterator[StoredEntry]: ...

    def count(self) -> int: ...

    def positions(self, party: str, within: Interval | None = None) -> list[PositionRow]: ...

    def all_positions(self) -> list[PositionRow]: ...

    def trace(self, message_id: str, kind: str, received_at: datetime, body: str) -> None:
        """Record any message, including tenders that never cleared."""
        ...

    def traces(self) -> Iterator[TraceRecord]: ...

    def close(self) -> None: ...
