"""The verifier's trace check (``check_trace``: texts joined by SQLite, no records built, in
ranges) names the same damage as reading the trace (``traces``), whatever was done to it."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_samples import copy_without_triggers, trades

from osed.cli import ledger as cli_ledger
from osed.domain.errors import IntegrityError
from osed.ledger.verify import Finding
from osed.storage.sqlite import SqliteLedgerStore

AT = datetime(2026, 1, 1, 12, tzinfo=UTC)
ROWS = 30
KINDS = ["EiCreateTender", "EiCancelTender", "EiCreateTransaction"]


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ledger whose trace was written in several flushes, rows of a flush sharing an instant."""
    path = tmp_path_factory.mktemp("traced") / "ledger.db"
    with SqliteLedgerStore(path) as store:
        store.append_many(trades(4))
        for n in range(ROWS):
            at = AT + timedelta(seconds=n // 4)
            body = f'{{"n": {n}, "text": "é"}}' + ("\x00 and after a NUL" if n % 5 == 0 else "")
            store.trace(f"m{n}", KINDS[n % 3], at, body)
            if n % 4 == 3:
                store.flush()
    return path


def damage_read(path: Path, after_seq: int) -> str | None:
    """What reading the trace from ``after_seq`` refuses, as recovery reads it."""
    with SqliteLedgerStore.open_existing(path) as store:
        try:
            for _ in store.traces(after_seq=after_seq):
                pass
        except IntegrityError as exc:
            return str(exc)
    return None


def damage_checked(path: Path, after_seq: int, cut: int | None = None) -> str | None:
    """The verifier's check from ``after_seq``, in two ranges split after ``cut`` if given."""
    with SqliteLedgerStore.open_existing(path) as store:
        if cut is None or cut <= after_seq:
            return store.check_trace(after_seq=after_seq).damage
        first = store.check_trace(after_seq=after_seq, up_to_seq=cut)
        second = store.check_trace(after_seq=cut)
    return first.damage if first.damage is not None else second.damage


def loosened(path: Path) -> None:
    """The trace table without STRICT, so that a raw edit can store any type."""
    connection = sqlite3.connect(path)
    connection.executescript(
        """
        CREATE TABLE loose (seq INTEGER PRIMARY KEY, message_id, kind, received_at, body, hash);
        INSERT INTO loose SELECT * FROM trace;
        DROP TABLE trace;
        ALTER TABLE loose RENAME TO trace;
        """
    )
    connection.close()


EDITS = [
    "UPDATE trace SET body = body || ' ' WHERE seq = {seq}",
    "UPDATE trace SET kind = 'EiCancelTender' WHERE seq = {seq}",
    "UPDATE trace SET message_id = 'forged' WHERE seq = {seq}",
    "UPDATE trace SET received_at = '2026-01-01T12:59:59+00:00' WHERE seq = {seq}",
    "UPDATE trace SET received_at = 'yesterday' WHERE seq = {seq}",
    "UPDATE trace SET received_at = NULL WHERE seq = {seq}",
    "UPDATE trace SET hash = NULL WHERE seq = {seq}",
    "UPDATE trace SET hash = zeroblob(32) WHERE seq = {seq}",
    "UPDATE trace SET hash = 7 WHERE seq = {seq}",
    "UPDATE trace SET body = 12 WHERE seq = {seq}",
    "UPDATE trace SET kind = x'00ff' WHERE seq = {seq}",
    "UPDATE trace SET message_id = NULL WHERE seq = {seq}",
    "DELETE FROM trace WHERE seq = {seq}",
    "UPDATE trace SET seq = seq + 1000 WHERE seq = {seq}",
    "UPDATE trace SET hash = NULL WHERE seq <= {seq}",  # an older file's unhashed prefix
]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    edits=st.lists(st.tuples(st.sampled_from(EDITS), st.integers(1, ROWS)), min_size=0, max_size=2),
    after_seq=st.integers(0, ROWS),
    cut=st.none() | st.integers(1, ROWS),
)
def test_the_check_names_what_reading_refuses(
    traced: Path,
    tmp_path_factory: pytest.TempPathFactory,
    edits: list[tuple[str, int]],
    after_seq: int,
    cut: int | None,
) -> None:
    path = copy_without_triggers(traced, tmp_path_factory.mktemp("edited") / "ledger.db")
    loosened(path)
    connection = sqlite3.connect(path)
    for statement, seq in edits:
        connection.execute(statement.format(seq=seq))
    connection.commit()
    connection.close()
    assert damage_checked(path, after_seq, cut) == damage_read(path, after_seq)


def test_an_intact_trace_is_checked_to_its_last_row(traced: Path) -> None:
    with SqliteLedgerStore.open_existing(traced) as store:
        checked = store.check_trace()
        assert checked.damage is None
        assert checked.last_seq == ROWS == store.last_trace_seq()
        assert store.check_trace(after_seq=ROWS).last_seq == ROWS  # nothing after the last


def test_the_file_verifier_checks_the_trace_in_ranges(
    traced: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_ledger, "_TRACE_ROWS_PER_PROCESS", 7)
    path = copy_without_triggers(traced, tmp_path / "ledger.db")
    assert cli_ledger.verify_ledger_file(str(path), workers=3).ok
    connection = sqlite3.connect(path)
    connection.execute("UPDATE trace SET body = '{}' WHERE seq = 27")  # in the last range
    connection.execute("UPDATE trace SET body = '{}' WHERE seq = 13")  # in the second
    connection.commit()
    connection.close()
    report = cli_ledger.verify_ledger_file(str(path), workers=3)
    assert report.problem is Finding.TRACE_MISMATCH
    assert report.detail == damage_read(path, 0)
    assert "trace row 13 is damaged" in report.detail
