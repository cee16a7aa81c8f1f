"""``osed market submit | cancel | position`` as a user runs them, against ``osed run
market-agent`` on a real Mosquitto: the JSON on standard output is parsed whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.agents.market_process import MarketAgentProcess
from tests.services.brokers import Broker, nats_server  # noqa: F401 (a fixture)

INTERVAL = "2026-07-01T10:00:00Z"


@pytest.fixture
def agent(tmp_path: Path, mosquitto: Broker) -> Iterator[MarketAgentProcess]:
    process = MarketAgentProcess(tmp_path / "agent", mosquitto)
    process.folder.mkdir()
    process.start()
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def osed(env: dict[str, str], *argv: str) -> tuple[int, Any, str]:
    done = subprocess.run(
        [sys.executable, "-m", "osed.cli", "market", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, json.loads(done.stdout) if done.stdout else None, done.stderr


def test_a_party_submits_trades_cancels_and_reads_its_position(agent: MarketAgentProcess) -> None:
    env = agent.env
    code, sold, err = osed(
        env, "submit", "--party", "seller", "--side", "sell", "--quantity", "2.5",
        "--price", "0.12", "--interval", INTERVAL, "--tender-id", "s-1",
    )  # fmt: skip
    assert code == 0, err
    assert sold["status"] == "accepted"
    assert sold["tender_id"] == "s-1"
    assert sold["transactions"] == []

    code, bought, err = osed(
        env, "submit", "--party", "buyer", "--side", "buy", "--quantity", "1",
        "--price", "0.15", "--interval", INTERVAL,
    )  # fmt: skip
    assert code == 0, err
    assert bought["status"] == "accepted"
    [trade] = bought["transactions"]
    assert trade["side"] == "buy"
    assert trade["counter_party"] == "seller"
    assert trade["quantity"] == pytest.approx(1.0)
    assert trade["price"] == pytest.approx(0.12)  # the resting offer's price
    assert (trade["start"], trade["end"]) == (INTERVAL, "2026-07-01T10:15:00Z")

    for party, expected in (("buyer", 1.0), ("seller", -1.0)):
        code, position, err = osed(
            env, "position", "--party", party, "--start", "2026-07-01T00:00Z",
            "--end", "2026-07-02T00:00+00:00",
        )  # fmt: skip
        assert code == 0, err
        [row] = position["positions"]
        assert row["start"] == INTERVAL
        assert row["quantity"] == pytest.approx(expected)

    code, cancelled, err = osed(env, "cancel", "s-1", "--party", "seller")
    assert code == 0, err
    assert cancelled["status"] == "cancelled"
    assert cancelled["remaining_quantity"] == pytest.approx(0.0)

    code, refused, _ = osed(env, "cancel", "no-such-tender", "--party", "seller")
    assert code == 1
    assert refused["status"] == "rejected"
    assert refused["code"] == 404
    assert refused["reasons"] == ["unknown tender"]


def test_a_tender_the_agent_refuses_comes_back_rejected_with_its_reason(
    agent: MarketAgentProcess,
) -> None:
    argv = ["submit", "--party", "p", "--side", "buy", "--quantity", "1", "--price", "0.1"]
    code, _, err = osed(agent.env, *argv, "--interval", INTERVAL, "--tender-id", "t-1")
    assert code == 0, err
    code, again, _ = osed(agent.env, *argv, "--interval", INTERVAL, "--tender-id", "t-1")
    assert code == 1
    assert again["status"] == "rejected"
    assert again["code"] == 409
    assert again["reasons"] == ["tender t-1 exists"]


def test_no_agent_on_the_bus_is_reported_after_the_attempts(mosquitto: Broker) -> None:
    env = dict(os.environ, OSED_BUS__BACKEND="mqtt", OSED_BUS__MQTT__PORT=str(mosquitto.port))
    code, out, err = osed(
        env, "position", "--party", "p", "--start", "2026-07-01T00:00Z",
        "--end", "2026-07-02T00:00Z", "--timeout", "0.2", "--attempts", "2",
    )  # fmt: skip
    assert code == 1
    assert out is None
    assert "no answer" in err
    assert "after 2 attempts" in err


def test_the_commands_work_over_nats_too(tmp_path: Path, nats_server: Broker) -> None:  # noqa: F811
    process = MarketAgentProcess(tmp_path / "agent", nats_server)
    process.folder.mkdir()
    process.env.pop("OSED_BUS__MQTT__HOST")
    process.env.pop("OSED_BUS__MQTT__PORT")
    process.env["OSED_BUS__BACKEND"] = "nats"
    process.env["OSED_BUS__NATS__SERVERS"] = f'["nats://127.0.0.1:{nats_server.port}"]'
    process.start()
    try:
        process.wait_ready()
        argv = ["--quantity", "1.5", "--interval", INTERVAL]
        code, _, err = osed(
            process.env, "submit", "--party", "a", "--side", "sell", "--price", "0.1", *argv
        )
        assert code == 0, err
        code, bought, err = osed(
            process.env, "submit", "--party", "b", "--side", "buy", "--price", "0.2", *argv
        )
        assert code == 0, err
        assert [t["quantity"] for t in bought["transactions"]] == [1.5]
    finally:
        assert process.stop() == 0
