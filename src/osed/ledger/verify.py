"""Ledger verification: recompute the hash chain over raw rows and name the first bad entry.

Each row must satisfy ``hash_seq = SHA-256(hash_{seq-1} ‖ seq (8 bytes, big-endian) ‖
message id ‖ 0x00 ‖ entry bytes)`` with ``hash_0 = GENESIS_HASH`` and seq running 1, 2, 3, …
without gaps up to the head record's count, whose hash must equal the last row's. So a changed
byte in any column of any row, a removed row anywhere, and a changed head are all evident.
A consistent rewrite of the whole ledger and head is not: that needs a head kept elsewhere
(an ``anchor``), which is checked when given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import islice

from osed.domain.errors import IntegrityError, ValidationError
from osed.domain.ledger import GENESIS_HASH
from osed.ledger.packed import PackedChecker
from osed.ledger.positions import (
    ENTRY_FIELDS,
    ENTRY_FORMAT,
    PositionKey,
    PositionTally,
    position_mismatches,
    positions_of_rows,
)
from osed.ports.ledger import (
    LedgerHead,
    LedgerStore,
    PackedLedgerRows,
    PositionRow,
    RawLedgerRow,
    TraceChainSource,
)


class Finding(StrEnum):
    """What is wrong, as a stable code."""

    HASH_MISMATCH = "hash_mismatch"  # the row's hash is not the chain's: something changed
    UNDECODABLE_ENTRY = "undecodable_entry"  # the chain holds but the bytes are not an entry
    MALFORMED_ROW = "malformed_row"  # a column has the wrong type
    MISSING_ENTRY = "missing_entry"  # a gap in seq: an entry was removed (or renumbered)
    MISSING_TAIL = "missing_tail"  # fewer entries than the head (or anchor) records
    UNEXPECTED_ENTRY = "unexpected_entry"  # a row beyond the head, or with a seq below 1
    HEAD_MISMATCH = "head_mismatch"  # the head's hash is not the last entry's
    ANCHOR_MISMATCH = "anchor_mismatch"  # the chain does not pass through the anchored head
    POSITION_MISMATCH = "position_mismatch"  # a position differs from its entries' sum
    UNREADABLE = "unreadable"  # the storage itself could not be read (e.g. no head record)
    TRACE_MISMATCH = "trace_mismatch"  # a trace row breaks the trace's hash chain


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """``entries`` counts the rows that verified before the first problem (all, if none)."""

    entries: int
    problem: Finding | None = None
    first_bad_seq: int | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.problem is None

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first_bad_seq": self.first_bad_seq,
            "problem": None if self.problem is None else self.problem.value,
            "detail": self.detail,
        }


@dataclass(slots=True)
class SegmentCheck:
    """The outcome of checking rows ``first_seq..last_seq`` (to the end when ``last_seq`` is
    None). ``verified`` rows from ``first_seq`` on were intact; ``failure`` is the first problem
    inside the segment. A segment is checked against the stored hash just before it, so
    segments can be checked in parallel and combined in order with :func:`combine_segments`.
    """

    first_seq: int
    last_seq: int | None
    verified: int = 0
    last_hash: bytes = GENESIS_HASH
    rows_seen: int = 0
    failure: VerifyReport | None = None
    stray: int | None = None  # the first row numbered below 1
    tally: PositionTally = field(default_factory=PositionTally)

    @property
    def complete(self) -> bool:
        return self.last_seq is None or self.first_seq + self.verified - 1 == self.last_seq


def check_segment(
    rows: Iterable[RawLedgerRow],
    *,
    first_seq: int = 1,
    previous_hash: bytes = GENESIS_HASH,
    last_seq: int | None = None,
    anchor: LedgerHead | None = None,
) -> SegmentCheck:
    """Check rows (in seq order) that should run ``first_seq, first_seq + 1, …``, the first
    chaining from ``previous_hash``; stop at the first problem."""
    return check_segment_blocks(
        _blocks(rows),
        first_seq=first_seq,
        previous_hash=previous_hash,
        last_seq=last_seq,
        anchor=anchor,
    )


def check_segment_blocks(
    blocks: Iterable[Sequence[RawLedgerRow]],
    *,
    first_seq: int = 1,
    previous_hash: bytes = GENESIS_HASH,
    last_seq: int | None = None,
    anchor: LedgerHead | None = None,
) -> SegmentCheck:
    """:func:`check_segment` over rows that come in blocks (e.g. as a store fetches them),
    which spares the hot loop a call per row."""
    check = SegmentCheck(first_seq, last_seq)
    walk = _Walk(check, previous_hash)
    for block in blocks:
        for part in _split_at_anchor(block, anchor):
            before = walk.expected
            if not walk.rows(part):
                check.failure = walk.failure
                break
            # A part that verified the anchored row ends with it (see _split_at_anchor).
            if (
                anchor is not None
                and before <= anchor.count < walk.expected
                and walk.previous != anchor.last_hash
            ):
                check.failure = _not_anchored(anchor.count)
                break
        if check.failure is not None:
            break
    check.last_hash = walk.previous
    check.verified = walk.expected - first_seq
    check.rows_seen = walk.seen
    check.stray = walk.stray
    return check


def check_segment_packed(
    packed: Iterable[PackedLedgerRows],
    rows_after: Callable[[int | None], Iterable[Sequence[RawLedgerRow]]],
    *,
    first_seq: int = 1,
    previous_hash: bytes = GENESIS_HASH,
    last_seq: int | None = None,
    anchor: LedgerHead | None = None,
) -> SegmentCheck:
    """:func:`check_segment_blocks` that takes packed blocks (:class:`PackedChecker`) while they
    are intact, then the rows from ``rows_after(seq of the last packed row)`` one by one:
    from the first block it did not accept, and any rows beyond the packed ones. The
    report is the row-by-row walk's, whichever path checked a row."""
    tally = PositionTally()
    checker = PackedChecker(tally)
    previous, verified = previous_hash, 0
    for block in packed:
        if block.after_seq != first_seq - 1 + verified:
            break
        last_hash = checker.check(block, previous, anchor)
        if last_hash is None:
            break
        previous, verified = last_hash, verified + block.rows
    after = first_seq - 1 + verified
    check = check_segment_blocks(
        rows_after(None if after == 0 and first_seq == 1 else after),
        first_seq=after + 1,
        previous_hash=previous,
        last_seq=last_seq,
        anchor=anchor,
    )
    check.first_seq = first_seq
    check.verified += verified
    check.rows_seen += verified
    check.tally.merge(tally)
    return check


_BLOCK_ROWS = 10_000


def _blocks(rows: Iterable[RawLedgerRow]) -> Iterator[Sequence[RawLedgerRow]]:
    if isinstance(rows, Sequence):
        yield rows
        return
    iterator = iter(rows)
    while block := list(islice(iterator, _BLOCK_ROWS)):
        yield block


def _split_at_anchor(
    block: Sequence[RawLedgerRow], anchor: LedgerHead | None
) -> list[Sequence[RawLedgerRow]]:
    """The block, cut just after the row the anchor names, if it holds that row: the anchor is
    then checked between the parts, so that the hot loop never compares seqs with it."""
    if anchor is None or anchor.count < 1 or not block:
        return [block]
    guess = anchor.count - block[0][0] if isinstance(block[0][0], int) else -1
    if 0 <= guess < len(block) and block[guess][0] == anchor.count:
        index: int | None = guess
    else:  # rows numbered below 1 or a gap before it: look for it
        index = next((k for k, row in enumerate(block) if row[0] == anchor.count), None)
    if index is None:
        return [block]
    return [block[: index + 1], block[index + 1 :]]


class _Walk:
    """The hash chain and the position tally over consecutive rows, one block at a time."""

    __slots__ = ("check", "expected", "failure", "previous", "seen", "stray")

    def __init__(self, check: SegmentCheck, previous: bytes) -> None:
        self.check = check
        self.previous = previous
        self.expected = check.first_seq
        self.seen = 0
        self.stray: int | None = None
        self.failure: VerifyReport | None = None

    def rows(self, block: Sequence[RawLedgerRow]) -> bool:
        """Check one block; False (with :attr:`failure` set) at the first problem.

        The hot loop: locals only, one hash and one tally step per row. Each row's hash is
        computed from the stored hash before it, which equals the computed one whenever that
        row was found intact, so the loop carries the stored hash on."""
        sha256, join, separator = hashlib.sha256, b"".join, b"\x00"
        tally = self.check.tally
        totals = tally.raw
        get = totals.get
        previous, expected = self.previous, self.expected
        done = 0
        try:
            for seq, message_id, entry, stored_hash in block:
                if seq != expected:
                    if isinstance(seq, int) and seq < 1:
                        self.stray = seq if self.stray is None else self.stray
                        done += 1
                        continue
                    self.failure = _missing(expected, seq)
                    return False
                try:
                    computed = sha256(
                        join((previous, seq.to_bytes(8, "big"), message_id, separator, entry))
                    ).digest()
                except (TypeError, OverflowError) as exc:
                    self.failure = VerifyReport(
                        seq - 1, Finding.MALFORMED_ROW, seq, f"{seq}: {exc}"
                    )
                    return False
                if computed != stored_hash:
                    self.failure = _hash_mismatch(seq, entry)
                    return False
                # PositionTally.add, inlined: this runs once per row of the ledger.
                fields = entry.split(b"\x1f")
                if len(fields) != ENTRY_FIELDS or fields[0] != ENTRY_FORMAT:
                    self.failure = _undecodable(seq, entry)
                    return False
                key = (fields[3], fields[5], fields[6], fields[7], fields[11])
                try:
                    quantity = int(fields[10])
                    total = get(key)
                    if total is None:
                        tally.admit(key)
                        totals[key] = quantity
                    else:
                        totals[key] = total + quantity
                except (ValueError, ValidationError):
                    self.failure = _undecodable(seq, entry)
                    return False
                previous = stored_hash
                expected += 1
                done += 1
            return True
        finally:
            # A failing row was seen too; the loop stops there, before counting it.
            self.seen += done + (self.failure is not None)
            self.previous, self.expected = previous, expected


def _missing(expected: int, found: int) -> VerifyReport:
    return VerifyReport(
        expected - 1,
        Finding.MISSING_ENTRY,
        expected,
        f"entry {expected} is missing; the next stored entry is {found}",
    )


def _hash_mismatch(seq: int, entry: bytes) -> VerifyReport:
    try:
        PositionTally().add(entry)
    except ValidationError:
        detail = f"entry {seq}: hash mismatch, and the entry bytes no longer decode"
    else:
        detail = f"entry {seq}: hash mismatch (its seq, message id, entry or hash was altered)"
    return VerifyReport(seq - 1, Finding.HASH_MISMATCH, seq, detail)


def _undecodable(seq: int, entry: bytes) -> VerifyReport:
    try:
        PositionTally().add(entry)
    except ValidationError as exc:
        message = exc.problems[0].message
    else:
        message = "not a ledger entry"
    return VerifyReport(seq - 1, Finding.UNDECODABLE_ENTRY, seq, f"entry {seq}: {message}")


def _not_anchored(seq: int) -> VerifyReport:
    return VerifyReport(
        seq - 1,
        Finding.ANCHOR_MISMATCH,
        seq,
        f"entry {seq} is not the entry the anchor recorded: the ledger was rewritten",
    )


def combine_segments(
    segments: Sequence[SegmentCheck], *, head: LedgerHead, anchor: LedgerHead | None = None
) -> VerifyReport:
    """The report for consecutive segments covering the ledger: the first problem wins."""
    count, last_hash = 0, GENESIS_HASH
    stray: int | None = None
    for index, segment in enumerate(segments):
        stray = segment.stray if stray is None else stray
        if segment.failure is not None:
            return segment.failure
        if segment.verified:
            count = segment.first_seq + segment.verified - 1
            last_hash = segment.last_hash
        if not segment.complete:
            if any(later.rows_seen for later in segments[index + 1 :]):
                return VerifyReport(
                    count, Finding.MISSING_ENTRY, count + 1, f"entry {count + 1} is missing"
                )
            break  # the rows simply end here: the end checks below judge that
    return _check_ends(count, last_hash, head=head, anchor=anchor, stray=stray)


def verify_chain(
    rows: Iterable[RawLedgerRow],
    *,
    head: LedgerHead,
    anchor: LedgerHead | None = None,
    tally: PositionTally | None = None,
) -> VerifyReport:
    """Check every row (in seq order) against the chain, the head and, if given, an anchor.

    When ``tally`` is given, the intact entries are added to it for a positions cross-check.
    """
    segment = check_segment(rows, anchor=anchor)
    if tally is not None:
        tally.merge(segment.tally)
    return combine_segments([segment], head=head, anchor=anchor)


def verify_positions(
    expected: dict[PositionKey, int], recorded: Iterable[PositionRow], *, entries: int
) -> VerifyReport:
    """Compare the positions the entries add up to with the stored positions."""
    mismatches = position_mismatches(expected, positions_of_rows(recorded))
    if not mismatches:
        return VerifyReport(entries)
    more = f" (and {len(mismatches) - 1} more)" if len(mismatches) > 1 else ""
    return VerifyReport(entries, Finding.POSITION_MISMATCH, None, mismatches[0].describe() + more)


def verify_store(store: LedgerStore, *, anchor: LedgerHead | None = None) -> VerifyReport:
    """The chain, the head, the anchor if given, then the positions against the entries."""
    segment = check_segment(store.raw_rows(), anchor=anchor)
    report = verify_segments(
        [segment], head=store.head(), recorded=store.all_positions(), anchor=anchor
    )
    return with_trace(report, first_trace_damage(store))


def first_trace_damage(store: LedgerStore) -> str | None:
    """What is wrong with the first trace row that breaks the trace's hash chain (the store
    checks the chain as it reads), or None."""
    if isinstance(store, TraceChainSource):
        return store.check_trace().damage
    try:
        for _ in store.traces():
            pass
    except IntegrityError as exc:
        return str(exc)
    return None


def with_trace(report: VerifyReport, trace_damage: str | None) -> VerifyReport:
    """The ledger's report, or, if the ledger is intact, the trace's damage."""
    if not report.ok or trace_damage is None:
        return report
    return VerifyReport(report.entries, Finding.TRACE_MISMATCH, None, trace_damage)


def verify_segments(
    segments: Sequence[SegmentCheck],
    *,
    head: LedgerHead,
    recorded: Iterable[PositionRow],
    anchor: LedgerHead | None = None,
) -> VerifyReport:
    """:func:`combine_segments`, then, if the chain is intact, the positions cross-check."""
    report = combine_segments(segments, head=head, anchor=anchor)
    if not report.ok:
        return report
    tally = PositionTally()
    for segment in segments:
        tally.merge(segment.tally)
    return verify_positions(tally.totals(), recorded, entries=report.entries)


def _check_ends(
    count: int,
    last_hash: bytes,
    *,
    head: LedgerHead,
    anchor: LedgerHead | None,
    stray: int | None,
) -> VerifyReport:
    if anchor is not None and anchor.count > count:
        return VerifyReport(
            count,
            Finding.MISSING_TAIL,
            count + 1,
            f"the anchor records {anchor.count} entries, the ledger holds {count}",
        )
    if head.count > count:
        return VerifyReport(
            count,
            Finding.MISSING_TAIL,
            count + 1,
            f"the head records {head.count} entries, the ledger holds {count}",
        )
    if head.count < count:
        return VerifyReport(
            head.count,
            Finding.UNEXPECTED_ENTRY,
            head.count + 1,
            f"the head records {head.count} entries, the ledger holds {count}",
        )
    if last_hash != head.last_hash:
        return VerifyReport(
            count,
            Finding.HEAD_MISMATCH,
            None,
            "the head's hash is not the last entry's: the head record was altered",
        )
    if stray is not None:
        return VerifyReport(
            count, Finding.UNEXPECTED_ENTRY, stray, f"a row is numbered {stray}, below 1"
        )
    return VerifyReport(count)
