"""Tampering with the file through sqlite3 directly is found, and the first bad seq is named."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_samples import copy_without_triggers, trades, written_ledger

from osed.cli import ledger as cli_ledger
from osed.ledger.positions import net_positions
from osed.ledger.verify import Finding, VerifyReport, verify_store
from osed.ports.ledger import LedgerHead
from osed.storage.sqlite import SqliteLedgerStore

ENTRIES = 40  # 20 trades


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return written_ledger(tmp_path_factory.mktemp("pristine") / "ledger.db", ENTRIES // 2)


@pytest.fixture
def ledger(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "ledger.db"
    copy_without_triggers(pristine, copy)
    return copy


def tamper(path: Path, statement: str, *parameters: object) -> None:
    connection = sqlite3.connect(path)
    connection.execute(statement, parameters)
    connection.commit()
    connection.close()


def both_reports(path: Path, anchor: LedgerHead | None = None) -> list[VerifyReport]:
    """The single-pass engine over the store, and the file verifier in parallel segments."""
    with SqliteLedgerStore.open_existing(path) as store:
        single = verify_store(store, anchor=anchor)
    parallel = cli_ledger.verify_ledger_file(str(path), anchor=anchor, workers=3)
    return [single, parallel]


@pytest.fixture(autouse=True)
def small_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    # Exercise the multi-process path on a small ledger (forked workers see the patch).
    monkeypatch.setattr(cli_ledger, "_ROWS_PER_PROCESS", 7)


def test_an_untouched_ledger_verifies(ledger: Path) -> None:
    for report in both_reports(ledger):
        assert report.ok, report
        assert report.entries == ENTRIES


def flip(value: bytes, index: int, bit: int) -> bytes:
    data = bytearray(value)
    data[index % len(data)] ^= 1 << bit
    return bytes(data)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    flip_at=st.tuples(
        st.integers(1, ENTRIES),
        st.sampled_from(["message_id", "entry", "hash"]),
        st.integers(0, 10_000),
        st.integers(0, 7),
    )
)
def test_one_flipped_byte_in_any_column_of_any_row_names_that_row(
    pristine: Path, tmp_path_factory: pytest.TempPathFactory, flip_at: tuple[int, str, int, int]
) -> None:
    seq, column, index, bit = flip_at
    path = tmp_path_factory.mktemp("flip") / "ledger.db"
    copy_without_triggers(pristine, path)
    connection = sqlite3.connect(path)
    (value,) = connection.execute(
        f"SELECT CAST({column} AS BLOB) FROM ledger WHERE seq = ?", (seq,)
    ).fetchone()
    if column == "message_id":
        # The column is STRICT TEXT: flip one of the low 7 bits of an ASCII byte so it stays text.
        new_value: object = flip(value, index, bit % 7).decode()
    else:
        new_value = flip(value, index, bit)
    connection.execute(f"UPDATE ledger SET {column} = ? WHERE seq = ?", (new_value, seq))
    connection.commit()
    connection.close()
    for report in both_reports(path):
        assert not report.ok
        assert report.first_bad_seq == seq, report
        assert report.problem in {Finding.HASH_MISMATCH, Finding.UNDECODABLE_ENTRY}
        assert report.entries == seq - 1


@pytest.mark.parametrize("seq", [1, 17, ENTRIES])
@pytest.mark.parametrize("bit", [6, 9, 40, 62])  # lower bits land on another row's key
def test_a_flipped_bit_in_the_seq_column_names_the_row(ledger: Path, seq: int, bit: int) -> None:
    altered = seq ^ (1 << bit)
    tamper(ledger, "UPDATE ledger SET seq = ? WHERE seq = ?", altered, seq)
    for report in both_reports(ledger):
        assert not report.ok
        assert report.first_bad_seq == seq, report


def test_a_seq_flipped_below_one_is_found(ledger: Path) -> None:
    tamper(ledger, "UPDATE ledger SET seq = 0 WHERE seq = 1")
    for report in both_reports(ledger):
        assert (report.problem, report.first_bad_seq) == (Finding.MISSING_ENTRY, 1), report


def test_a_deleted_middle_row_is_named(ledger: Path) -> None:
    tamper(ledger, "DELETE FROM ledger WHERE seq = 13")
    for report in both_reports(ledger):
        assert (report.problem, report.first_bad_seq, report.entries) == (
            Finding.MISSING_ENTRY,
            13,
            12,
        )


def test_deleted_last_rows_are_found_against_the_head(ledger: Path) -> None:
    tamper(ledger, "DELETE FROM ledger WHERE seq > ?", ENTRIES - 10)
    for report in both_reports(ledger):
        assert (report.problem, report.first_bad_seq) == (Finding.MISSING_TAIL, ENTRIES - 9)


def test_deleted_last_rows_with_a_rewritten_head_need_an_anchor(ledger: Path) -> None:
    with SqliteLedgerStore.open_existing(ledger) as store:
        anchor = store.head()
        kept_hash = next(iter(store.raw_rows(after_seq=ENTRIES - 11, up_to_seq=ENTRIES - 10)))[3]
    tamper(ledger, "DELETE FROM ledger WHERE seq > ?", ENTRIES - 10)
    tamper(ledger, "UPDATE head SET entry_count = ?, last_hash = ?", ENTRIES - 10, kept_hash)
    _recompute_positions(ledger)
    # Without an anchor a consistent truncation cannot be seen ...
    for report in both_reports(ledger):
        assert report.ok, report
    # ... against a head kept elsewhere it is.
    for report in both_reports(ledger, anchor=anchor):
        assert (report.problem, report.first_bad_seq) == (Finding.MISSING_TAIL, ENTRIES - 9)


def test_a_rewritten_history_is_found_against_an_anchor(ledger: Path, tmp_path: Path) -> None:
    with SqliteLedgerStore.open_existing(ledger) as store:
        anchor = LedgerHead(10, next(iter(store.raw_rows(after_seq=9, up_to_seq=10)))[3])
    rewritten = tmp_path / "rewritten.db"
    with SqliteLedgerStore(rewritten) as store:
        store.append_many(trades(ENTRIES // 2, first=100))  # same shape, other content
    for report in both_reports(rewritten):
        assert report.ok  # self-consistent ...
    for report in both_reports(rewritten, anchor=anchor):
        assert (report.problem, report.first_bad_seq) == (Finding.ANCHOR_MISMATCH, 10)


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        ("UPDATE head SET entry_count = entry_count + 1", Finding.MISSING_TAIL),
        ("UPDATE head SET entry_count = entry_count - 1", Finding.UNEXPECTED_ENTRY),
        (
            "UPDATE head SET last_hash = CAST(zeroblob(32) AS BLOB)",
            Finding.HEAD_MISMATCH,
        ),
        ("DELETE FROM head", Finding.UNREADABLE),
    ],
)
def test_an_altered_head_record_is_found(ledger: Path, statement: str, problem: Finding) -> None:
    tamper(ledger, statement)
    if problem is Finding.UNREADABLE:
        assert cli_ledger.verify_ledger_file(str(ledger)).problem is problem
        return
    for report in both_reports(ledger):
        assert report.problem is problem, report


@pytest.mark.parametrize("index", [0, 5, 31])
def test_a_flipped_byte_in_the_head_hash_is_found(ledger: Path, index: int) -> None:
    connection = sqlite3.connect(ledger)
    (value,) = connection.execute("SELECT last_hash FROM head").fetchone()
    connection.execute("UPDATE head SET last_hash = ?", (flip(value, index, 2),))
    connection.commit()
    connection.close()
    for report in both_reports(ledger):
        assert report.problem is Finding.HEAD_MISMATCH


def test_a_changed_position_is_reported(ledger: Path) -> None:
    tamper(ledger, "UPDATE positions SET quantity = quantity + 1 WHERE party = 'bob'")
    for report in both_reports(ledger):
        assert report.problem is Finding.POSITION_MISMATCH
        assert "'bob'" in report.detail


def test_a_message_id_that_is_no_longer_utf8_is_read_and_named(ledger: Path) -> None:
    _loosen_ledger_table(ledger)
    tamper(ledger, "UPDATE ledger SET message_id = X'ff636c656172' WHERE seq = 8")
    for report in both_reports(ledger):
        assert (report.problem, report.first_bad_seq) == (Finding.HASH_MISMATCH, 8)


def test_a_wrongly_typed_column_is_a_malformed_row(ledger: Path) -> None:
    # STRICT refuses a wrong type through SQL; recreate the table loosely to simulate a raw edit.
    _loosen_ledger_table(ledger)
    tamper(ledger, "UPDATE ledger SET hash = 12345 WHERE seq = 5")
    for report in both_reports(ledger):
        assert (report.problem, report.first_bad_seq) in {
            (Finding.HASH_MISMATCH, 5),
            (Finding.MALFORMED_ROW, 5),
        }
    tamper(ledger, "UPDATE ledger SET entry = 7 WHERE seq = 3")
    for report in both_reports(ledger):
        assert (report.problem, report.first_bad_seq) == (Finding.MALFORMED_ROW, 3)


def _recompute_positions(path: Path) -> None:
    """What an operator covering their tracks would do: positions from the remaining entries."""
    with SqliteLedgerStore.open_existing(path) as store:
        totals = net_positions(stored.entry for stored in store.entries())
    connection = sqlite3.connect(path)
    connection.execute("DELETE FROM positions")
    for (party, interval, scale), quantity in totals.items():
        start_us = int(interval.start.timestamp()) * 1_000_000
        seconds = int(interval.duration.total_seconds())
        connection.execute(
            "INSERT INTO positions VALUES (?, ?, ?, ?, ?)",
            (party, start_us, seconds, scale, quantity),
        )
    connection.commit()
    connection.close()


def _loosen_ledger_table(path: Path) -> None:
    connection = sqlite3.connect(path)
    connection.executescript(
        """
        CREATE TABLE loose (seq INTEGER PRIMARY KEY, message_id, entry, hash);
        INSERT INTO loose SELECT * FROM ledger;
        DROP TABLE ledger;
        ALTER TABLE loose RENAME TO ledger;
        """
    )
    connection.close()
