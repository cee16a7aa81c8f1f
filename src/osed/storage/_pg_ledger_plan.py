"""What one ledger batch writes: its rows with their hash chain, its messages, and the net
position changes, computed before any of it is sent to the database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from osed.domain.cts.tenders import Side
from osed.domain.ledger import LedgerEntry, StoredEntry, chain_hash
from osed.ports.ledger import LedgerHead

PositionKey = tuple[str, datetime, int, int]  # party, interval start, seconds, quantity scale
_SECOND = timedelta(seconds=1)


class LedgerBatchPlan:
    """Chains entries onto ``head``; ``add`` each new message, then write the attributes."""

    def __init__(self, head: LedgerHead) -> None:
        self.seq = head.count
        self.last_hash = head.last_hash
        self.rows: list[tuple[int, str, bytes, bytes]] = []
        self.messages: list[tuple[str, int, int]] = []
        self.appended: dict[str, tuple[StoredEntry, ...]] = {}
        self._deltas: dict[PositionKey, int] = {}

    def add(self, message_id: str, entries: Sequence[LedgerEntry], blobs: list[bytes]) -> None:
        self.messages.append((message_id, self.seq + 1, len(blobs)))
        seq, last_hash = self.seq, self.last_hash
        stored = []
        for entry, blob in zip(entries, blobs, strict=True):
            seq += 1
            last_hash = chain_hash(last_hash, seq, message_id, blob)
            self.rows.append((seq, message_id, blob, last_hash))
            stored.append(StoredEntry(seq, message_id, entry, last_hash))
            interval = entry.interval
            key = (entry.party, interval.start, interval.duration // _SECOND, entry.quantity_scale)
            quantity = entry.quantity if entry.side is Side.BUY else -entry.quantity
            self._deltas[key] = self._deltas.get(key, 0) + quantity
        self.seq, self.last_hash = seq, last_hash
        self.appended[message_id] = tuple(stored)

    def position_rows(self) -> list[tuple[str, datetime, int, int, int]]:
        return [(*key, quantity) for key, quantity in self._deltas.items()]
