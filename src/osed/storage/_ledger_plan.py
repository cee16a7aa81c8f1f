"""What one ledger batch writes: its rows with their hash chain, its messages, and the net
position changes, computed before any of it is sent to the database. Shared by every ledger
backend; each says how it stores an interval (``interval_key``)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Container, Mapping, Sequence
from functools import partial
from itertools import accumulate, chain, islice, repeat
from operator import add, attrgetter, mul
from typing import Generic, TypeVar

from osed.domain.cts.tenders import Side
from osed.domain.errors import IntegrityError, ValidationError
from osed.domain.ledger import LedgerEntry, StoredEntry
from osed.domain.time import Interval
from osed.ports.ledger import AppendResult, CheckedBatch, LedgerHead

StoredRow = tuple[int, str, bytes, bytes]  # seq, message id, canonical entry, hash

StartKey = TypeVar("StartKey")
_sha256 = hashlib.sha256
_PARTY_OF = attrgetter("party")
_INTERVAL_OF = attrgetter("interval")
_QUANTITY_SCALE_OF = attrgetter("quantity_scale")
_QUANTITY_OF = attrgetter("quantity")
_SIDE_OF = attrgetter("side")
_SIGN = {Side.BUY: 1, Side.SELL: -1}
PASSES_FROM = 32
"""The fewest entries for which position changes are summed by C-level passes."""


class LedgerBatchPlan(Generic[StartKey]):
    """The rows, messages and position changes that a checked batch appends onto ``head``.

    A message is appended if it is not among the ``known`` (recorded) ids and not repeated
    from earlier in the batch. ``interval_key`` maps an interval to the (start, seconds) its
    backend stores. The work per entry is done by C-level ``map``/``zip`` passes over the
    batch where it can be; only the hash chain and the sum of position changes are a Python
    loop.
    """

    def __init__(
        self,
        head: LedgerHead,
        interval_key: Callable[[Interval], tuple[StartKey, int]],
        checked: CheckedBatch,
        known: Container[str],
    ) -> None:
        message_ids, counts, entries, blobs = _new_messages(checked, known)
        first_seq = head.count + 1
        seqs = range(first_seq, first_seq + len(entries))
        hashes = _chain_hashes(head.last_hash, first_seq, message_ids, counts, blobs)
        self.seq = head.count + len(entries)
        self.last_hash = hashes[-1] if hashes else head.last_hash
        entry_message_ids = chain.from_iterable(map(repeat, message_ids, counts))
        self.rows: list[StoredRow] = list(zip(seqs, entry_message_ids, blobs, hashes, strict=True))
        self.entries = entries  # beside ``rows``, for the results
        # Where each appended message's rows start in ``rows``, and its first seq.
        starts = list(accumulate(counts, initial=0))[:-1]
        firsts = map(add, starts, repeat(first_seq))
        self.messages: list[tuple[str, int, int]] = list(
            zip(message_ids, firsts, counts, strict=True)
        )
        self.appended: dict[str, tuple[int, int]] = dict(
            zip(message_ids, zip(starts, counts, strict=True), strict=True)
        )
        self._starts_and_counts = (starts, counts)
        self._positions = _position_rows(entries, interval_key)

    def position_rows(self) -> list[tuple[str, StartKey, int, int, int]]:
        """One row per (party, interval start, seconds, quantity scale) with its net change."""
        return self._positions

    def results(
        self,
        batch_ids: Sequence[str],
        known: Mapping[str, tuple[int, int]],
        stored_range: Callable[[int, int], tuple[StoredEntry, ...]],
    ) -> list[AppendResult]:
        """One result per message of the batch (``batch_ids``, in order): new for the first
        occurrence of a message this plan appended, a duplicate otherwise (answered with the
        stored entries: ``known`` maps a recorded message id to its first seq and entry
        count)."""
        if len(self.appended) == len(batch_ids):  # every message new, in batch order: usual
            builders = map(partial, repeat(self._stored), *self._starts_and_counts)
            return list(map(AppendResult.deferred, builders, repeat(False)))
        results = []
        unanswered = set(self.appended)  # a repeat later in this batch is a duplicate
        recorded: dict[str, tuple[StoredEntry, ...]] = {}
        for message_id in batch_ids:
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

    def _stored(self, start: int, count: int) -> tuple[StoredEntry, ...]:
        """The stored form of one appended message, built only when a caller asks for it."""
        end = start + count
        return tuple(
            StoredEntry(seq, message_id, entry, digest)
            for (seq, message_id, _, digest), entry in zip(
                self.rows[start:end], self.entries[start:end], strict=True
            )
        )


def _chain_hashes(
    last_hash: bytes, first_seq: int, message_ids: list[str], counts: list[int], blobs: list[bytes]
) -> list[bytes]:
    """Each entry's ``chain_hash(previous, seq, message id, entry)``, chained onto
    ``last_hash``, in one call per entry (a test pins the two to the same result)."""
    hashes: list[bytes] = []
    append, sha256, join = hashes.append, _sha256, b"".join
    seq = first_seq
    remaining = iter(blobs)
    for message_id, count in zip(message_ids, counts, strict=True):
        id_and_separator = message_id.encode() + b"\x00"
        for blob in islice(remaining, count):
            last_hash = sha256(join((last_hash, seq.to_bytes(8), id_and_separator, blob))).digest()
            append(last_hash)
            seq += 1
    return hashes


def _new_messages(
    checked: CheckedBatch, known: Container[str]
) -> tuple[list[str], list[int], list[LedgerEntry], list[bytes]]:
    """The ids, entry counts, entries and canonical bytes of the messages to append: each id
    once, unless it is recorded already."""
    ids = checked.message_ids
    if len(set(ids)) == len(ids) and not any(map(known.__contains__, ids)):
        return ids, checked.counts, checked.entries, checked.canonical
    message_ids: list[str] = []
    counts: list[int] = []
    entries: list[LedgerEntry] = []
    blobs: list[bytes] = []
    seen: set[str] = set()
    start = 0
    for message_id, count in zip(ids, checked.counts, strict=True):
        if message_id not in known and message_id not in seen:
            seen.add(message_id)
            message_ids.append(message_id)
            counts.append(count)
            entries += checked.entries[start : start + count]
            blobs += checked.canonical[start : start + count]
        start += count
    return message_ids, counts, entries, blobs


def _position_rows(
    entries: list[LedgerEntry], interval_key: Callable[[Interval], tuple[StartKey, int]]
) -> list[tuple[str, StartKey, int, int, int]]:
    """The net position change of every (party, stored interval, quantity scale): buys add,
    sales subtract. Intervals are looked up by identity (entries of one clearing share their
    Interval object; ``entries`` keeps each alive), which spares a dataclass ``__hash__`` per
    entry; equal intervals that are distinct objects still meet in one key.

    The keys and changes are built by C-level passes over all entries; a batch of fewer than
    :data:`PASSES_FROM` entries (a single clearing message, say) takes the plain loop of
    :func:`_position_rows_by_loop` instead, for which the passes' fixed cost outweighs their
    gain. A test checks that both give the same rows."""
    if len(entries) < PASSES_FROM:
        return _position_rows_by_loop(entries, interval_key)
    intervals = list(map(_INTERVAL_OF, entries))
    distinct = dict(zip(map(id, intervals), intervals, strict=True))
    stored = dict(zip(distinct, map(interval_key, distinct.values()), strict=True))
    keys = zip(
        map(_PARTY_OF, entries),
        map(stored.__getitem__, map(id, intervals)),
        map(_QUANTITY_SCALE_OF, entries),
        strict=True,
    )
    changes = map(mul, map(_QUANTITY_OF, entries), map(_SIGN.__getitem__, map(_SIDE_OF, entries)))
    deltas: dict[tuple[str, tuple[StartKey, int], int], int] = {}
    get = deltas.get
    for key, change in zip(keys, changes, strict=True):
        deltas[key] = get(key, 0) + change
    return [
        (party, start, seconds, scale, quantity)
        for (party, (start, seconds), scale), quantity in deltas.items()
    ]


def _position_rows_by_loop(
    entries: list[LedgerEntry], interval_key: Callable[[Interval], tuple[StartKey, int]]
) -> list[tuple[str, StartKey, int, int, int]]:
    """:func:`_position_rows`, one entry after the other."""
    stored: dict[int, tuple[StartKey, int]] = {}
    deltas: dict[tuple[str, StartKey, int, int], int] = {}
    buy = Side.BUY
    for entry in entries:
        interval = entry.interval
        start_and_seconds = stored.get(id(interval))
        if start_and_seconds is None:
            start_and_seconds = stored[id(interval)] = interval_key(interval)
        key = (entry.party, *start_and_seconds, entry.quantity_scale)
        quantity = entry.quantity if entry.side is buy else -entry.quantity
        deltas[key] = deltas.get(key, 0) + quantity
    return [(*key, quantity) for key, quantity in deltas.items()]


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
