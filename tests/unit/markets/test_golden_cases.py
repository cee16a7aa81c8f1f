"""Published cases: each folder holds an input and the exact output the CLI must print."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from osed.cli import main

DATA = Path(__file__).resolve().parents[2] / "data"
AUCTION_CASES = sorted(p for p in (DATA / "auction").iterdir() if p.is_dir())
BOOK_CASES = sorted(p for p in (DATA / "orderbook").iterdir() if p.is_dir())


def test_cases_exist_for_every_pricing_rule() -> None:
    rules = {json.loads((c / "input.json").read_text())["pricing"] for c in AUCTION_CASES}
    assert rules == {"gridlabd", "pay-as-clear", "pay-as-bid"}
    assert len(BOOK_CASES) >= 5


@pytest.mark.parametrize("case", AUCTION_CASES, ids=lambda p: p.name)
def test_auction_case(case: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["market", "clear", str(case / "input.json")]) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = json.loads((case / "expected.json").read_text())
    assert printed == expected


@pytest.mark.parametrize("case", BOOK_CASES, ids=lambda p: p.name)
def test_orderbook_case(case: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["market", "replay", str(case / "actions.jsonl")]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = [json.loads(line) for line in (case / "expected.jsonl").read_text().splitlines()]
    assert printed == expected
