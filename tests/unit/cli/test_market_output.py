"""``osed market clear|replay|demo``: JSON when piped, text on a terminal, demo files in one
folder, progress on standard error."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.cli.terminal import on_terminal, piped

DATA = Path(__file__).parents[2] / "data"
AUCTION = DATA / "auction" / "gridlabd_exact_split"
BOOK = DATA / "orderbook" / "partial_cancel"
SMALL = ["--households", "12", "--prosumers", "4", "--batteries", "3", "--intervals", "8"]


def test_clear_prints_json_piped_and_a_table_on_a_terminal() -> None:
    expected = json.loads((AUCTION / "expected.json").read_text())
    run = piped("market", "clear", str(AUCTION / "input.json"))
    assert run.code == 0
    assert run.json() == expected
    shown = on_terminal("market", "clear", str(AUCTION / "input.json"))
    assert shown.code == 0
    lines = shown.out.splitlines()
    assert lines[0].split() == ["outcome", expected["outcome"]]
    assert lines[4].split() == ["order", "quantity", "price"]
    assert {line.split()[0] for line in lines[6:]} == {fill["id"] for fill in expected["fills"]}
    forced = on_terminal("market", "clear", str(AUCTION / "input.json"), "--json")
    assert json.loads(forced.out) == expected


def test_replay_prints_json_lines_piped_and_a_table_on_a_terminal() -> None:
    expected = [json.loads(line) for line in (BOOK / "expected.jsonl").read_text().splitlines()]
    run = piped("market", "replay", str(BOOK / "actions.jsonl"))
    assert run.json_lines() == expected
    shown = on_terminal("market", "replay", str(BOOK / "actions.jsonl"))
    rows = shown.out.splitlines()[2:]
    assert [row.split()[0] for row in rows] == [event["event"] for event in expected]


def test_demo_writes_only_into_its_folder_and_reports_progress(tmp_path: Path) -> None:
    run = piped("market", "demo", *SMALL, cwd=tmp_path)
    assert run.code == 0, run.err
    summary = run.json()
    assert summary["verified"] is True
    assert summary["ledger"] == str(Path("osed-demo") / "ledger.sqlite")
    assert [path.name for path in tmp_path.iterdir()] == ["osed-demo"]
    assert (tmp_path / "osed-demo" / "ledger.sqlite").is_file()
    # Piped standard error gets plain lines, up to the end of the work.
    progress = [line for line in run.err.splitlines() if line.startswith("market demo: ")]
    assert progress
    assert progress[-1].startswith("market demo: 100%")
    elsewhere = piped("market", "demo", *SMALL, "--dir", "runs/one", cwd=tmp_path)
    assert elsewhere.json()["ledger"] == str(Path("runs/one/ledger.sqlite"))
    assert (tmp_path / "runs" / "one" / "ledger.sqlite").is_file()


def test_demo_on_a_terminal_shows_a_bar_with_the_time_left_and_a_summary(tmp_path: Path) -> None:
    shown = on_terminal("market", "demo", *SMALL, cwd=tmp_path, stdout=True, stderr=True)
    assert shown.code == 0
    assert "market demo [" in shown.out
    assert "ETA" in shown.out
    assert "OSED market demo: 8 intervals" in shown.out
    assert "hash chain verified" in shown.out
