"""The LedgerStore contract, run unchanged against every backend (see conftest.py)."""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osed.domain.cts.tenders import Side
from osed.domain.errors import ValidationError
from osed.domain.ledger import GENESIS_HASH, LedgerEntry, chain_hash
from osed.domain.time import Interval
from osed.ledger.positions import net_positions, positions_of_rows
from osed.ledger.verify import verify_store
from osed.ports.ledger import AppendResult, LedgerHead, LedgerStore
from tests.contract.storage.backends import Backend
from tests.unit.storage.store_samples import (
    START,
    entries_strategy,
    entry,
    interval,
    trade,
    trades,
)

AT = datetime(2026, 1, 1, 12, tzinfo=UTC)
MAX_INT64 = 2**63 - 1


def state(store: LedgerStore) -> tuple[object, ...]:
    return store.head(), list(store.raw_rows()), store.all_positions()


# ---------------------------------------------------------------------- appending
def test_an_empty_ledger_has_the_genesis_head(ledger: LedgerStore) -> None:
    assert ledger.head() == LedgerHead(0, GENESIS_HASH)
    assert ledger.count() == 0
    assert list(ledger.entries()) == []
    assert verify_store(ledger).ok


def test_append_stores_entries_with_the_chain_hash(ledger: LedgerStore) -> None:
    message_id, entries = trade(1)
    result = ledger.append(message_id, entries)
    assert not result.duplicate
    assert [stored.seq for stored in result.entries] == [1, 2]
    first = chain_hash(GENESIS_HASH, 1, message_id, entries[0].canonical())
    second = chain_hash(first, 2, message_id, entries[1].canonical())
    assert [stored.hash for stored in result.entries] == [first, second]
    assert [stored.entry for stored in ledger.entries()] == entries
    assert ledger.head() == LedgerHead(2, second)
    assert list(ledger.raw_rows()) == [
        (1, message_id.encode(), entries[0].canonical(), first),
        (2, message_id.encode(), entries[1].canonical(), second),
    ]


def test_reading_from_a_seq_on(ledger: LedgerStore) -> None:
    ledger.append_many(trades(5))
    assert [stored.seq for stored in ledger.entries(after_seq=7)] == [8, 9, 10]
    assert [row[0] for row in ledger.raw_rows(after_seq=3, up_to_seq=6)] == [4, 5, 6]
    assert [row[0] for row in ledger.raw_rows(up_to_seq=2)] == [1, 2]


def test_a_retried_message_writes_nothing_and_returns_the_first_result(
    ledger: LedgerStore,
) -> None:
    message_id, entries = trade(1)
    first = ledger.append(message_id, entries)
    # A retry after a restart may carry a new commit time: the first recorded entries win.
    _, changed = trade(1, quantity=99)
    again = ledger.append(message_id, changed)
    assert again.duplicate
    assert again.entries == first.entries
    assert ledger.count() == 2
    assert {row.party: row.quantity for row in ledger.all_positions()} == {"alice": 10, "bob": -10}


def test_a_message_repeated_inside_one_batch_is_recorded_once(ledger: LedgerStore) -> None:
    results = ledger.append_many([trade(1), trade(2), trade(1)])
    assert [result.duplicate for result in results] == [False, False, True]
    assert results[2].entries == results[0].entries
    assert ledger.count() == 4


def test_an_empty_message_is_remembered(ledger: LedgerStore) -> None:
    assert not ledger.append("clear:nothing", []).duplicate
    assert ledger.append("clear:nothing", []).duplicate
    assert ledger.count() == 0


def test_a_thousand_random_retries_record_no_duplicate(ledger: LedgerStore) -> None:
    generator = random.Random(7)
    sent = trades(200)
    ledger.append_many(sent[:100])
    for _ in range(1_000):
        message_id, entries = generator.choice(sent[:100])
        assert ledger.append(message_id, entries).duplicate
    ledger.append_many(sent)  # half retries, half new
    assert ledger.count() == 400
    assert len({stored.entry.transaction_id for stored in ledger.entries()}) == 400


messages = st.lists(entries_strategy, min_size=0, max_size=3)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    batches=st.lists(
        st.lists(st.tuples(st.integers(0, 7), messages), max_size=4), min_size=1, max_size=6
    )
)
def test_random_batches_with_retries_record_each_message_once(
    ledger_backend: Backend[LedgerStore], batches: list[list[tuple[int, list[LedgerEntry]]]]
) -> None:
    store = ledger_backend.fresh()
    first_results: dict[str, AppendResult] = {}
    committed: list[LedgerEntry] = []
    for batch in batches:
        sent = [(f"msg-{number}", entries) for number, entries in batch]
        results = store.append_many(sent)
        for (message_id, entries), result in zip(sent, results, strict=True):
            if message_id in first_results:
                assert result.duplicate
                assert result.entries == first_results[message_id].entries
            else:
                assert not result.duplicate
                assert [stored.entry for stored in result.entries] == entries
                first_results[message_id] = result
                committed.extend(entries)
    assert [stored.entry for stored in store.entries()] == committed
    assert positions_of_rows(store.all_positions()) == net_positions(committed)
    assert verify_store(store).ok


# ---------------------------------------------------------------------- atomicity
def test_a_bad_entry_in_a_batch_writes_nothing(ledger: LedgerStore) -> None:
    ledger.append_many(trades(3))
    before = state(ledger)
    bad_id, bad_entries = trade(10)
    bad_entries[1] = entry(party="bo\x1fb", side=Side.SELL)
    with pytest.raises(ValidationError) as info:
        ledger.append_many([*trades(5, first=3), (bad_id, bad_entries)])
    assert info.value.problems[0].path == "$.entries[1].party"
    assert state(ledger) == before
    assert verify_store(ledger).ok


def test_a_failure_inside_the_transaction_writes_nothing(ledger: LedgerStore) -> None:
    # Each entry is valid, but the position they add up to overflows a 64-bit integer: the
    # database refuses the position update after it has taken the entries, and all goes back.
    ledger.append("big-1", [entry(quantity=MAX_INT64)])
    before = state(ledger)
    with pytest.raises(ValidationError, match="rejected"):
        ledger.append_many([*trades(3, first=1), ("big-2", [entry(quantity=MAX_INT64)])])
    assert state(ledger) == before
    assert not ledger.append(*trades(1, first=1)[0]).duplicate  # nothing of it was recorded
    assert verify_store(ledger).ok


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
    ledger: LedgerStore, field: str, value: str
) -> None:
    bad = replace(entry(), **{field: value})
    with pytest.raises(ValidationError) as info:
        ledger.append("m-1", [bad])
    assert info.value.problems[0].path == f"$.entries[0].{field}"
    assert ledger.count() == 0


@pytest.mark.parametrize("message_id", ["", "a\x1fb", "a\tb", "x\x7f"])
def test_message_ids_with_control_characters_are_rejected(
    ledger: LedgerStore, message_id: str
) -> None:
    with pytest.raises(ValidationError, match=r"\$\.messageId"):
        ledger.append(message_id, [entry()])
    assert ledger.count() == 0


def test_entries_that_would_not_survive_the_canonical_form_are_rejected(
    ledger: LedgerStore,
) -> None:
    naive = replace(entry(), committed_at=datetime(2026, 1, 1))  # noqa: DTZ001
    fractional = replace(entry(), interval=Interval(START, timedelta(seconds=1.5)))
    negative = replace(entry(), quantity=-1)
    huge = replace(entry(), quantity=2**63)
    with pytest.raises(ValidationError) as info:
        ledger.append_many([("m", [naive, fractional, negative, huge])])
    codes = [problem.code for problem in info.value.problems]
    assert codes == ["naive_datetime", "fractional_seconds", "negative", "not_int64"]
    assert ledger.count() == 0


def test_printable_but_unusual_text_is_accepted(ledger: LedgerStore) -> None:
    unusual = replace(entry(), party="Zoë\u00a0Energy")  # a no-break space is not a control
    ledger.append("m", [unusual])
    assert next(ledger.entries()).entry.party == "Zoë\u00a0Energy"
    assert verify_store(ledger).ok


# ---------------------------------------------------------------------- positions
def test_positions_are_per_party_interval_and_scale(ledger: LedgerStore) -> None:
    ledger.append_many(
        [
            ("a", [entry(quantity=5), entry(quantity=3, side=Side.SELL)]),
            ("b", [entry(quantity=7, interval_index=1), entry(quantity=2, quantity_scale=0)]),
        ]
    )
    rows = {(r.interval, r.quantity_scale): r.quantity for r in ledger.positions("alice")}
    assert rows == {(interval(0), 3): 2, (interval(1), 3): 7, (interval(0), 0): 2}
    assert ledger.positions("nobody") == []


def test_positions_within_an_interval_are_those_overlapping_it(ledger: LedgerStore) -> None:
    ledger.append_many(trades(10))  # alice trades in intervals 0, 2, 3 and 4 (15 minutes each)
    within = Interval(START + timedelta(minutes=20), timedelta(minutes=20))  # overlaps 1 and 2
    assert {row.interval for row in ledger.positions("alice", within)} == {interval(2)}
    assert {row.interval for row in ledger.positions("alice")} == {
        interval(0),
        interval(2),
        interval(3),
        interval(4),
    }


def test_positions_equal_the_ledger_sums(ledger: LedgerStore) -> None:
    ledger.append_many(trades(40))
    ledger.append_many(trades(60, first=20))  # a third of them retries
    stored = positions_of_rows(ledger.all_positions())
    assert stored == net_positions(item.entry for item in ledger.entries())
    assert stored == net_positions(e for _, entries in trades(80) for e in entries)


# ---------------------------------------------------------------------- reopening
def test_reopening_continues_the_chain(ledger_backend: Backend[LedgerStore]) -> None:
    first = ledger_backend.open()
    first.append_many(trades(3))
    head = first.head()
    first.close()
    again = ledger_backend.open()
    assert again.head() == head
    result = again.append(*trade(3))
    assert result.entries[0].seq == head.count + 1
    expected = chain_hash(
        head.last_hash, head.count + 1, "clear:m1:3", result.entries[0].entry.canonical()
    )
    assert result.entries[0].hash == expected
    assert again.append(*trade(1)).duplicate  # remembered across the reopen
    assert verify_store(again).ok


def test_two_stores_on_the_same_ledger_see_each_other(
    ledger_backend: Backend[LedgerStore],
) -> None:
    one, two = ledger_backend.open(), ledger_backend.open()
    one.append_many(trades(2))
    result = two.append_many(trades(3))  # the first two are retries
    assert [r.duplicate for r in result] == [True, True, False]
    assert result[2].entries[0].seq == 5
    assert one.head() == two.head()
    assert verify_store(one).ok


def test_concurrent_appends_from_two_connections_keep_one_chain(
    ledger_backend: Backend[LedgerStore],
) -> None:
    sent = trades(300)
    errors: list[BaseException] = []
    results: dict[str, list[AppendResult]] = {}

    def writer(name: str, order: list[tuple[str, list[LedgerEntry]]]) -> None:
        store = ledger_backend.open(closed_by_caller=True)
        try:
            appended: list[AppendResult] = []
            for first in range(0, len(order), 10):
                appended += store.append_many(order[first : first + 10])
            results[name] = appended
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    # Created first: two SQLite stores creating one file at once can meet a locked database.
    ledger_backend.open().close()
    # Both send every message, in different orders: each must be recorded exactly once.
    shuffled = list(sent)
    random.Random(3).shuffle(shuffled)
    threads = [
        threading.Thread(target=writer, args=("a", sent)),
        threading.Thread(target=writer, args=("b", shuffled)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    new = [r for name in "ab" for r in results[name] if not r.duplicate]
    assert len(new) == len(sent)
    store = ledger_backend.open()
    assert store.count() == 2 * len(sent)
    assert [item.seq for item in store.entries()] == list(range(1, 2 * len(sent) + 1))
    by_message: dict[str, list[int]] = {}
    for item in store.entries():
        by_message.setdefault(item.message_id, []).append(item.seq)
    assert len(by_message) == len(sent)
    assert all(seqs == [seqs[0], seqs[0] + 1] for seqs in by_message.values())
    assert verify_store(store).ok


# ---------------------------------------------------------------------- traces
def test_traces_record_every_message_in_order(ledger: LedgerStore) -> None:
    ledger.trace("req-1", "EiCreateTender", AT, '{"tender": 1}\n')
    ledger.trace("req-2", "EiCancelTender", AT + timedelta(seconds=1), "{}")
    records = list(ledger.traces())
    assert [(r.seq, r.message_id, r.kind) for r in records] == [
        (1, "req-1", "EiCreateTender"),
        (2, "req-2", "EiCancelTender"),
    ]
    assert records[0].received_at == AT
    assert records[0].body == '{"tender": 1}\n'
    with pytest.raises(ValidationError):
        ledger.trace("bad\x1fid", "k", AT, "")
    with pytest.raises(ValidationError):
        ledger.trace("id", "k", datetime(2026, 1, 1), "")  # noqa: DTZ001


def test_traces_are_durable_with_the_next_append_flush_or_close(
    ledger_backend: Backend[LedgerStore],
) -> None:
    writer, reader = ledger_backend.open(), ledger_backend.open()
    writer.trace("m1", "EiCreateTender", AT, "{}")
    writer.trace("m2", "EiCreateTender", AT, "{}")
    assert list(reader.traces()) == []  # buffered: no commit of their own
    writer.append(*trade(1))
    assert [r.message_id for r in reader.traces()] == ["m1", "m2"]
    writer.trace("m3", "EiCancelTender", AT, "{}")
    writer.flush()
    assert len(list(reader.traces())) == 3
    writer.trace("m4", "EiCancelTender", AT, "{}")
    writer.close()
    assert [r.message_id for r in reader.traces()] == ["m1", "m2", "m3", "m4"]


def test_a_full_trace_buffer_is_written_at_once(ledger_backend: Backend[LedgerStore]) -> None:
    writer, reader = ledger_backend.open(), ledger_backend.open()
    for n in range(ledger_backend.trace_buffer_rows):
        writer.trace(f"m{n}", "EiCreateTender", AT, "{}")
    records = list(reader.traces())
    assert len(records) == ledger_backend.trace_buffer_rows
    assert [r.message_id for r in records][:2] == ["m0", "m1"]
