"""``osed market clear`` and ``osed market replay``: contract, validation, exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from osed.cli import main


def run(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, stdin: str
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_clear_reads_standard_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    document = {
        "pricing": "pay-as-clear",
        "bids": [{"id": "b", "price": 10, "quantity": 4}, {"id": "z", "price": 1, "quantity": 0}],
        "offers": [{"id": 7, "price": 3, "quantity": 6}],
    }
    code, out, _ = run(["market", "clear", "-"], capsys, monkeypatch, json.dumps(document))
    assert code == 0
    assert json.loads(out) == {
        "price": 10.0,
        "quantity": 4.0,
        "outcome": "cleared",
        "fills": [
            {"id": "b", "quantity": 4.0, "price": 10.0},
            {"id": 7, "quantity": 4.0, "price": 10.0},
        ],
    }


def test_clear_names_every_problem_and_prints_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    document = {
        "pricing": "vickrey",
        "price_cap": "high",
        "bids": [
            {"id": "a", "price": None, "quantity": 1},
            {"id": "a", "price": "1", "quantity": -2},
            {"price": 1, "quantity": True},
            "order",
        ],
        "offers": {"id": "s"},
    }
    code, out, err = run(["market", "clear", "-"], capsys, monkeypatch, json.dumps(document))
    assert (code, out) == (2, "")
    for path, code_name in [
        ("$.pricing", "unknown_pricing"),
        ("$.price_cap", "bad_price_cap"),
        ("$.bids[0].price", "unresponsive_without_cap"),
        ("$.bids[1].id", "duplicate_id"),
        ("$.bids[1].price", "not_a_number"),
        ("$.bids[1].quantity", "bad_quantity"),
        ("$.bids[2].id", "missing"),
        ("$.bids[2].quantity", "not_a_number"),
        ("$.bids[3]", "not_object"),
        ("$.offers", "not_array"),
    ]:
        assert f"{path}: " in err, path
        assert f"[{code_name}]" in err, code_name
    assert "10 problems" in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "$: line 1 column 2"),
        ("[1, 2]", "$: must be a JSON object"),
        ('{"bids": [], "offers": []}', "$.pricing: required"),
        ('{"pricing": "gridlabd", "offers": []}', "$.bids: required"),
    ],
)
def test_clear_rejects_malformed_documents(
    text: str, expected: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run(["market", "clear", "-"], capsys, monkeypatch, text)
    assert (code, out) == (2, "")
    assert expected in err


def test_clear_of_a_missing_file_fails(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["market", "clear", str(tmp_path / "none.json")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_replay_prints_fill_and_cancel_events(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [
        {"action": "submit", "id": "s1", "side": "sell", "price": 10, "quantity": 5},
        {"action": "submit", "id": "b1", "side": "buy", "price": 11, "quantity": 2},
        {"action": "cancel", "id": "s1", "quantity": 1},
        {"action": "cancel", "id": "s1"},
    ]
    text = "\n".join(json.dumps(line) for line in lines) + "\n\n"
    code, out, _ = run(["market", "replay", "-"], capsys, monkeypatch, text)
    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == [
        {"event": "fill", "resting_id": "s1", "incoming_id": "b1", "price": 10.0, "quantity": 2.0},
        {"event": "cancel", "id": "s1", "canceled": 2.0, "remaining": 1.0},
        {"event": "cancel", "id": "s1", "canceled": 1.0, "remaining": 0.0},
    ]


def test_replay_names_every_problem_with_its_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "\n".join(
        [
            json.dumps({"action": "submit", "id": "a", "side": "bid", "price": "1", "quantity": 0}),
            "{broken",
            json.dumps({"action": "cancel", "id": "ghost", "quantity": -1}),
            json.dumps({"action": "submit", "id": "a", "side": "buy", "price": 1, "quantity": 1}),
            json.dumps({"action": "amend", "id": "a"}),
            json.dumps(
                {
                    "action": "submit",
                    "id": "c",
                    "side": "sell",
                    "price": 2,
                    "quantity": 1,
                    "all_or_none": "yes",
                }
            ),
            json.dumps([1]),
        ]
    )
    code, out, err = run(["market", "replay", "-"], capsys, monkeypatch, text)
    assert (code, out) == (2, "")
    for where in [
        "line 1: $.side",
        "line 1: $.price",
        "line 1: $.quantity",
        "line 2: $: line 1 column 2",
        "line 3: $.id: no earlier submit",
        "line 3: $.quantity",
        "line 4: $.id: 'a' is already used at line 1",
        "line 5: $.action",
        "line 6: $.all_or_none",
        "line 7: $: each line must be a JSON object",
    ]:
        assert where in err, where
    assert "10 problems" in err


@pytest.mark.parametrize("command", ["clear", "replay"])
def test_each_sub_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["market", command, "--help"])
    assert info.value.code == 0
    assert "FILE" in capsys.readouterr().out
