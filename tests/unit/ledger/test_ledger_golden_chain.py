"""The canonical bytes and the hash chain are a file format: existing ledgers must keep
verifying. These bytes and hashes were written by an earlier release; any change to how an
entry is encoded or chained breaks this test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from osed.domain.cts.tenders import Side
from osed.domain.ledger import GENESIS_HASH, LedgerEntry, StoredEntry, chain_hash
from osed.domain.time import Interval
from osed.ports.ledger import AppendResult, LedgerHead, canonical_entries, checked_batch
from osed.storage._ledger_plan import LedgerBatchPlan
from osed.storage.sqlite import _interval_key

MESSAGE_ID = "clear:m1:7"
ENTRIES = [
    LedgerEntry(
        "m1:7:B",
        "tender-7-B",
        "party-001",
        "party-008",
        Side.BUY,
        Interval(datetime(2026, 1, 1, 10, 15, tzinfo=UTC), timedelta(minutes=15)),
        12345,
        4,
        1500,
        3,
        "USD",
        "m1",
        datetime(2026, 1, 1, 9, 0, 0, 123456, tzinfo=UTC),
    ),
    LedgerEntry(
        "m1:7:S",
        "tender-7-S",
        "Bäckerei Müller",
        "party-001",
        Side.SELL,
        Interval(
            datetime(2026, 3, 29, 3, 0, tzinfo=timezone(timedelta(hours=2))), timedelta(hours=1)
        ),
        -250,
        2,
        0,
        -1,
        "EUR",
        "märkt",
        datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=-5))),
    ),
]
CANONICAL = [
    b"osed-ledger-v1\x1fm1:7:B\x1ftender-7-B\x1fparty-001\x1fparty-008\x1fBUY"
    b"\x1f2026-01-01T10:15:00+00:00\x1f900\x1f12345\x1f4\x1f1500\x1f3\x1fUSD\x1fm1"
    b"\x1f2026-01-01T09:00:00.123456+00:00",
    b"osed-ledger-v1\x1fm1:7:S\x1ftender-7-S\x1fB\xc3\xa4ckerei M\xc3\xbcller\x1fparty-001"
    b"\x1fSELL\x1f2026-03-29T01:00:00+00:00\x1f3600\x1f-250\x1f2\x1f0\x1f-1\x1fEUR"
    b"\x1fm\xc3\xa4rkt\x1f2026-03-29T06:30:00+00:00",
]
HASHES = [
    bytes.fromhex("99a4a31a836ccb59b575e10f185641448f0dea812f27e61d4a9e19e20eecd24c"),
    bytes.fromhex("eed16734b1f9fcf3dca8b34002e8a034a8e9b27f473202fd906da2cad072663e"),
]


def test_entries_encode_to_the_released_canonical_bytes() -> None:
    assert [entry.canonical() for entry in ENTRIES] == CANONICAL
    assert canonical_entries(MESSAGE_ID, ENTRIES) == CANONICAL
    assert checked_batch([(MESSAGE_ID, ENTRIES)]).canonical == CANONICAL


def test_the_chain_hashes_are_the_released_ones() -> None:
    first = chain_hash(GENESIS_HASH, 1, MESSAGE_ID, CANONICAL[0])
    assert [first, chain_hash(first, 2, MESSAGE_ID, CANONICAL[1])] == HASHES


def test_the_batch_plan_writes_the_released_rows() -> None:
    checked = checked_batch([(MESSAGE_ID, ENTRIES)])
    plan = LedgerBatchPlan(LedgerHead(0, GENESIS_HASH), _interval_key, checked, {})
    assert plan.rows == [
        (1, MESSAGE_ID, CANONICAL[0], HASHES[0]),
        (2, MESSAGE_ID, CANONICAL[1], HASHES[1]),
    ]
    assert (plan.seq, plan.last_hash) == (2, HASHES[1])


def test_the_batch_results_carry_the_released_entries_whether_new_or_repeated() -> None:
    batch = [(MESSAGE_ID, ENTRIES), (MESSAGE_ID, ENTRIES)]
    plan = LedgerBatchPlan(LedgerHead(0, GENESIS_HASH), _interval_key, checked_batch(batch), {})
    stored = tuple(
        StoredEntry(seq, MESSAGE_ID, entry, digest)
        for seq, entry, digest in zip((1, 2), ENTRIES, HASHES, strict=True)
    )
    ids = [MESSAGE_ID, MESSAGE_ID]
    first, repeated = plan.results(ids, {}, stored_range=lambda first, count: ())
    assert first == AppendResult(stored, duplicate=False)
    assert repeated == AppendResult(stored, duplicate=True)
    assert first.entries is first.entries  # built once, on first access
