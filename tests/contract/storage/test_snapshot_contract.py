"""The LedgerStore snapshot contract: agent state at a trace position, kept beside the trace.
Run unchanged against every backend (see conftest.py)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from osed.domain.errors import ValidationError
from osed.ports.ledger import LedgerStore, SnapshotChunk, SnapshotRecord
from tests.contract.storage.backends import Backend
from tests.unit.storage.store_samples import trade

AT = datetime(2026, 1, 1, 12, tzinfo=UTC)
FORMAT = "test.agent"


def traced(ledger: LedgerStore, count: int, prefix: str = "m") -> None:
    for n in range(count):
        ledger.trace(f"{prefix}{n}", "EiCreateTender", AT + timedelta(seconds=n), "{}")


def test_a_new_store_has_no_snapshots(ledger: LedgerStore) -> None:
    assert list(ledger.snapshots(FORMAT)) == []


def test_a_snapshot_is_stored_at_the_last_trace_position(
    ledger_backend: Backend[LedgerStore],
) -> None:
    writer, reader = ledger_backend.open(), ledger_backend.open()
    traced(writer, 3)
    writer.flush()
    traced(writer, 2, prefix="buffered")
    position = writer.save_snapshot(FORMAT, b"state", taken_at=AT)
    # Buffered trace rows are written with the snapshot: it covers them.
    records = list(reader.traces())
    assert [r.message_id for r in records][-2:] == ["buffered0", "buffered1"]
    assert position == records[-1].seq
    (snapshot,) = reader.snapshots(FORMAT)
    assert (snapshot.format, snapshot.trace_seq, snapshot.body) == (FORMAT, position, b"state")
    assert snapshot.taken_at == AT
    assert snapshot.checksum == hashlib.sha256(b"state").digest()
    assert snapshot.intact


def test_a_snapshot_of_an_empty_trace_is_at_position_zero(ledger: LedgerStore) -> None:
    assert ledger.save_snapshot(FORMAT, b"", taken_at=AT) == 0
    (snapshot,) = ledger.snapshots(FORMAT)
    assert (snapshot.trace_seq, snapshot.body) == (0, b"")


def test_any_bytes_come_back_unchanged(ledger_backend: Backend[LedgerStore]) -> None:
    body = bytes(range(256)) * 4096 + b"\x00"  # a megabyte, every byte value, NUL included
    ledger_backend.open().save_snapshot(FORMAT, body, taken_at=AT)
    (snapshot,) = ledger_backend.open().snapshots(FORMAT)
    assert snapshot.body == body
    assert snapshot.intact


def test_taken_at_is_read_back_in_utc(ledger: LedgerStore) -> None:
    local = datetime(2026, 1, 1, 14, tzinfo=timezone(timedelta(hours=2)))
    ledger.save_snapshot(FORMAT, b"x", taken_at=local)
    (snapshot,) = ledger.snapshots(FORMAT)
    assert snapshot.taken_at == AT
    assert snapshot.taken_at.utcoffset() == timedelta(0)


def test_snapshots_come_newest_first_and_only_the_newest_are_kept(ledger: LedgerStore) -> None:
    positions = []
    for n in range(5):
        traced(ledger, 2, prefix=f"s{n}-")
        positions.append(ledger.save_snapshot(FORMAT, f"state {n}".encode(), taken_at=AT, keep=3))
    found = list(ledger.snapshots(FORMAT))
    assert [s.trace_seq for s in found] == positions[:1:-1]
    assert [s.body for s in found] == [b"state 4", b"state 3", b"state 2"]
    assert len({s.snapshot_id for s in found}) == 3


def test_formats_are_kept_apart(ledger: LedgerStore) -> None:
    traced(ledger, 1)
    ledger.save_snapshot("agent.a", b"a1", taken_at=AT, keep=1)
    ledger.save_snapshot("agent.b", b"b1", taken_at=AT, keep=1)
    ledger.save_snapshot("agent.a", b"a2", taken_at=AT, keep=1)
    assert [s.body for s in ledger.snapshots("agent.a")] == [b"a2"]
    assert [s.body for s in ledger.snapshots("agent.b")] == [b"b1"]


def test_a_snapshot_is_durable_when_save_returns(ledger_backend: Backend[LedgerStore]) -> None:
    writer = ledger_backend.open(closed_by_caller=True)
    traced(writer, 2)
    position = writer.save_snapshot(FORMAT, b"state", taken_at=AT)
    # Abandoned without close(): nothing of the snapshot may depend on it.
    reader = ledger_backend.open()
    assert [(s.trace_seq, s.body) for s in reader.snapshots(FORMAT)] == [(position, b"state")]
    assert [r.seq for r in reader.traces()][-1] == position
    writer.close()


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ({"format": "", "body": b"x", "taken_at": AT}, "empty_id"),
        ({"format": "bad\x1fformat", "body": b"x", "taken_at": AT}, "control_character"),
        ({"format": FORMAT, "body": "text", "taken_at": AT}, "not_bytes"),
        ({"format": FORMAT, "body": b"x", "taken_at": datetime(2026, 1, 1)}, "naive_datetime"),  # noqa: DTZ001
        ({"format": FORMAT, "body": b"x", "taken_at": AT, "keep": 0}, "not_positive"),
    ],
)
def test_bad_arguments_are_refused_and_nothing_is_written(
    ledger: LedgerStore, arguments: dict[str, object], code: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        ledger.save_snapshot(**arguments)  # type: ignore[arg-type]
    assert code in {problem.code for problem in raised.value.problems}
    assert list(ledger.snapshots(FORMAT)) == []


def test_a_damaged_body_is_evident(ledger: LedgerStore) -> None:
    ledger.save_snapshot(FORMAT, b"state", taken_at=AT)
    (stored,) = ledger.snapshots(FORMAT)
    damaged = SnapshotRecord(
        stored.snapshot_id,
        stored.format,
        stored.trace_seq,
        stored.taken_at,
        b"stale",
        stored.checksum,
    )
    assert stored.intact
    assert not damaged.intact


# ------------------------------------------------------------ reading the tail
def test_traces_after_a_position(ledger: LedgerStore) -> None:
    traced(ledger, 5)
    seqs = [r.seq for r in ledger.traces()]
    assert [r.seq for r in ledger.traces(after_seq=seqs[2])] == seqs[3:]
    assert list(ledger.traces(after_seq=seqs[-1])) == []
    assert [r.seq for r in ledger.traces(after_seq=0)] == seqs


def test_message_seqs_tell_where_recorded_messages_begin(ledger: LedgerStore) -> None:
    first_id, first = trade(1)
    second_id, second = trade(2)
    ledger.append(first_id, first)
    ledger.append(second_id, second)
    found = ledger.message_seqs([second_id, "never-recorded", first_id])
    assert found == {first_id: 1, second_id: 1 + len(first)}
    assert ledger.message_seqs([]) == {}
    many = [f"unknown-{n}" for n in range(1200)] + [second_id]  # past one lookup's chunk
    assert ledger.message_seqs(many) == {second_id: 1 + len(first)}


def test_chunks_are_stored_once_and_dropped_when_no_kept_snapshot_refers_to_them(
    ledger: LedgerStore,
) -> None:
    shared, first, second, third = (SnapshotChunk.of(f"chunk {n}".encode()) for n in range(4))
    ledger.save_snapshot(FORMAT, b"a", taken_at=AT, keep=2, chunks=[shared, first])
    ledger.save_snapshot(FORMAT, b"b", taken_at=AT, keep=2, chunks=[shared, second])
    digests = [c.digest for c in (shared, first, second, third)]
    assert ledger.snapshot_chunks(digests) == {c.digest: c.body for c in (shared, first, second)}
    ledger.save_snapshot(FORMAT, b"c", taken_at=AT, keep=2, chunks=[shared, third, third])
    # "a" was pruned: its own chunk goes, the shared one stays.
    assert ledger.snapshot_chunks(digests) == {c.digest: c.body for c in (shared, second, third)}


def test_a_chunk_whose_digest_does_not_name_its_body_is_refused(ledger: LedgerStore) -> None:
    wrong = SnapshotChunk(hashlib.sha256(b"other").digest(), b"body")
    with pytest.raises(ValidationError, match="digest"):
        ledger.save_snapshot(FORMAT, b"x", taken_at=AT, chunks=[wrong])
    assert list(ledger.snapshots(FORMAT)) == []
