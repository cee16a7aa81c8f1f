"""The file verifier reads intact blocks packed by SQLite and checks them with NumPy; whatever a
file holds, its report equals the row-by-row walk's (``verify_store``), detail included.

The rewrites here keep the hash chain and the head consistent (as a writer with a bug, or an
operator covering their tracks, would leave them), so that the entry bytes themselves reach the
packed tally: odd quantities, missing fields, separators inside values, unknown sides."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_samples import copy_without_triggers, trade, written_ledger

from osed.cli import ledger as cli_ledger
from osed.domain.ledger import GENESIS_HASH
from osed.ledger.packed import PackedChecker
from osed.ledger.positions import PositionTally
from osed.ledger.verify import Finding, VerifyReport, verify_store
from osed.ports.ledger import LedgerHead
from osed.storage import sqlite as sqlite_store
from osed.storage.sqlite import SqliteLedgerStore

ENTRIES = 40
FIELD_VALUES = [
    b"",
    b"0",
    b"007",
    b"+5",
    b"-5",
    b" 5",
    b"1_000",
    b"9" * 18,
    b"9" * 19,
    b"12a",
    b"BUY",
    b"SELL",
    b"HOLD",
    b"alice",
    b"carol\x1edave",
    b"x\x1fy",
    b"\x00",
    b"2026-01-01T00:15:00+00:00",
    b"not a time",
    "é".encode(),
    b"3",
]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return written_ledger(tmp_path_factory.mktemp("pristine") / "ledger.db", ENTRIES // 2)


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    # Several processes and several packed blocks on a small ledger (forked workers see it).
    monkeypatch.setattr(cli_ledger, "_ROWS_PER_PROCESS", 9)
    monkeypatch.setattr(sqlite_store, "PACKED_BLOCK_ROWS", 4)


def copy_of(pristine: Path, folder: Path) -> Path:
    return copy_without_triggers(pristine, folder / "ledger.db")


def rewrite(
    path: Path, seq: int, *, entry: bytes | None = None, message_id: str | None = None
) -> None:
    """Change one row, then rehash the chain from it and rewrite the head to match."""
    connection = sqlite3.connect(path)
    if entry is not None:
        connection.execute("UPDATE ledger SET entry = ? WHERE seq = ?", (entry, seq))
    if message_id is not None:
        connection.execute("UPDATE ledger SET message_id = ? WHERE seq = ?", (message_id, seq))
    rows = connection.execute(
        "SELECT seq, CAST(message_id AS BLOB), entry FROM ledger ORDER BY seq"
    ).fetchall()
    previous = GENESIS_HASH
    for row_seq, row_message_id, row_entry in rows:
        preimage = previous + row_seq.to_bytes(8, "big") + row_message_id + b"\x00" + row_entry
        previous = hashlib.sha256(preimage).digest()
        connection.execute("UPDATE ledger SET hash = ? WHERE seq = ?", (previous, row_seq))
    connection.execute("UPDATE head SET last_hash = ?, entry_count = ?", (previous, len(rows)))
    connection.commit()
    connection.close()


def reports(
    path: Path, anchor: LedgerHead | None = None, *, workers: int = 1
) -> tuple[VerifyReport, VerifyReport]:
    """The row-by-row walk's report and the file verifier's (one process unless asked: forking
    a test process that has run many tests costs about a second)."""
    with SqliteLedgerStore.open_existing(path) as store:
        row_by_row = verify_store(store, anchor=anchor)
    return row_by_row, cli_ledger.verify_ledger_file(str(path), anchor=anchor, workers=workers)


def entry_of(path: Path, seq: int) -> bytes:
    connection = sqlite3.connect(path)
    (entry,) = connection.execute("SELECT entry FROM ledger WHERE seq = ?", (seq,)).fetchone()
    connection.close()
    assert isinstance(entry, bytes)
    return entry


def test_an_intact_ledger_is_checked_in_packed_blocks(pristine: Path) -> None:
    with SqliteLedgerStore.open_existing(pristine) as store:
        blocks = list(store.packed_rows(after_seq=0, up_to_seq=ENTRIES))
        checker = PackedChecker(PositionTally())
        previous = GENESIS_HASH
        for block in blocks:
            last_hash = checker.check(block, previous)
            assert last_hash is not None, block.after_seq
            previous = last_hash
        assert previous == store.head().last_hash
        expected = PositionTally()
        for _, _, entry, _ in store.raw_rows():
            expected.add(entry)
    assert len(blocks) == ENTRIES // 4
    assert checker.tally.totals() == expected.totals()
    first, second = reports(pristine, workers=3)
    assert first == second
    assert second.ok
    assert second.entries == ENTRIES


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seq=st.integers(1, ENTRIES),
    edits=st.lists(
        st.tuples(st.integers(0, 15), st.sampled_from(FIELD_VALUES)), min_size=1, max_size=3
    ),
)
def test_a_consistently_rewritten_entry_gets_the_row_by_row_report(
    pristine: Path,
    tmp_path_factory: pytest.TempPathFactory,
    seq: int,
    edits: list[tuple[int, bytes]],
) -> None:
    path = copy_of(pristine, tmp_path_factory.mktemp("rewrite"))
    fields = entry_of(path, seq).split(b"\x1f")
    for index, value in edits:
        if index < len(fields):
            fields[index] = value
        else:
            fields.append(value)  # a 16th field
    rewrite(path, seq, entry=b"\x1f".join(fields))
    row_by_row, packed = reports(path)
    assert packed == row_by_row


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seq=st.integers(1, ENTRIES), data=st.binary(max_size=300))
def test_arbitrary_entry_bytes_get_the_row_by_row_report(
    pristine: Path, tmp_path_factory: pytest.TempPathFactory, seq: int, data: bytes
) -> None:
    path = copy_of(pristine, tmp_path_factory.mktemp("bytes"))
    rewrite(path, seq, entry=data)
    row_by_row, packed = reports(path)
    assert packed == row_by_row
    assert not packed.ok


@pytest.mark.parametrize("message_id", ["clear\x1e7", "clear\x007", "", "é"])
def test_a_message_id_with_a_separator_or_nul_gets_the_row_by_row_report(
    pristine: Path, tmp_path: Path, message_id: str
) -> None:
    path = copy_of(pristine, tmp_path)
    rewrite(path, 6, message_id=message_id)
    row_by_row, packed = reports(path)
    assert packed == row_by_row
    assert packed.ok  # the chain holds and the positions add up: only the packing differs


def test_keys_that_differ_late_or_in_length_are_summed_apart(tmp_path: Path) -> None:
    # Party names that differ only in their 41st byte, or only in length, in one block.
    parties = ["p" * 40 + "a", "p" * 40 + "b", "p" * 40, "p" * 41, "q", "p" * 40 + "é"]
    path = tmp_path / "parties.db"
    with SqliteLedgerStore(path) as store:
        store.append_many(
            [
                trade(n, buyer=buyer, seller=seller, quantity=n + 1, interval_index=n % 2)
                for n, (buyer, seller) in enumerate(zip(parties, parties[::-1], strict=True))
            ]
        )
    row_by_row, packed = reports(path)
    assert packed == row_by_row
    assert packed.ok
    with SqliteLedgerStore.open_existing(path) as store:
        pairs = enumerate(zip(parties, parties[::-1], strict=True))
        keys = {(party, n % 2) for n, pair in pairs for party in pair}
        assert len(store.all_positions()) == len(keys) == 12
    connection = sqlite3.connect(path)
    connection.execute("UPDATE positions SET quantity = quantity + 1 WHERE party = ?", ("p" * 41,))
    connection.commit()
    connection.close()
    row_by_row, packed = reports(path)
    assert packed == row_by_row
    assert packed.problem is Finding.POSITION_MISMATCH


def test_an_anchor_inside_a_packed_block_is_checked(pristine: Path, tmp_path: Path) -> None:
    path = copy_of(pristine, tmp_path)
    connection = sqlite3.connect(path)
    (hash_of_10,) = connection.execute("SELECT hash FROM ledger WHERE seq = 10").fetchone()
    connection.close()
    assert all(report.ok for report in reports(path, LedgerHead(10, hash_of_10), workers=3))
    wrong = LedgerHead(10, bytes(32))
    row_by_row, packed = reports(path, wrong, workers=3)
    assert packed == row_by_row
    assert (packed.problem, packed.first_bad_seq) == (Finding.ANCHOR_MISMATCH, 10)


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        (7, b"9" * 19, Finding.UNDECODABLE_ENTRY),  # seconds beyond any interval
        (5, b"HOLD", Finding.UNDECODABLE_ENTRY),
        (0, b"osed-ledger-v2", Finding.UNDECODABLE_ENTRY),
        (10, b"12a", Finding.UNDECODABLE_ENTRY),
        (10, b"+5", Finding.POSITION_MISMATCH),  # int() reads it: a valid, other quantity
        (10, b"9" * 19, Finding.POSITION_MISMATCH),  # beyond the packed tally: row by row
    ],
)
def test_named_rewrites_get_the_row_by_row_report(
    pristine: Path, tmp_path: Path, field: int, value: bytes, problem: Finding
) -> None:
    path = copy_of(pristine, tmp_path)
    fields = entry_of(path, 11).split(b"\x1f")
    fields[field] = value
    rewrite(path, 11, entry=b"\x1f".join(fields))
    row_by_row, packed = reports(path)
    assert packed == row_by_row
    assert packed.problem is problem


def test_a_quantity_with_leading_zeros_sums_as_its_value(pristine: Path, tmp_path: Path) -> None:
    path = copy_of(pristine, tmp_path)
    fields = entry_of(path, 11).split(b"\x1f")
    fields[10] = b"000" + fields[10]
    rewrite(path, 11, entry=b"\x1f".join(fields))
    row_by_row, packed = reports(path)
    assert packed == row_by_row
    assert packed.ok
