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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from osed.domain.errors import IntegrityError, ValidationError
from osed.domain.ledger import GENESIS_HASH
from osed.ledger.positions import (
    ENTRY_FIELDS,
    ENTRY_FORMAT,
    PositionKey,
    PositionTally,
    position_mismatches,
    positions_of_rows,
)
from osed.ports.ledger import LedgerHead, LedgerStore, PositionRow, RawLedgerRow


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
    check = SegmentCheck(first_seq, last_seq)
    check.failure, check.last_hash = _walk(check, rows, previous_hash, anchor)
    return check


def _walk(
    check: SegmentCheck,
    rows: Iterable[RawLedgerRow],
    previous: bytes,
    anchor: LedgerHead | None,
) -> tuple[VerifyReport | None, bytes]:
    """The hot loop: locals only, one hash and one tally step per row."""
    sha256 = hashlib.sha256
    tally = check.tally
    totals = tally.raw
    anchored = -1 if anchor is None else anchor.count
    expected = check.first_seq
    seen = 0
    try:
        for seq, message_id, entry, stored_hash in rows:
            seen += 1
            if seq != expected:
                if isinstance(seq, int) and seq < 1:
                    check.stray = seq if check.stray is None else check.stray
                    continue
                return _missing(expected, seq), previous
            try:
                computed = sha256(
                    b"".join((previous, seq.to_bytes(8, "big"), message_id, b"\x00", entry))
                ).digest()
            except (TypeError, OverflowError) as exc:
                return VerifyReport(seq - 1, Finding.MALFORMED_ROW, seq, f"{seq}: {exc}"), previous
            if computed != stored_hash:
                return _hash_mismatch(seq, entry), previous
            # PositionTally.add, inlined: this runs once per row of the ledger.
            fields = entry.split(b"\x1f")
            if len(fields) != ENTRY_FIELDS or fields[0] != ENTRY_FORMAT:
                return _undecodable(seq, entry), previous
            key = (fields[3], fields[5], fields[6], fields[7], fields[11])
            try:
                quantity = int(fields[10])
                total = totals.get(key)
                if total is None:
                    tally.admit(key)
                    totals[key] = quantity
                else:
                    totals[key] = total + quantity
            except (ValueError, ValidationError):
                return _undecodable(seq, entry), previous
            if seq == anchored and anchor is not None and computed != anchor.last_hash:
                return _not_anchored(seq), previous
            previous = computed
            expected += 1
        return None, previous
    finally:
        check.rows_seen = seen
        check.verified = expected - check.first_seq


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
