"""What one ledger batch writes: its rows with their hash chain, its messages, and the net
position changes, computed before any of it is sent to the database. Shared by every ledger
backend; each says how it stores an interval (``interval_key``)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from functools import partial
from typing import Generic, TypeVar

from osed.domain.cts.tenders import Side
from osed.domain.errors import IntegrityError, ValidationError
from osed.domain.ledger import LedgerEntry, StoredEntry
from osed.domain.time import Interval
from osed.ports.ledger import AppendBatch, AppendResult, LedgerHead

StoredRow = tuple[int, str, bytes, bytes]  # seq, message id, canonical entry, hash

StartKey = TypeVar("StartKey")
_sha256 = hashlib.sha256


class LedgerBatchPlan(Generic[StartKey]):
    """Chains entries onto ``head``; ``add`` each new message, then write the attributes.

    ``interval_key`` maps an interval to the (start, seconds) its backend stores.
    """

    def __init__(
        self, head: LedgerHead, interval_key: Callable[[Interval], tuple[StartKey, int]]
    ) -> None:
        self.seq = head.count
        self.last_hash = head.last_hash
        self.rows: list[tuple[int, str, bytes, bytes]] = []
        self.messages: list[tuple[str, int, int]] = []
        # Each appended message: where its rows start in ``rows``, and its entries.
        self.appended: dict[str, tuple[int, tuple[LedgerEntry, ...]]] = {}
        self._deltas: dict[tuple[str, StartKey, int, int], int] = {}
        self._interval_key = interval_key
        self._interval_keys: dict[int, tuple[StartKey, int]] = {}

    def add(self, message_id: str, entries: Sequence[LedgerEntry], blobs: list[bytes]) -> None:
        self.messages.append((message_id, self.seq + 1, len(blobs)))
        id_and_separator = message_id.encode() + b"\x00"
        seq, last_hash = self.seq, self.last_hash
        rows, deltas, interval_keys = self.rows, self._deltas, self._interval_keys
        self.appended[message_id] = (len(rows), tuple(entries))
        buy = Side.BUY
        for entry, blob in zip(entries, blobs, strict=True):
            seq += 1
            # chain_hash(last_hash, seq, message_id, blob) in one call, as this is the hot
            # loop; a test pins the two to the same result.
            last_hash = _sha256(
                b"".join((last_hash, seq.to_bytes(8, "big"), id_and_separator, blob))
            ).digest()
            rows.append((seq, message_id, blob, last_hash))
            # By identity: entries of one clearing share their Interval object, and an id
            # lookup spares the dataclass __hash__ call. The plan holds the entries, so an id
            # is never reused while it is cached.
            interval = entry.interval
            start_and_seconds = interval_keys.get(id(interval))
            if start_and_seconds is None:
                start_and_seconds = interval_keys[id(interval)] = self._interval_key(interval)
            key = (entry.party, *start_and_seconds, entry.quantity_scale)
            quantity = entry.quantity if entry.side is buy else -entry.quantity
            deltas[key] = deltas.get(key, 0) + quantity
        self.seq, self.last_hash = seq, last_hash

    def position_rows(self) -> list[tuple[str, StartKey, int, int, int]]:
        return [(*key, quantity) for key, quantity in self._deltas.items()]

    def results(
        self,
        batch: AppendBatch,
        known: dict[str, tuple[int, int]],
        stored_range: Callable[[int, int], tuple[StoredEntry, ...]],
    ) -> list[AppendResult]:
        """One result per message of ``batch``, in order: new for the first occurrence of a
        message this plan appended, a duplicate otherwise (answered with the stored entries:
        ``known`` maps a recorded message id to its first seq and entry count)."""
        results = []
        unanswered = set(self.appended)  # a repeat later in this batch is a duplicate
        recorded: dict[str, tuple[StoredEntry, ...]] = {}
        for message_id, _ in batch:
            if message_id in unanswered:
                unanswered.discard(message_id)
                build = partial(self._stored, *self.appended[message_id])
                results.append(AppendResult.deferred(build, duplicate=False))
                continue
            if message_id not in recorded:
                if message_id in self.appended:
                    recorded[message_id] = self._stored(*self.appended[message_id])
                else:
                    recorded[message_id] = stored_range(*known[message_id])
            results.append(AppendResult(recorded[message_id], duplicate=True))
        return results

    def _stored(self, start: int, entries: tuple[LedgerEntry, ...]) -> tuple[StoredEntry, ...]:
        """The stored form of one appended message, built only when a caller asks for it."""
        rows = self.rows[start : start + len(entries)]
        return tuple(
            StoredEntry(seq, message_id, entry, digest)
            for (seq, message_id, _, digest), entry in zip(rows, entries, strict=True)
        )


def stored_entries(
    rows: Sequence[StoredRow], first_seq: int, count: int
) -> tuple[StoredEntry, ...]:
    """The entries of one recorded message, read back; a missing or undecodable one is an
    integrity failure, never a silent short answer."""
    if len(rows) != count:
        raise IntegrityError(f"entries {first_seq}.. of a recorded message are missing")
    return tuple(
        StoredEntry(seq, message_id, decoded_entry(seq, blob), digest)
        for seq, message_id, blob, digest in rows
    )


def decoded_entry(seq: int, blob: bytes) -> LedgerEntry:
    try:
        return LedgerEntry.from_canonical(blob)
    except ValidationError as exc:
        raise IntegrityError(f"ledger entry {seq} does not decode: {exc}") from exc
