"""``osed ledger show|positions|verify|head``: units rather than scaled integers, filters,
the limit said out loud, JSON when piped and tables on a terminal."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import pytest

from osed.storage.sqlite import SqliteLedgerStore
from tests.unit.cli.terminal import on_terminal, piped
from tests.unit.storage.store_samples import trades


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.sqlite"
    with SqliteLedgerStore(path) as store:
        store.append_many(trades(30))  # 60 entries at 0.425 USD, 1 to 7 thousandths of a unit each
    return path


def test_show_prints_units_and_stops_at_its_documented_limit(ledger: Path) -> None:
    rows = piped("ledger", "show", str(ledger)).json_lines()
    assert [row["seq"] for row in rows] == list(range(1, 21))
    assert all(math.isclose(row["price"], 0.425) for row in rows)
    assert all(row["currency"] == "USD" for row in rows)
    assert math.isclose(rows[0]["quantity"], 0.001)  # 1 at quantity scale 3
    assert "price_scale" not in rows[0]
    assert "default 20" in piped("ledger", "show", "--help").out

    shown = on_terminal("ledger", "show", str(ledger))
    table = shown.out.splitlines()
    assert table[0].split()[:4] == ["seq", "party", "counter", "party"]
    assert len(table) == 2 + 20
    assert "0.425 USD" in table[2]
    assert "40 more entries, use --limit" in shown.err
    everything = on_terminal("ledger", "show", str(ledger), "--limit", "0")
    assert len(everything.out.splitlines()) == 2 + 60
    assert "more entries" not in everything.err


def test_show_filters_by_party_and_delivery_time(ledger: Path) -> None:
    alice = piped("ledger", "show", str(ledger), "--party", "alice", "--limit", "0").json_lines()
    assert alice
    assert {row["party"] for row in alice} == {"alice"}
    window = piped(
        "ledger",
        "show",
        str(ledger),
        "--from",
        "2026-01-01T00:15:00Z",
        "--to",
        "2026-01-01T00:30",
        "--limit",
        "0",
    ).json_lines()
    assert window
    assert {row["interval"] for row in window} == {"2026-01-01T00:15:00Z/900"}


def test_bad_filters_are_named_and_nothing_is_printed(ledger: Path) -> None:
    run = piped("ledger", "show", str(ledger), "--from", "noon", "--limit", "-1")
    assert run.code == 2
    assert run.out == ""
    assert "--from" in run.err
    assert "--limit" in run.err
    assert "Traceback" not in run.err


def test_positions_are_the_ledgers_sums_in_units(ledger: Path) -> None:
    sums: dict[tuple[str, str], float] = defaultdict(float)
    for row in piped("ledger", "show", str(ledger), "--limit", "0").json_lines():
        sign = 1 if row["side"] == "BUY" else -1
        sums[row["party"], row["interval"]] += sign * row["quantity"]
    positions = piped("ledger", "positions", str(ledger)).json_lines()
    assert {(p["party"], p["interval"]) for p in positions} == set(sums)
    for position in positions:
        assert math.isclose(
            position["quantity"], sums[position["party"], position["interval"]], abs_tol=1e-12
        )
    bob = piped("ledger", "positions", str(ledger), "--party", "bob").json_lines()
    assert bob == [p for p in positions if p["party"] == "bob"]
    shown = on_terminal("ledger", "positions", str(ledger), "--party", "bob")
    assert shown.out.splitlines()[0].split() == ["party", "interval", "quantity"]
    assert len(shown.out.splitlines()) == 2 + len(bob)


def test_verify_and_head_read_as_sentences_on_a_terminal(ledger: Path) -> None:
    assert piped("ledger", "verify", str(ledger)).json()["ok"] is True
    shown = on_terminal("ledger", "verify", str(ledger))
    assert shown.code == 0
    assert shown.out.startswith("intact: 60 entries")
    head = piped("ledger", "head", str(ledger)).json()
    assert on_terminal("ledger", "head", str(ledger)).out.splitlines()[2].split() == [
        "anchor",
        head["anchor"],
    ]


def test_the_count_left_out_follows_the_filter(ledger: Path) -> None:
    alice = piped("ledger", "show", str(ledger), "--party", "alice", "--limit", "0").json_lines()
    shown = on_terminal("ledger", "show", str(ledger), "--party", "alice", "--limit", "2")
    assert f"{len(alice) - 2} more entries" in shown.err
