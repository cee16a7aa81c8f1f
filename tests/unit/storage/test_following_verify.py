"""Verifying a ledger file while it grows reports what one pass over the finished file reports,
for a row altered before the follower reached it too."""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_samples import START, trade

from osed.cli._following_verify import FollowingVerifier, verifying_alongside
from osed.ledger.verify import Finding, VerifyReport, verify_store
from osed.storage.sqlite import SqliteLedgerStore

FILES = itertools.count()


def grow(store: SqliteLedgerStore, first: int, count: int) -> None:
    """``count`` trades, each traced before it is appended, as the Market Agent does."""
    for number in range(first, first + count):
        message_id, entries = trade(
            number, buyer=("alice", "bob")[number % 2], seller="carol", interval_index=number % 3
        )
        store.trace(message_id, "ClearInterval", START + timedelta(seconds=number), "{}")
        store.append(message_id, entries)


def single_pass(path: Path) -> VerifyReport:
    with SqliteLedgerStore.open_existing(path) as store:
        return verify_store(store)


def tamper(path: Path, statement: str) -> None:
    connection = sqlite3.connect(path)
    connection.execute("DROP TRIGGER IF EXISTS ledger_no_update")
    connection.execute("DROP TRIGGER IF EXISTS ledger_no_delete")
    connection.execute(statement)
    connection.commit()
    connection.close()


TAMPERINGS = [
    "UPDATE ledger SET entry = CAST(replace(CAST(entry AS TEXT), 'carol', 'carom') AS BLOB)"
    " WHERE seq = (SELECT max(seq) - 1 FROM ledger)",
    "DELETE FROM ledger WHERE seq = (SELECT max(seq) - 2 FROM ledger)",
    "DELETE FROM ledger WHERE seq = (SELECT max(seq) FROM ledger)",
    "UPDATE head SET entry_count = entry_count - 1",
    "UPDATE positions SET quantity = quantity + 1 WHERE party = 'carol'",
    "UPDATE trace SET body = '{ }' WHERE seq = (SELECT max(seq) FROM trace)",
]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batches=st.lists(st.integers(1, 6), min_size=1, max_size=6),
    looks=st.lists(st.booleans(), min_size=6, max_size=6),
    tampering=st.none() | st.sampled_from(TAMPERINGS),
)
def test_looks_while_it_grows_report_what_one_pass_reports(
    tmp_path: Path, batches: list[int], looks: list[bool], tampering: str | None
) -> None:
    """Looks after any of the batches; a tampering after the last look, at rows no look read
    yet (the last trades), is found as a single pass finds it."""
    path = tmp_path / f"ledger-{next(FILES)}.sqlite"
    SqliteLedgerStore(path).close()
    with SqliteLedgerStore.open_existing(path) as reader:
        verifier = FollowingVerifier(reader)
        with SqliteLedgerStore(path) as writer:
            first = 0
            for count, look in zip(batches, looks, strict=False):
                grow(writer, first, count)
                writer.flush()
                first += count
                if look:
                    verifier.look()
            grow(writer, first, 3)  # the rows a tampering changes
        if tampering is not None:
            tamper(path, tampering)
        report = verifier.report()
    expected = single_pass(path)
    assert report == expected
    assert report.ok is (tampering is None)


def test_a_row_changed_after_its_look_is_left_to_a_later_verify(tmp_path: Path) -> None:
    """What the report does not cover: a row read by an earlier look is not read again."""
    path = tmp_path / "ledger.sqlite"
    with SqliteLedgerStore(path) as writer:
        grow(writer, 0, 4)
    with SqliteLedgerStore.open_existing(path) as reader:
        verifier = FollowingVerifier(reader)
        verifier.look()
        tamper(path, TAMPERINGS[0])
        assert verifier.report().ok
    assert single_pass(path).problem is Finding.HASH_MISMATCH


def test_the_following_process_reports_on_the_file_its_writer_grew(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    SqliteLedgerStore(path).close()
    with verifying_alongside(path) as following, SqliteLedgerStore(path) as writer:
        grow(writer, 0, 50)
        writer.flush()
        report = following.report()
    assert report == single_pass(path)
    assert report.ok
    assert report.entries == 100


def test_if_the_following_process_dies_the_file_is_verified_here(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    SqliteLedgerStore(path).close()
    with verifying_alongside(path) as following:
        with SqliteLedgerStore(path) as writer:
            grow(writer, 0, 5)
        os.kill(following.pid, signal.SIGKILL)
        tamper(path, TAMPERINGS[1])
        report = following.report()
    assert report == single_pass(path)
    assert report.problem is Finding.MISSING_ENTRY


@pytest.mark.parametrize("statement", ["DELETE FROM head"])
def test_an_unreadable_head_is_reported(tmp_path: Path, statement: str) -> None:
    path = tmp_path / "ledger.sqlite"
    with SqliteLedgerStore(path) as writer:
        grow(writer, 0, 2)
    tamper(path, statement)
    with SqliteLedgerStore.open_existing(path) as reader:
        report = FollowingVerifier(reader).report()
    assert report.problem is Finding.UNREADABLE
