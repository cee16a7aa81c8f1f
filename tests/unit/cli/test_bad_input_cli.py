"""Hostile but fair input, as a user runs the commands: a clear error naming the problem and
where it is, exit 2 (1 for a file that cannot be read), nothing on standard output, never a
traceback, and never NaN or Infinity in JSON."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from osed.cli._output import print_json
from osed.domain.errors import OsedError

NETWORK = Path(__file__).parents[2] / "data" / "grid"


def osed(*argv: str, stdin: bytes = b"", env: dict[str, str] | None = None) -> tuple[int, str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OSED_")}
    result = subprocess.run(
        [sys.executable, "-m", "osed.cli", *argv],
        input=stdin,
        capture_output=True,
        env={**environment, **(env or {})},
        timeout=60,
        check=False,
    )
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def assert_rejected(result: tuple[int, str, str], code: int, *needles: str) -> None:
    exit_code, out, err = result
    assert "Traceback" not in err, err
    assert "Warning" not in err, err
    assert (exit_code, out) == (code, ""), err
    for needle in needles:
        assert needle in err, err


@pytest.mark.parametrize(
    "command",
    [
        ["market", "clear"],
        ["market", "replay"],
        ["optimize"],
        ["grid", "show"],
    ],
)
def test_a_file_that_is_not_utf8_names_the_file_and_line(
    command: list[str], tmp_path: Path
) -> None:
    document = tmp_path / "latin1.json"
    document.write_bytes('{"pricing": "gridlabd",\n "bids": "Ä"}'.encode("latin-1"))
    assert_rejected(
        osed(*command, str(document)), 2, f"{document}: ", "line 2: byte 0xc4", "not_utf8"
    )


def test_standard_input_that_is_not_utf8_is_rejected() -> None:
    assert_rejected(osed("market", "clear", "-", stdin=b"\xff\xfe{}"), 2, "<stdin>", "not_utf8")


@pytest.mark.parametrize("command", [["market", "clear"], ["optimize"]])
def test_json_nested_100000_deep_is_refused_before_parsing(
    command: list[str], tmp_path: Path
) -> None:
    document = tmp_path / "deep.json"
    document.write_text("[" * 100_000 + "]" * 100_000)
    assert_rejected(osed(*command, str(document)), 2, "nest 100000 deep", "too_deep")


def test_measurements_nested_deeply_are_refused(tmp_path: Path) -> None:
    measurements = tmp_path / "deep.json"
    measurements.write_text('{"measurements": ' + "[" * 5000 + "]" * 5000 + "}")
    network = NETWORK / "pgm_se" / "dummy-test-sym" / "input.json"
    result = osed(
        "grid", "estimate", "--network", str(network), "--measurements", str(measurements)
    )
    assert_rejected(result, 2, "too_deep")


def test_a_directory_given_as_file_says_so(tmp_path: Path) -> None:
    exit_code, out, err = osed("market", "clear", str(tmp_path))
    assert (exit_code, out) == (1, "")
    assert f"{tmp_path} is a directory" in err
    assert "no such file" not in err


def test_offers_whose_sum_overflows_are_rejected_without_a_numpy_warning() -> None:
    document = {
        "pricing": "gridlabd",
        "bids": [{"id": "b", "price": 1.0, "quantity": 1.0}],
        "offers": [
            {"id": "s1", "price": 0.5, "quantity": 1.79e308},
            {"id": "s2", "price": 0.5, "quantity": 1.79e308},
        ],
    }
    result = osed("market", "clear", "-", stdin=json.dumps(document).encode())
    assert_rejected(result, 2, "$.offers[0].quantity", "$.offers[1].quantity", "too_large")


def test_an_overflowing_number_in_the_json_text_is_rejected_with_its_line() -> None:
    text = '{"pricing": "gridlabd", "bids": [],\n "offers": [{"id": 1, "price": 1e400}]}'
    result = osed("market", "clear", "-", stdin=text.encode())
    assert_rejected(result, 2, "line 2 column 32: 1e400 is not a finite number")


def test_replay_output_is_strict_json_on_every_line() -> None:
    lines = [
        {"action": "submit", "id": 1, "side": "sell", "price": 1e15, "quantity": 1e15},
        {"action": "submit", "id": 2, "side": "buy", "price": 1e15, "quantity": 1e15},
    ]
    text = "\n".join(json.dumps(line) for line in lines)
    exit_code, out, err = osed("market", "replay", "-", stdin=text.encode())
    assert exit_code == 0, err

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} printed")

    events = [json.loads(line, parse_constant=refuse) for line in out.splitlines()]
    assert events[0]["quantity"] == pytest.approx(1e15)


def test_a_bad_list_in_the_environment_is_a_settings_error_with_its_path() -> None:
    result = osed("config", "show", env={"OSED_SERVICES": "bogus"})
    assert_rejected(result, 2, "$.services", "OSED_SERVICES='bogus' is not JSON")


def test_infinite_settings_are_rejected_with_their_paths() -> None:
    env = {"OSED_MARKET__PRICE_CAP": "1e400", "OSED_BALANCER__MAX_TIME_LIMIT_S": "inf"}
    result = osed("config", "show", env=env)
    assert_rejected(result, 2, "$.market.price_cap", "$.balancer.max_time_limit_s", "finite_number")


def test_a_settings_file_that_is_not_utf8_or_too_deep_is_rejected(tmp_path: Path) -> None:
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes("market:\n  market_id: Ä\n".encode("latin-1"))
    assert_rejected(osed("config", "show", "--config", str(latin)), 2, "line 2", "not_utf8")
    deep = tmp_path / "deep.yaml"
    deep.write_text("market: " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert_rejected(osed("config", "show", "--config", str(deep)), 2, "too_deep")


def test_config_show_masks_the_password_in_every_url() -> None:
    servers = ["nats://alice:hunter2@nats1:4222", "tls://token-s3cret@nats2", "nats://nats3"]
    env = {
        "OSED_BUS__NATS__SERVERS": json.dumps(servers),
        "OSED_STORAGE__POSTGRES_DSN": "postgresql://osed:pg-secret@db/osed",
    }
    exit_code, out, err = osed("config", "show", env=env)
    assert exit_code == 0, err
    shown = json.loads(out)
    assert shown["bus"]["nats"]["servers"] == [
        "nats://alice:**********@nats1:4222",
        "tls://**********@nats2",
        "nats://nats3",
    ]
    for secret in ("hunter2", "token-s3cret", "pg-secret"):
        assert secret not in out


def test_a_malformed_forecast_names_every_bad_entry(tmp_path: Path) -> None:
    measurements = tmp_path / "measurements.json"
    measurements.write_text('{"measurements": []}')
    forecast = tmp_path / "forecast.json"
    forecast.write_text('{"7": [1], "8": [1, "x"], "9": [1.5, 2]}')
    network = NETWORK / "pgm_se" / "dummy-test-sym" / "input.json"
    result = osed(
        "grid",
        "estimate",
        "--network",
        str(network),
        "--measurements",
        str(measurements),
        "--forecast",
        str(forecast),
    )
    assert_rejected(result, 2, '$["7"]', '$["8"]', "bad_forecast")
    assert '$["9"]' not in result[2]


def test_bus_gaps_on_a_directory_says_so(tmp_path: Path) -> None:
    exit_code, out, err = osed("bus", "gaps", "--db", str(tmp_path))
    assert (exit_code, out) == (1, "")
    assert f"{tmp_path} is a directory" in err


def test_serve_rejects_a_bridge_pipelines_file_that_is_not_utf8(tmp_path: Path) -> None:
    pipelines = tmp_path / "pipelines.yaml"
    pipelines.write_bytes("pipelines:\n  - name: Ä\n".encode("latin-1"))
    env = {"OSED_SERVICES": '["bridge"]', "OSED_BRIDGE__PIPELINES_FILE": str(pipelines)}
    result = osed("serve", "--state-dir", str(tmp_path / "state"), env=env)
    assert_rejected(result, 2, f"{pipelines}: line 2", "not_utf8")


def test_a_non_finite_result_is_an_error_and_nothing_is_printed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(OsedError, match=r"non-finite number at \$\.fills\[0\]\.price"):
        print_json({"fills": [{"price": math.nan}]})
    assert capsys.readouterr().out == ""
