"""``osed ledger verify|head|show``: JSON out, exit 0 intact, 1 altered, 2 not a ledger."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from store_samples import trades

from osed.cli import main
from osed.storage.sqlite import SqliteLedgerStore


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.db"
    with SqliteLedgerStore(path) as store:
        store.append_many(trades(10))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object]]:
    code = main(list(argv))
    lines = capsys.readouterr().out.splitlines()
    return code, json.loads(lines[-1]) if lines else {}


def test_an_intact_ledger_exits_0(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run(capsys, "ledger", "verify", str(ledger))
    assert code == 0
    assert report == {
        "ok": True,
        "entries": 20,
        "first_bad_seq": None,
        "problem": None,
        "detail": "",
    }


def test_an_altered_ledger_exits_1_and_names_the_entry(
    ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    connection = sqlite3.connect(ledger)
    connection.execute("DROP TRIGGER ledger_no_update")
    connection.execute("UPDATE ledger SET entry = CAST(entry || X'20' AS BLOB) WHERE seq = 7")
    connection.commit()
    connection.close()
    code, report = run(capsys, "ledger", "verify", str(ledger))
    assert code == 1
    assert (report["ok"], report["first_bad_seq"], report["problem"]) == (
        False,
        7,
        "hash_mismatch",
    )


def test_removed_entries_exit_1(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    connection = sqlite3.connect(ledger)
    connection.execute("DROP TRIGGER ledger_no_delete")
    connection.execute("DELETE FROM ledger WHERE seq >= 19")
    connection.commit()
    connection.close()
    code, report = run(capsys, "ledger", "verify", str(ledger))
    assert (code, report["problem"], report["first_bad_seq"]) == (1, "missing_tail", 19)


def test_a_wrong_anchor_exits_1(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, head = run(capsys, "ledger", "head", str(ledger))
    assert code == 0
    assert head["count"] == 20
    code, _ = run(capsys, "ledger", "verify", str(ledger), "--anchor", str(head["anchor"]))
    assert code == 0
    wrong = f"20:{'00' * 32}"
    code, report = run(capsys, "ledger", "verify", str(ledger), "--anchor", wrong)
    assert (code, report["problem"], report["first_bad_seq"]) == (1, "anchor_mismatch", 20)


@pytest.mark.parametrize("content", [None, b"", b"not a database at all, just text\n" * 100])
def test_a_path_that_is_not_a_ledger_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None
) -> None:
    path = tmp_path / "thing.db"
    if content is not None:
        path.write_bytes(content)
    code, report = run(capsys, "ledger", "verify", str(path))
    assert (code, report["ok"], report["problem"]) == (2, False, "not_a_ledger")
    assert not path.exists() or path.read_bytes() == content  # never created or changed


def test_another_sqlite_database_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "other.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE things (x)")
    connection.commit()
    connection.close()
    code, _ = run(capsys, "ledger", "verify", str(path))
    assert code == 2


def test_a_malformed_anchor_exits_2(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ledger", "verify", str(ledger), "--anchor", "twenty:zz"]) == 2
    assert "bad_head" in capsys.readouterr().err


def test_show_prints_entries(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ledger", "show", str(ledger), "--after-seq", "2", "--limit", "3"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["seq"] for row in rows] == [3, 4, 5]
    assert rows[0]["side"] == "BUY"
    assert rows[0]["interval"] == "2026-01-01T00:15:00Z/900"
