"""The trace hash chain written in batches hashes exactly as row by row, and as it always did."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from osed.domain.ledger import GENESIS_HASH, trace_hash
from osed.storage._trace_chain import chained, stored_instants

NOON = datetime(2026, 7, 1, 12, 0, 0, 250, tzinfo=UTC)
BEFORE_EPOCH = datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)


def test_trace_hash_keeps_its_recipe() -> None:
    # Hex digests of rows hashed before the batched chain existed: stored traces still verify.
    first = trace_hash(GENESIS_HASH, "house-0001:r1", "EiCreateTender", NOON, '{"é":1}')
    assert first.hex() == "a9c6bed3ada94ec7db010ee847e491885373b56c67fdfdf11b81ecd4b7a813c1"
    second = trace_hash(first, "clear:market:x:1", "ClearInterval", BEFORE_EPOCH, "")
    assert second.hex() == "b177d212a73bbc38dc3faccb028902a5393809f07e053c3ab08b510161db59e2"


def test_a_batch_chains_as_rows_hashed_one_by_one() -> None:
    shared = NOON + timedelta(minutes=5)
    other_zone = shared.astimezone(timezone(timedelta(hours=2)))
    rows = [
        ("a", "EiCreateTender", shared, "{}"),
        ("b", "EiCreateTender", shared, '{"x":1}'),
        ("c", "EiRequestPosition", NOON, ""),
        ("d", "EiCreatedTransaction", other_zone, "ü"),
        ("e", "ClearInterval", shared, "{}"),
    ]
    for previous in (None, bytes(range(32))):
        expected, last = [], previous or GENESIS_HASH
        for message_id, kind, at, body in rows:
            last = trace_hash(last, message_id, kind, at, body)
            expected.append(last)
        assert chained(previous, rows) == expected
    assert stored_instants(rows) == [at.isoformat() for _, _, at, _ in rows]
