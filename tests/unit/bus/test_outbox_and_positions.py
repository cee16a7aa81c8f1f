"""Outboxes and position stores: same behaviour in memory and in SQLite; SQLite survives."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from osed.bus.reliable import (
    GapReport,
    InMemoryOutbox,
    InMemoryPositions,
    Outbox,
    PositionStore,
    SqliteOutbox,
    SqlitePositions,
    read_gap_reports,
)
from osed.domain.envelope import Envelope
from osed.domain.errors import ConfigurationError, ConflictError

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def env(seq: int, source: str = "s1") -> Envelope:
    return Envelope(f"t/{seq % 3}", source, seq, f"p{seq}".encode(), T0, key=f"k{seq}")


@pytest.fixture(params=["memory", "sqlite"])
def outbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Outbox]:
    box: Outbox = (
        InMemoryOutbox() if request.param == "memory" else SqliteOutbox(tmp_path / "o.db", "s1")
    )
    yield box
    box.close()


def test_an_empty_outbox(outbox: Outbox) -> None:
    assert (outbox.last_seq(), outbox.first_seq(), outbox.read(1, 10)) == (0, 1, [])
    assert outbox.last_written_before(T0) == 0


def test_append_read_trim(outbox: Outbox) -> None:
    outbox.append([env(1)], T0)
    outbox.append([env(2), env(3), env(4)], T0 + timedelta(seconds=1))
    outbox.append([env(5)], T0 + timedelta(seconds=2))
    assert outbox.read(2, 4) == [env(2), env(3), env(4)]
    assert outbox.read(0, 99) == [env(k) for k in range(1, 6)]
    assert outbox.last_written_before(T0 + timedelta(seconds=1)) == 1
    assert outbox.last_written_before(T0 + timedelta(seconds=2)) == 4
    outbox.trim_through(3)
    assert (outbox.first_seq(), outbox.last_seq()) == (4, 5)
    assert outbox.read(1, 4) == [env(4)]
    outbox.trim_through(9)
    assert (outbox.first_seq(), outbox.last_seq(), outbox.read(1, 9)) == (6, 5, [])
    outbox.append([env(6)], T0)
    assert outbox.read(1, 9) == [env(6)]


@pytest.mark.parametrize("seqs", [[2], [1, 3], [1, 1]])
def test_an_append_that_leaves_a_gap_is_refused(outbox: Outbox, seqs: list[int]) -> None:
    with pytest.raises(ConflictError):
        outbox.append([env(k) for k in seqs], T0)
    assert outbox.last_seq() == 0
    assert outbox.read(1, 9) == []


def test_the_sqlite_outbox_resumes_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    first = SqliteOutbox(path, "s1")
    first.append([env(1), env(2), env(3)], T0)
    first.trim_through(3)  # everything trimmed: the seq must still resume at 4
    first.close()
    again = SqliteOutbox(path, "s1")
    assert (again.last_seq(), again.first_seq()) == (3, 4)
    again.append([env(4)], T0)
    neighbour = SqliteOutbox(path, "s2")  # sources share a file, each with its own seq
    assert neighbour.last_seq() == 0
    with pytest.raises(ConflictError):
        neighbour.append([env(1, "s1")], T0)
    again.close()
    neighbour.close()


def test_the_sqlite_outbox_keeps_what_a_killed_process_wrote(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    writer = textwrap.dedent(
        f"""
        import os
        from datetime import UTC, datetime
        from osed.bus.reliable import SqliteOutbox
        from osed.domain.envelope import Envelope
        box = SqliteOutbox({str(path)!r}, "s1")
        for k in range(1, 101):
            box.append([Envelope("t/x", "s1", k, b"p", datetime.now(UTC))], datetime.now(UTC))
        os._exit(9)  # no close, no cleanup: as kill -9 would leave it
        """
    )
    result = subprocess.run([sys.executable, "-c", writer], check=False, timeout=60)
    assert result.returncode == 9
    box = SqliteOutbox(path, "s1")
    assert box.last_seq() == 100
    assert [e.seq for e in box.read(1, 100)] == list(range(1, 101))
    box.close()


def test_a_file_that_is_not_a_database_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(ConfigurationError):
        SqliteOutbox(path, "s1")
    with pytest.raises(ConfigurationError):
        SqlitePositions(path)
    with pytest.raises(ConfigurationError):
        SqliteOutbox(tmp_path / "o.db", "s1", synchronous="OFF")  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "sqlite"])
def positions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PositionStore]:
    store: PositionStore = (
        InMemoryPositions() if request.param == "memory" else SqlitePositions(tmp_path / "p.db")
    )
    yield store
    store.close()


def test_positions_per_consumer_and_source(positions: PositionStore) -> None:
    assert positions.load("c1") == {}
    positions.save("c1", "s1", 5)
    positions.save("c1", "s2", 7)
    positions.save("c1", "s1", 6)
    positions.save("c2", "s1", 1)
    assert positions.load("c1") == {"s1": 6, "s2": 7}
    assert positions.load("c2") == {"s1": 1}


def test_sqlite_positions_survive_a_reopen(tmp_path: Path) -> None:
    store = SqlitePositions(tmp_path / "p.db")
    store.save("c1", "s1", 42)
    store.close()
    again = SqlitePositions(tmp_path / "p.db")
    assert again.load("c1") == {"s1": 42}
    again.close()


def test_gap_reports_are_saved_with_the_position_once(positions: PositionStore) -> None:
    report = GapReport("c1", "t/#", "s1", 4, 6, "unavailable", T0)
    assert positions.gaps() == []
    positions.save("c1", "s1", 6, [report])
    found_again = GapReport("c1", "t/#", "s1", 4, 6, "unavailable", T0 + timedelta(seconds=9))
    positions.save("c1", "s1", 9, [found_again])
    positions.save("c2", "s1", 2)
    assert positions.load("c1") == {"s1": 9}
    assert positions.gaps() == positions.gaps("c1") == [report]
    assert positions.gaps("c2") == []


def test_sqlite_gap_reports_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    reports = [
        GapReport("c1", "a/#", "s2", 1, 1, "timeout", T0 + timedelta(microseconds=1)),
        GapReport("c1", "a/#", "s1", 8, 20, "unavailable", T0),
    ]
    store = SqlitePositions(path)
    store.save("c1", "s2", 1, reports[:1])
    store.save("c1", "s1", 20, reports[1:])
    store.close()
    assert read_gap_reports(path) == read_gap_reports(path, "c1") == reports
    again = SqlitePositions(path)
    assert again.gaps() == reports
    again.close()


def test_a_positions_file_from_before_gap_reports_still_opens(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE consumer_positions (consumer TEXT NOT NULL, source TEXT NOT NULL, "
            "seq INTEGER NOT NULL, PRIMARY KEY (consumer, source)) WITHOUT ROWID"
        )
        db.execute("INSERT INTO consumer_positions VALUES ('c1', 's1', 5)")
    db.close()
    assert read_gap_reports(path) == []  # read-only: the file is left as it was
    store = SqlitePositions(path)
    assert (store.load("c1"), store.gaps()) == ({"s1": 5}, [])
    store.close()
