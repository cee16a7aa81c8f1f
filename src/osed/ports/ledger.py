"""The ledger storage port: append-only, hash-chained, idempotent by message id.

Every backend stores, per entry, ``seq`` (1, 2, 3, … without gaps), the message id, the entry's
canonical bytes and ``chain_hash(previous hash, seq, message id, canonical bytes)``; a head
record ``(entry count, last hash)`` written in the same transaction; and the positions the
entries add up to. :func:`canonical_entries` is the input check every backend applies first.

Beside the ledger a store keeps the trace (every message an agent handled, in order) and
snapshots of an agent's state at a trace position, so that a restart replays only the trace
after the newest one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from operator import attrgetter
from typing import Protocol, Self, TypeVar, runtime_checkable

from osed.domain.cts.tenders import Side
from osed.domain.errors import Problem, ValidationError
from osed.domain.ledger import GENESIS_HASH, LedgerEntry, StoredEntry
from osed.domain.time import Interval

RawLedgerRow = tuple[int, bytes, bytes, bytes]
"""One ledger row exactly as stored: seq, UTF-8 message id, canonical entry bytes, hash."""

PACKED_SEPARATOR = b"\x1e"
"""Joins the message ids and the entries of :class:`PackedLedgerRows` (neither holds it when
valid: message ids and entry fields refuse control characters)."""


@dataclass(frozen=True, slots=True)
class PackedLedgerRows:
    """Ledger rows ``after_seq + 1 .. after_seq + expected`` packed column by column, in seq
    order: the message ids and the entries joined by :data:`PACKED_SEPARATOR`, the hashes
    back to back. ``rows`` counts the rows found in that range, ``well_typed`` those with a
    message id, an entry blob and a 32-byte hash blob. Rows come in seq order: were they not,
    no row's hash would match the seq it is checked at. A backend joins them in one
    query, which spares a reader the per-row cost of fetching rows one by one."""

    after_seq: int
    expected: int
    rows: int
    well_typed: int
    message_ids: bytes
    entries: bytes
    hashes: bytes


AppendBatch = Sequence[tuple[str, Sequence[LedgerEntry]]]
"""Messages to append in one transaction: ``(message id, entries)`` each."""

_INT64 = 2**63 - 1
_T = TypeVar("_T")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0 (with the separator), DEL, C1
_ID_FIELDS = frozenset({"transaction_id", "party"})
_TEXT_FIELDS = (
    "transaction_id",
    "tender_id",
    "party",
    "counter_party",
    "currency",
    "market_id",
)


class AppendResult:
    """What an append recorded; ``duplicate`` is true when the message id was seen before and
    the stored entries are returned instead of new ones.

    A store may hand over the entries as a function (:meth:`deferred`): most callers only look
    at ``duplicate``, and building a :class:`StoredEntry` for every appended entry is a large
    share of an append's Python work. The entries are built once, on first access.
    """

    __slots__ = ("_duplicate", "_entries")

    def __init__(self, entries: tuple[StoredEntry, ...], duplicate: bool) -> None:
        self._entries: tuple[StoredEntry, ...] | Callable[[], tuple[StoredEntry, ...]] = entries
        self._duplicate = duplicate

    @classmethod
    def deferred(cls, build: Callable[[], tuple[StoredEntry, ...]], duplicate: bool) -> Self:
        result = object.__new__(cls)  # one per appended message: no __init__ call
        result._entries = build
        result._duplicate = duplicate
        return result

    @property
    def entries(self) -> tuple[StoredEntry, ...]:
        entries = self._entries
        if not isinstance(entries, tuple):
            entries = self._entries = entries()
        return entries

    @property
    def duplicate(self) -> bool:
        return self._duplicate

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AppendResult):
            return NotImplemented
        return (self.duplicate, self.entries) == (other.duplicate, other.entries)

    def __hash__(self) -> int:
        return hash((self.entries, self.duplicate))

    def __repr__(self) -> str:
        return f"AppendResult(entries={self.entries!r}, duplicate={self.duplicate!r})"


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


@dataclass(frozen=True, slots=True)
class TraceCheck:
    """The trace's hash chain checked over rows ``after_seq + 1 ..``: ``last_seq`` is the last
    row read, ``damage`` what is wrong with the first row that breaks the chain (as
    :meth:`LedgerStore.traces` would refuse it), or None."""

    last_seq: int
    damage: str | None = None


@runtime_checkable
class TraceChainSource(Protocol):
    """A store that checks its trace's chain without building records (the verifier's path)."""

    def check_trace(self, *, after_seq: int = 0, up_to_seq: int | None = None) -> TraceCheck: ...


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """A stored snapshot: ``body`` is opaque to the store; ``checksum`` is what the store
    computed when it was saved (:func:`snapshot_checksum`)."""

    snapshot_id: int
    format: str
    trace_seq: int
    """The seq of the last trace row the snapshot covers."""
    taken_at: datetime
    body: bytes
    checksum: bytes

    @property
    def intact(self) -> bool:
        return snapshot_checksum(self.body) == self.checksum


def snapshot_checksum(body: bytes) -> bytes:
    return hashlib.sha256(body).digest()


@dataclass(frozen=True, slots=True)
class SnapshotChunk:
    """A piece of snapshot state stored once and shared by every snapshot that refers to it,
    named by its content (``digest`` = :func:`snapshot_checksum` of ``body``), so that a
    snapshot writes only the pieces that changed since the previous one."""

    digest: bytes
    body: bytes

    @classmethod
    def of(cls, body: bytes) -> SnapshotChunk:
        return cls(snapshot_checksum(body), body)


@dataclass(frozen=True, slots=True)
class LedgerHead:
    """The number of entries and the hash of the last one (GENESIS_HASH when empty).

    Kept by the store in the same transaction as the entries, so removing the last entries is
    evident; kept by someone else (an anchor), it also makes a rewrite of the whole file evident.
    """

    count: int
    last_hash: bytes = GENESIS_HASH

    def to_text(self) -> str:
        return f"{self.count}:{self.last_hash.hex()}"

    @classmethod
    def from_text(cls, text: str) -> LedgerHead:
        """Parse ``<count>:<hex hash>`` as printed by :meth:`to_text`."""
        count, _, digest = text.partition(":")
        try:
            head = cls(int(count), bytes.fromhex(digest))
        except ValueError as exc:
            raise ValidationError(
                [Problem("$.head", "bad_head", f"expected <count>:<64 hex digits>: {exc}")],
                subject="ledger head",
            ) from exc
        if head.count < 0 or len(head.last_hash) != len(GENESIS_HASH):
            raise ValidationError(
                [Problem("$.head", "bad_head", "expected <count>:<64 hex digits>")],
                subject="ledger head",
            )
        return head


class LedgerStore(Protocol):
    def append(self, message_id: str, entries: Sequence[LedgerEntry]) -> AppendResult:
        """Record ``entries`` and update positions in one atomic step, unless ``message_id``
        was recorded before, in which case nothing is written and the earlier result returns
        (the first recorded entries win, whatever the retry carries)."""
        ...

    def append_many(self, batch: AppendBatch) -> list[AppendResult]:
        """:meth:`append` for each message, all in one atomic step: on any error nothing of the
        batch is written. A message id repeated inside the batch is a duplicate of its first."""
        ...

    def entries(self, *, after_seq: int = 0) -> Iterator[StoredEntry]: ...

    def message_seqs(self, message_ids: Iterable[str]) -> dict[str, int]:
        """The seq of the first entry of each of ``message_ids`` that is recorded."""
        ...

    def count(self) -> int: ...

    def head(self) -> LedgerHead:
        """The head record as stored (not recomputed)."""
        ...

    def raw_rows(
        self, *, after_seq: int | None = None, up_to_seq: int | None = None
    ) -> Iterator[RawLedgerRow]:
        """Ledger rows in ``seq`` order, undecoded, for verification: those after ``after_seq``
        up to ``up_to_seq``; without ``after_seq`` also any row whose seq is below 1."""
        ...

    def positions(self, party: str, within: Interval | None = None) -> list[PositionRow]:
        """The party's positions, by interval; with ``within``, only intervals overlapping it."""
        ...

    def all_positions(self) -> list[PositionRow]: ...

    def trace(self, message_id: str, kind: str, received_at: datetime, body: str) -> None:
        """Record any message, including tenders that never cleared. A backend may buffer
        trace records; they are durable at the latest with the next append, ``flush`` or
        ``close``."""
        ...

    def flush(self) -> None:
        """Make buffered trace records durable."""
        ...

    def traces(self, *, after_seq: int = 0) -> Iterator[TraceRecord]:
        """Trace records in ``seq`` order, those after ``after_seq``; buffered ones are made
        durable first."""
        ...

    def save_snapshot(
        self,
        format: str,
        body: bytes,
        *,
        taken_at: datetime,
        keep: int = 2,
        chunks: Sequence[SnapshotChunk] = (),
    ) -> int:
        """Store a snapshot of state that reflects every trace record so far, and return its
        trace position: buffered trace records are written in the same transaction, and the
        position is the seq of the last one (0 without any). Of the snapshots of ``format``
        only the ``keep`` newest remain. ``chunks`` are the pieces the snapshot refers to: the
        store writes those it does not have, in the same transaction, and keeps each as long
        as a kept snapshot refers to it."""
        ...

    def snapshot_chunks(self, digests: Iterable[bytes]) -> dict[bytes, bytes]:
        """The bodies of the stored chunks among ``digests``, by digest; a chunk the store
        does not have is left out."""
        ...

    def snapshots(self, format: str) -> Iterator[SnapshotRecord]:
        """The snapshots of ``format``, newest (highest trace position) first, each body read
        only when its record is reached."""
        ...

    def close(self) -> None: ...


def check_id(value: str, path: str, problems: list[Problem], *, required: bool = True) -> None:
    """Text that goes into the canonical form must be valid Unicode without control characters
    (which include the field separator); an id must also be non-empty."""
    if not isinstance(value, str):
        problems.append(Problem(path, "not_text", "must be text"))
    elif not value:
        if required:
            problems.append(Problem(path, "empty_id", "must not be empty"))
    elif _CONTROL_CHARACTERS.search(value):
        problems.append(Problem(path, "control_character", "must not contain control characters"))
    elif not value.isprintable() and _has_surrogate(value):
        problems.append(Problem(path, "not_unicode", "must be valid Unicode text"))


def canonical_entries(message_id: str, entries: Sequence[LedgerEntry]) -> list[bytes]:
    """Check one message for appending and return each entry's canonical bytes.

    Raises :class:`ValidationError` naming every problem; nothing must be written then.
    """
    problems: list[Problem] = []
    check_id(message_id, "$.messageId", problems)
    result: list[bytes] = []
    for index, entry in enumerate(entries):
        data = _fast_canonical(entry)
        if data is None:
            found = len(problems)
            _entry_problems(entry, f"$.entries[{index}]", problems)
            if len(problems) == found:  # printable-or-not text that is nonetheless allowed
                data = entry.canonical()
        if data is not None:
            result.append(data)
    if problems:
        raise ValidationError(problems, subject=f"ledger message {message_id!r}")
    return result


CHECK_AS_A_WHOLE_FROM = 32
"""The fewest entries a batch is checked as a whole for (a single clearing message has a few)."""


@dataclass(frozen=True, slots=True)
class CheckedBatch:
    """A batch that passed the input check, laid out flat for the write: the messages' ids and
    entry counts, and every entry of the batch with its canonical bytes, in batch order."""

    message_ids: list[str]
    counts: list[int]
    entries: list[LedgerEntry]
    canonical: list[bytes]


def checked_batch(batch: AppendBatch) -> CheckedBatch:
    """:func:`canonical_entries` of every message of ``batch``: the same bytes, and the same
    :class:`ValidationError` for the first message that has a problem.

    A batch of plainly valid messages, the usual case, is checked as a whole, each condition
    one pass over all its entries in C (``map``, ``join``, ``set``) rather than a Python call
    per entry; any doubt sends the batch message by message through :func:`canonical_entries`,
    which decides and names every problem. So does a batch of fewer than
    :data:`CHECK_AS_A_WHOLE_FROM` entries, for which the passes' fixed cost outweighs their gain.
    """
    message_ids = [message_id for message_id, _ in batch]
    groups = [entries for _, entries in batch]
    try:
        counts = list(map(len, groups))
        entries: list[LedgerEntry] = list(chain.from_iterable(groups))
        plain = len(entries) >= CHECK_AS_A_WHOLE_FROM and _plainly_valid(message_ids, entries)
    except TypeError:
        plain = False  # not sequences of entries: the check per message says so
    if plain:
        return CheckedBatch(message_ids, counts, entries, list(map(LedgerEntry.canonical, entries)))
    per_message = list(map(canonical_entries, message_ids, groups))
    return CheckedBatch(
        message_ids,
        list(map(len, per_message)),
        list(chain.from_iterable(groups)),
        list(chain.from_iterable(per_message)),
    )


_TEXTS_OF = attrgetter(*_TEXT_FIELDS)
_INTEGERS_OF = attrgetter("price", "price_scale", "quantity", "quantity_scale")
_TRANSACTION_ID_OF = attrgetter("transaction_id")
_PARTY_OF = attrgetter("party")
_QUANTITY_OF = attrgetter("quantity")
_SIDE_OF = attrgetter("side")
_INTERVAL_OF = attrgetter("interval")
_COMMITTED_AT_OF = attrgetter("committed_at")


def _plainly_valid(message_ids: list[str], entries: list[LedgerEntry]) -> bool:
    """What :func:`_fast_canonical` accepts, for a whole batch at once (and only
    :class:`LedgerEntry` objects). False sends the batch to the check per message.

    ``isprintable`` of all text joined excludes every control character (so the separator)
    and every surrogate at once; the join also fails on anything that is not text.
    """
    try:
        if not (all(message_ids) and "".join(message_ids).isprintable()):
            return False
        if not entries:
            return True
        integers = list(chain.from_iterable(map(_INTEGERS_OF, entries)))
        return (
            set(map(type, entries)) == {LedgerEntry}
            and all(map(_TRANSACTION_ID_OF, entries))
            and all(map(_PARTY_OF, entries))
            and "".join(chain.from_iterable(map(_TEXTS_OF, entries))).isprintable()
            and set(map(type, integers)) == {int}
            and max(map(abs, integers)) <= _INT64
            and min(map(_QUANTITY_OF, entries)) >= 0
            and set(map(type, map(_SIDE_OF, entries))) == {Side}
            and all(
                instant.utcoffset() is not None
                for instant in _distinct(map(_COMMITTED_AT_OF, entries))
            )
            and not any(
                interval.duration.microseconds for interval in _distinct(map(_INTERVAL_OF, entries))
            )
        )
    except (AttributeError, TypeError, ValueError):
        return False


def _distinct(values: Iterable[_T]) -> Iterable[_T]:
    """Each distinct object once, by identity: entries of one clearing share their interval
    and commit time, and an identity lookup calls no ``__hash__``."""
    listed = list(values)
    return dict(zip(map(id, listed), listed, strict=True)).values()


def checked_snapshot(
    format: str,
    body: bytes,
    taken_at: datetime,
    keep: int,
    chunks: Sequence[SnapshotChunk] = (),
) -> datetime:
    """Check the arguments of ``save_snapshot``; returns ``taken_at`` in UTC. A chunk's digest
    is checked by :func:`checked_chunk` when the store writes it."""
    problems: list[Problem] = []
    check_id(format, "$.format", problems)
    if not isinstance(body, bytes):
        problems.append(Problem("$.body", "not_bytes", "must be bytes"))
    for index, chunk in enumerate(chunks):
        if not isinstance(chunk, SnapshotChunk) or not isinstance(chunk.body, bytes):
            problems.append(Problem(f"$.chunks[{index}]", "not_a_chunk", "must be a chunk"))
    if type(keep) is not int or keep < 1:
        problems.append(Problem("$.keep", "not_positive", "must be an integer >= 1"))
    if not isinstance(taken_at, datetime) or taken_at.utcoffset() is None:
        problems.append(Problem("$.takenAt", "naive_datetime", "needs a timezone"))
    if problems:
        raise ValidationError(problems, subject="snapshot")
    return taken_at.astimezone(UTC)


def checked_chunk(chunk: SnapshotChunk) -> SnapshotChunk:
    """A chunk about to be written: its digest must name its body."""
    if snapshot_checksum(chunk.body) != chunk.digest:
        problem = Problem("$.chunks", "wrong_digest", "a digest must be the SHA-256 of its body")
        raise ValidationError([problem], subject="snapshot")
    return chunk


def _fast_canonical(entry: LedgerEntry) -> bytes | None:
    """The canonical bytes of a plainly valid entry, else None (then the slow path decides).

    This is the hot path of every append, so it makes as few calls as it can: ``isprintable``
    of the text fields joined excludes every control character in any of them (so the
    separator) and every surrogate at once; the join also fails on anything that is not text.
    """
    try:
        price, price_scale = entry.price, entry.price_scale
        quantity, quantity_scale = entry.quantity, entry.quantity_scale
        plainly_valid = (
            entry.transaction_id != ""
            and entry.party != ""
            and (
                entry.transaction_id
                + entry.tender_id
                + entry.party
                + entry.counter_party
                + entry.currency
                + entry.market_id
            ).isprintable()
            and entry.committed_at.utcoffset() is not None
            and not entry.interval.duration.microseconds
            and isinstance(entry.side, Side)
            and type(price) is int
            and type(price_scale) is int
            and type(quantity) is int
            and type(quantity_scale) is int
            and -_INT64 <= price <= _INT64
            and -_INT64 <= price_scale <= _INT64
            and 0 <= quantity <= _INT64
            and -_INT64 <= quantity_scale <= _INT64
        )
        return entry.canonical() if plainly_valid else None
    except (AttributeError, TypeError, ValueError):
        return None


def _entry_problems(entry: LedgerEntry, path: str, problems: list[Problem]) -> None:
    """The slow path: say exactly what is wrong with one entry."""
    if not isinstance(entry, LedgerEntry):
        problems.append(Problem(path, "not_an_entry", "must be a LedgerEntry"))
        return
    for name in _TEXT_FIELDS:
        check_id(getattr(entry, name), f"{path}.{name}", problems, required=name in _ID_FIELDS)
    for name in ("price", "price_scale", "quantity", "quantity_scale"):
        value = getattr(entry, name)
        if type(value) is not int or not -_INT64 <= value <= _INT64:
            problems.append(Problem(f"{path}.{name}", "not_int64", "must be a 64-bit integer"))
        elif name == "quantity" and value < 0:
            problems.append(
                Problem(f"{path}.quantity", "negative", "must not be negative; side gives the sign")
            )
    if not isinstance(entry.side, Side):
        problems.append(Problem(f"{path}.side", "bad_side", "must be BUY or SELL"))
    if not isinstance(entry.committed_at, datetime) or entry.committed_at.utcoffset() is None:
        problems.append(Problem(f"{path}.committed_at", "naive_datetime", "needs a timezone"))
    if not isinstance(entry.interval, Interval):
        problems.append(Problem(f"{path}.interval", "not_interval", "must be an Interval"))
    elif entry.interval.duration.microseconds:
        problems.append(
            Problem(f"{path}.interval", "fractional_seconds", "duration must be whole seconds")
        )


def _has_surrogate(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return True
    return False
