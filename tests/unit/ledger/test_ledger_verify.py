"""The pure verifier over raw rows: the first altered or removed entry is named exactly."""

from __future__ import annotations

import hashlib

import pytest
from entry_samples import chained_rows, entries_strategy, entry, sample_rows
from hypothesis import assume, given
from hypothesis import strategies as st

from osed.domain.ledger import GENESIS_HASH, LedgerEntry, chain_hash
from osed.ledger.positions import PositionTally, net_positions
from osed.ledger.verify import (
    Finding,
    VerifyReport,
    check_segment,
    check_segment_blocks,
    combine_segments,
    verify_chain,
)
from osed.ports.ledger import LedgerHead, RawLedgerRow

COUNT = 30
ROWS, HEAD = sample_rows(COUNT)


def as_stored(rows: list[RawLedgerRow]) -> list[RawLedgerRow]:
    """A store returns rows in seq order."""
    return sorted(rows, key=lambda row: row[0])


def flip_byte(value: bytes, index: int, bit: int) -> bytes:
    data = bytearray(value)
    data[index % len(data)] ^= 1 << bit
    return bytes(data)


def test_an_intact_chain_verifies_and_tallies_positions() -> None:
    tally = PositionTally()
    report = verify_chain(ROWS, head=HEAD, tally=tally)
    assert report == VerifyReport(COUNT)
    assert report.to_dict() == {
        "ok": True,
        "entries": COUNT,
        "first_bad_seq": None,
        "problem": None,
        "detail": "",
    }
    assert sum(tally.totals().values()) == sum((n + 1) * (1 if n % 2 else -1) for n in range(COUNT))


def test_an_empty_ledger_verifies() -> None:
    assert verify_chain([], head=LedgerHead(0)).ok


@given(st.lists(entries_strategy, max_size=25))
def test_the_verifier_tally_equals_the_entry_sum(entries: list[LedgerEntry]) -> None:
    rows, head = chained_rows(entries)
    tally = PositionTally()
    assert verify_chain(rows, head=head, tally=tally).ok
    assert tally.totals() == net_positions(entries)


@given(
    seq=st.integers(1, COUNT),
    column=st.integers(1, 3),
    index=st.integers(0, 500),
    bit=st.integers(0, 7),
)
def test_a_flipped_byte_in_message_id_entry_or_hash_names_the_row(
    seq: int, column: int, index: int, bit: int
) -> None:
    rows = list(ROWS)
    row = list(rows[seq - 1])
    row[column] = flip_byte(row[column], index, bit)  # type: ignore[arg-type]
    rows[seq - 1] = tuple(row)  # type: ignore[assignment]
    report = verify_chain(rows, head=HEAD)
    assert (report.first_bad_seq, report.entries) == (seq, seq - 1)
    assert report.problem is Finding.HASH_MISMATCH


@given(seq=st.integers(1, COUNT), bit=st.integers(0, 62))
def test_a_flipped_bit_in_seq_names_the_row(seq: int, bit: int) -> None:
    altered = seq ^ (1 << bit)
    assume(not 1 <= altered <= COUNT)  # a store's primary key refuses a collision
    rows = list(ROWS)
    rows[seq - 1] = (altered, *rows[seq - 1][1:])
    report = verify_chain(as_stored(rows), head=HEAD)
    assert report.first_bad_seq == seq
    assert report.problem is Finding.MISSING_ENTRY


@pytest.mark.parametrize("seq", [1, 2, 15, COUNT - 1])
def test_a_removed_row_is_named(seq: int) -> None:
    rows = [row for row in ROWS if row[0] != seq]
    report = verify_chain(rows, head=HEAD)
    assert (report.problem, report.first_bad_seq, report.entries) == (
        Finding.MISSING_ENTRY,
        seq,
        seq - 1,
    )


@pytest.mark.parametrize("removed", [1, 5, COUNT])
def test_removed_last_rows_are_found_against_the_head(removed: int) -> None:
    report = verify_chain(ROWS[:-removed], head=HEAD)
    assert (report.problem, report.first_bad_seq) == (Finding.MISSING_TAIL, COUNT - removed + 1)


def test_a_truncation_with_a_matching_head_is_found_only_with_an_anchor() -> None:
    kept = ROWS[:-10]
    forged_head = LedgerHead(len(kept), kept[-1][3])
    assert verify_chain(kept, head=forged_head).ok
    report = verify_chain(kept, head=forged_head, anchor=HEAD)
    assert (report.problem, report.first_bad_seq) == (Finding.MISSING_TAIL, COUNT - 9)


def test_a_rewritten_chain_is_found_against_an_anchor_it_should_pass_through() -> None:
    other, other_head = chained_rows([entry(number=n, quantity=n) for n in range(COUNT)])
    assert verify_chain(other, head=other_head).ok
    anchor = LedgerHead(12, ROWS[11][3])
    report = verify_chain(other, head=other_head, anchor=anchor)
    assert (report.problem, report.first_bad_seq) == (Finding.ANCHOR_MISMATCH, 12)
    assert verify_chain(ROWS, head=HEAD, anchor=anchor).ok


@pytest.mark.parametrize(
    ("head", "problem", "first_bad_seq"),
    [
        (LedgerHead(COUNT + 1, HEAD.last_hash), Finding.MISSING_TAIL, COUNT + 1),
        (LedgerHead(COUNT - 1, HEAD.last_hash), Finding.UNEXPECTED_ENTRY, COUNT),
        (LedgerHead(COUNT, flip_byte(HEAD.last_hash, 7, 1)), Finding.HEAD_MISMATCH, None),
    ],
)
def test_an_altered_head_is_found(
    head: LedgerHead, problem: Finding, first_bad_seq: int | None
) -> None:
    report = verify_chain(ROWS, head=head)
    assert (report.problem, report.first_bad_seq) == (problem, first_bad_seq)


def test_an_entry_that_chains_but_does_not_decode_is_named() -> None:
    entries = [entry(number=n) for n in range(5)]
    rows, _ = chained_rows(entries)
    garbage = b"osed-ledger-v1\x1fnot enough fields"
    previous = rows[2][3]
    forged = chain_hash(previous, 4, "msg-2", garbage)
    rows[3] = (4, b"msg-2", garbage, forged)
    rows[4] = (5, rows[4][1], rows[4][2], chain_hash(forged, 5, "msg-3", rows[4][2]))
    report = verify_chain(rows, head=LedgerHead(5, rows[4][3]))
    assert (report.problem, report.first_bad_seq) == (Finding.UNDECODABLE_ENTRY, 4)


@pytest.mark.parametrize("column", [1, 2, 3])
def test_a_column_of_the_wrong_type_is_a_malformed_row(column: int) -> None:
    rows = list(ROWS)
    row = list(rows[9])
    row[column] = 12345
    rows[9] = tuple(row)  # type: ignore[assignment]
    report = verify_chain(rows, head=HEAD)
    assert report.first_bad_seq == 10
    assert report.problem in {Finding.MALFORMED_ROW, Finding.HASH_MISMATCH}


def test_the_verifier_hash_is_the_domain_chain_hash() -> None:
    seq, message_id, data, stored = ROWS[4]
    preimage = ROWS[3][3] + seq.to_bytes(8, "big") + message_id + b"\x00" + data
    assert hashlib.sha256(preimage).digest() == stored
    assert chain_hash(ROWS[3][3], seq, message_id.decode(), data) == stored
    assert chain_hash(GENESIS_HASH, 1, ROWS[0][1].decode(), ROWS[0][2]) == ROWS[0][3]


def segments_of(
    rows: list[RawLedgerRow], cuts: list[int], anchor: LedgerHead | None = None
) -> list:  # type: ignore[type-arg]
    """Check rows in consecutive seq ranges, each from the stored hash before it."""
    bounds = sorted(set(cuts))
    starts = [1, *[cut + 1 for cut in bounds]]
    ends: list[int | None] = [*bounds, None]
    stored_hash = {row[0]: row[3] for row in rows}
    segments = []
    for first, last in zip(starts, ends, strict=True):
        part = [
            row
            for row in rows
            if (first == 1 or row[0] >= first) and (last is None or row[0] <= last)
        ]
        previous = GENESIS_HASH if first == 1 else stored_hash.get(first - 1, GENESIS_HASH)
        segments.append(
            check_segment(
                part, first_seq=first, previous_hash=previous, last_seq=last, anchor=anchor
            )
        )
    return segments


tampering = st.one_of(
    st.none(),
    st.tuples(st.just("flip"), st.integers(1, COUNT), st.integers(1, 3), st.integers(0, 400)),
    st.tuples(st.just("drop"), st.integers(1, COUNT)),
    st.tuples(st.just("truncate"), st.integers(1, COUNT)),
)


def tampered(change: tuple | None) -> list[RawLedgerRow]:  # type: ignore[type-arg]
    """The sample rows with one change drawn from ``tampering`` (or a stray row) applied."""
    rows = list(ROWS)
    if change is not None and change[0] == "flip":
        _, seq, column, index = change
        row = list(rows[seq - 1])
        row[column] = flip_byte(row[column], index, 0)
        rows[seq - 1] = tuple(row)  # type: ignore[assignment]
    elif change is not None and change[0] == "drop":
        rows = [row for row in rows if row[0] != change[1]]
    elif change is not None and change[0] == "stray":  # renumbered below 1: read first
        moved = rows.pop(change[1] - 1)
        rows.insert(0, (1 - change[1], *moved[1:]))
    elif change is not None:
        rows = rows[: change[1] - 1]
    return rows


@given(
    change=tampering,
    cuts=st.lists(st.integers(1, COUNT + 5), max_size=4),
    anchored=st.booleans(),
)
def test_segments_checked_apart_report_what_one_pass_reports(
    change: tuple | None,  # type: ignore[type-arg]
    cuts: list[int],
    anchored: bool,
) -> None:
    rows = tampered(change)
    anchor = LedgerHead(20, ROWS[19][3]) if anchored else None
    single = verify_chain(rows, head=HEAD, anchor=anchor)
    combined = combine_segments(segments_of(rows, cuts, anchor), head=HEAD, anchor=anchor)
    assert (combined.problem, combined.first_bad_seq, combined.entries) == (
        single.problem,
        single.first_bad_seq,
        single.entries,
    )
    assert single.ok == (change is None)


def in_blocks(rows: list[RawLedgerRow], sizes: list[int]) -> list[list[RawLedgerRow]]:
    """The rows cut into consecutive blocks of the given sizes (the rest in one last block)."""
    blocks, start = [], 0
    for size in sizes:
        blocks.append(rows[start : start + size])
        start += size
    return [*blocks, rows[start:]]


@given(
    change=st.one_of(tampering, st.tuples(st.just("stray"), st.integers(1, COUNT))),
    sizes=st.lists(st.integers(0, 12), max_size=6),
    anchor_at=st.one_of(st.none(), st.integers(1, COUNT)),
    anchor_hash_right=st.booleans(),
)
def test_rows_in_blocks_are_checked_as_one_sequence(
    change: tuple | None,  # type: ignore[type-arg]
    sizes: list[int],
    anchor_at: int | None,
    anchor_hash_right: bool,
) -> None:
    rows = tampered(change)
    anchor = None
    if anchor_at is not None:
        anchor = LedgerHead(anchor_at, ROWS[anchor_at - 1][3] if anchor_hash_right else bytes(32))
    one = check_segment_blocks([rows], anchor=anchor)
    many = check_segment_blocks(in_blocks(rows, sizes), anchor=anchor)
    by_row = check_segment(iter(rows), anchor=anchor)
    for check in (many, by_row):
        assert (check.failure, check.verified, check.last_hash, check.stray) == (
            one.failure,
            one.verified,
            one.last_hash,
            one.stray,
        )
        assert check.tally.raw == one.tally.raw
        assert bool(check.rows_seen) == bool(one.rows_seen)
    report = combine_segments([many], head=HEAD, anchor=anchor)
    if anchor is not None and not anchor_hash_right and (change is None or change[0] != "stray"):
        first_damage = change[1] if change is not None else COUNT + 1
        if anchor_at < first_damage:
            assert (report.problem, report.first_bad_seq) == (Finding.ANCHOR_MISMATCH, anchor_at)
