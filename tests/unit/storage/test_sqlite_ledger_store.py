"""SqliteLedgerStore: append, idempotency, atomicity, positions, traces, reopening, schema."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from store_samples import START, entry, interval, trade, trades

from osed.domain.cts.tenders import Side
from osed.domain.errors import ConfigurationError, IntegrityError, ValidationError
from osed.domain.ledger import GENESIS_HASH, chain_hash
from osed.domain.time import Interval
from osed.ledger.verify import verify_store
from osed.storage._schema import SCHEMA_VERSION
from osed.storage.sqlite import SqliteLedgerStore


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def store(path: Path) -> Iterator[SqliteLedgerStore]:
    with SqliteLedgerStore(path) as opened:
        yield opened


def test_append_stores_entries_with_the_chain_hash(store: SqliteLedgerStore) -> None:
    message_id, entries = trade(1)
    result = store.append(message_id, entries)
    assert not result.duplicate
    assert [stored.seq for stored in result.entries] == [1, 2]
    first = chain_hash(GENESIS_HASH, 1, message_id, entries[0].canonical())
    second = chain_hash(first, 2, message_id, entries[1].canonical())
    assert [stored.hash for stored in result.entries] == [first, second]
    assert [stored.entry for stored in store.entries()] == entries
    assert store.head().count == 2
    assert store.head().last_hash == second


def test_a_retried_message_writes_nothing_and_returns_the_first_result(
    store: SqliteLedgerStore,
) -> None:
    message_id, entries = trade(1)
    first = store.append(message_id, entries)
    # A retry after a restart may carry a new commit time: the first recorded entries win.
    _, changed = trade(1, quantity=99)
    again = store.append(message_id, changed)
    assert again.duplicate
    assert again.entries == first.entries
    assert store.count() == 2
    assert {row.party: row.quantity for row in store.all_positions()} == {"alice": 10, "bob": -10}


def test_a_message_repeated_inside_one_batch_is_recorded_once(store: SqliteLedgerStore) -> None:
    batch = [trade(1), trade(2), trade(1)]
    results = store.append_many(batch)
    assert [result.duplicate for result in results] == [False, False, True]
    assert results[2].entries == results[0].entries
    assert store.count() == 4


def test_an_empty_message_is_remembered(store: SqliteLedgerStore) -> None:
    assert not store.append("clear:nothing", []).duplicate
    assert store.append("clear:nothing", []).duplicate
    assert store.count() == 0


def test_a_bad_entry_in_a_batch_writes_nothing(store: SqliteLedgerStore) -> None:
    store.append_many(trades(3))
    before = (store.head(), list(store.raw_rows()), store.all_positions())
    bad_id, bad_entries = trade(10)
    bad_entries[1] = entry(party="bo\x1fb", side=Side.SELL)
    with pytest.raises(ValidationError) as info:
        store.append_many([*trades(5, first=3), (bad_id, bad_entries)])
    assert info.value.problems[0].path == "$.entries[1].party"
    assert (store.head(), list(store.raw_rows()), store.all_positions()) == before
    assert verify_store(store).ok


def test_a_failure_inside_the_transaction_rolls_everything_back(
    store: SqliteLedgerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.append_many(trades(2))
    before = (store.head(), list(store.raw_rows()), store.all_positions())
    from osed.storage import sqlite as module

    def failing_position_rows(self: object) -> list[tuple[str, int, int, int, int]]:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(module._BatchPlan, "position_rows", failing_position_rows)
    with pytest.raises(IntegrityError):
        store.append_many(trades(3, first=2))
    assert (store.head(), list(store.raw_rows()), store.all_positions()) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("party", "al\x1fice"),
        ("party", "al\nice"),
        ("transaction_id", ""),
        ("counter_party", "b\x00b"),
        ("market_id", "m\x85"),
        ("currency", "\ud800"),
    ],
)
def test_ids_with_control_characters_are_rejected(
    store: SqliteLedgerStore, field: str, value: str
) -> None:
    bad = replace(entry(), **{field: value})
    with pytest.raises(ValidationError) as info:
        store.append("m-1", [bad])
    assert info.value.problems[0].path == f"$.entries[0].{field}"
    assert store.count() == 0


@pytest.mark.parametrize("message_id", ["", "a\x1fb", "a\tb", "x\x7f"])
def test_message_ids_with_control_characters_are_rejected(
    store: SqliteLedgerStore, message_id: str
) -> None:
    with pytest.raises(ValidationError, match=r"\$\.messageId"):
        store.append(message_id, [entry()])
    assert store.count() == 0


def test_entries_that_would_not_survive_the_canonical_form_are_rejected(
    store: SqliteLedgerStore,
) -> None:
    naive = replace(entry(), committed_at=datetime(2026, 1, 1))  # noqa: DTZ001
    fractional = replace(entry(), interval=Interval(START, timedelta(seconds=1.5)))
    negative = replace(entry(), quantity=-1)
    huge = replace(entry(), quantity=2**63)
    with pytest.raises(ValidationError) as info:
        store.append_many([("m", [naive, fractional, negative, huge])])
    codes = [problem.code for problem in info.value.problems]
    assert codes == ["naive_datetime", "fractional_seconds", "negative", "not_int64"]
    assert store.count() == 0


def test_printable_but_unusual_text_is_accepted(store: SqliteLedgerStore) -> None:
    unusual = replace(entry(), party="Zoë\u00a0Energy")  # a no-break space is not a control
    store.append("m", [unusual])
    assert next(store.entries()).entry.party == "Zoë\u00a0Energy"


def test_positions_are_per_party_interval_and_scale(store: SqliteLedgerStore) -> None:
    store.append_many(
        [
            ("a", [entry(quantity=5), entry(quantity=3, side=Side.SELL)]),
            ("b", [entry(quantity=7, interval_index=1), entry(quantity=2, quantity_scale=0)]),
        ]
    )
    rows = {(r.interval, r.quantity_scale): r.quantity for r in store.positions("alice")}
    assert rows == {(interval(0), 3): 2, (interval(1), 3): 7, (interval(0), 0): 2}
    assert store.positions("nobody") == []


def test_positions_within_an_interval_are_those_overlapping_it(store: SqliteLedgerStore) -> None:
    store.append_many(trades(10))  # alice trades in intervals 0, 2, 3 and 4 (15 minutes each)
    within = Interval(START + timedelta(minutes=20), timedelta(minutes=20))  # overlaps 1 and 2
    assert {row.interval for row in store.positions("alice", within)} == {interval(2)}
    assert {row.interval for row in store.positions("alice")} == {
        interval(0),
        interval(2),
        interval(3),
        interval(4),
    }


def test_reopening_continues_the_chain(path: Path) -> None:
    with SqliteLedgerStore(path) as first:
        first.append_many(trades(3))
        head = first.head()
    with SqliteLedgerStore(path) as again:
        assert again.head() == head
        result = again.append(*trade(3))
        assert result.entries[0].seq == head.count + 1
        expected = chain_hash(
            head.last_hash, head.count + 1, "clear:m1:3", result.entries[0].entry.canonical()
        )
        assert result.entries[0].hash == expected
        assert again.append(*trade(1)).duplicate  # remembered across the reopen
        assert verify_store(again).ok


def test_schema_version_is_recorded_and_a_newer_file_is_refused(path: Path) -> None:
    SqliteLedgerStore(path).close()
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.commit()
    connection.close()
    with pytest.raises(ConfigurationError, match="newer"):
        SqliteLedgerStore(path)


def test_a_foreign_database_is_not_taken_for_a_ledger(path: Path) -> None:
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE other (x)")
    connection.commit()
    connection.close()
    with pytest.raises(ConfigurationError, match="not an OSED ledger"):
        SqliteLedgerStore(path)
    with pytest.raises(ConfigurationError):
        SqliteLedgerStore.open_existing(path)


def test_ledger_rows_cannot_be_updated_or_deleted_through_sql(path: Path) -> None:
    with SqliteLedgerStore(path) as store:
        store.append(*trade(1))
    connection = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        connection.execute("UPDATE ledger SET entry = X'00' WHERE seq = 1")
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        connection.execute("DELETE FROM ledger WHERE seq = 2")
    connection.close()


def test_appending_onto_a_truncated_ledger_is_refused(path: Path) -> None:
    with SqliteLedgerStore(path) as store:
        store.append_many(trades(3))
    connection = sqlite3.connect(path)
    connection.execute("DROP TRIGGER ledger_no_delete")
    connection.execute("DELETE FROM ledger WHERE seq = 6")
    connection.commit()
    connection.close()
    with SqliteLedgerStore(path) as store, pytest.raises(IntegrityError, match="head"):
        store.append(*trade(9))


def test_traces_record_every_message_in_order(store: SqliteLedgerStore) -> None:
    at = datetime(2026, 1, 1, 12, tzinfo=UTC)
    store.trace("req-1", "EiCreateTender", at, '{"tender": 1}\n')
    store.trace("req-2", "EiCancelTender", at + timedelta(seconds=1), "{}")
    records = list(store.traces())
    assert [(r.seq, r.message_id, r.kind) for r in records] == [
        (1, "req-1", "EiCreateTender"),
        (2, "req-2", "EiCancelTender"),
    ]
    assert records[0].received_at == at
    assert records[0].body == '{"tender": 1}\n'
    with pytest.raises(ValidationError):
        store.trace("bad\x1fid", "k", at, "")
    with pytest.raises(ValidationError):
        store.trace("id", "k", datetime(2026, 1, 1), "")  # noqa: DTZ001


def test_a_read_only_store_refuses_writes(path: Path) -> None:
    SqliteLedgerStore(path).close()
    with SqliteLedgerStore.open_existing(path) as store, pytest.raises(ConfigurationError):
        store.append(*trade(1))
