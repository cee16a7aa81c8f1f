import json
from pathlib import Path

import pytest

from osed.cli import main

SMALL = ["--households", "12", "--prosumers", "4", "--batteries", "3", "--intervals", "24"]


def test_demo_trades_balances_and_leaves_a_verifiable_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = tmp_path / "demo.sqlite"
    assert main(["market", "demo", "--ledger", str(ledger), "--json", *SMALL]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["verified"] is True
    assert summary["max_interval_imbalance_wh"] == 0
    day_ahead, real_time = summary["day_ahead"], summary["real_time"]
    assert day_ahead["outcomes"] == {"cleared": 24}
    assert day_ahead["transactions"] > 0
    # The real-time round trades only forecast errors: far less than the day-ahead volume.
    assert 0 < real_time["energy_kwh"] < 0.25 * day_ahead["energy_kwh"]
    assert summary["ledger_entries"] == day_ahead["transactions"] + real_time["transactions"]

    assert main(["ledger", "verify", str(ledger)]) == 0


def test_demo_is_deterministic_for_a_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = []
    for run in range(2):
        ledger = tmp_path / f"run{run}.sqlite"
        assert main(["market", "demo", "--ledger", str(ledger), "--json", *SMALL]) == 0
        summary = json.loads(capsys.readouterr().out)
        figures.append((summary["day_ahead"], summary["real_time"], summary["ledger_entries"]))
    assert figures[0] == figures[1]


def test_demo_refuses_to_replace_a_file_that_is_not_a_demo_ledger(tmp_path: Path) -> None:
    precious = tmp_path / "accounts.sqlite"
    precious.write_text("keep me")
    assert main(["market", "demo", "--ledger", str(precious), *SMALL]) == 1
    assert precious.read_text() == "keep me"
