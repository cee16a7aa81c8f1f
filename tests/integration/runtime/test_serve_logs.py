"""``osed serve`` logs on standard error what it runs and where, then each start and stop;
JSON lines with ``log.format: json``, nothing below ``log.level``; standard output stays empty."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.integration.runtime.test_serve import free_port, readiness


def serve(tmp_path: Path, **settings: str) -> tuple[int, str, str]:
    port = free_port()
    env = dict(
        os.environ,
        OSED_HEALTH__PORT=str(port),
        OSED_STORAGE__SQLITE_PATH=str(tmp_path / "ledger.sqlite"),
        OSED_SERVICES='["market-agent", "stats"]',
        **settings,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "osed.cli", "serve", "--state-dir", str(tmp_path / "state")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and readiness(port) is None:
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, out, err


def test_serve_logs_its_deployment_and_lifecycle_as_json(tmp_path: Path) -> None:
    code, out, err = serve(tmp_path, OSED_LOG__FORMAT="json")
    assert code == 0
    assert out == ""
    events = [json.loads(line) for line in err.splitlines()]
    first = events[0]
    assert first["level"] == "INFO"
    assert first["services"] == ["market-agent", "stats"]
    assert first["bus"] == {"backend": "memory", "at": "in this process"}
    assert first["storage"]["backend"] == "sqlite"
    assert "/healthz" in first["health"]
    messages = [event["message"] for event in events]
    for expected in ("bus started", "market-agent started", "stats started"):
        assert expected in messages
    assert messages.index("stats stopped") < messages.index("bus stopped")
    assert "SIGTERM received: stopping" in messages
    assert messages[-1] == "stopped"


def test_serve_logs_text_and_respects_the_level(tmp_path: Path) -> None:
    _, out, err = serve(tmp_path)
    assert out == ""
    assert "INFO    osed.serve: starting market-agent, stats; bus memory" in err
    _, out, quiet = serve(tmp_path, OSED_LOG__LEVEL="WARNING")
    assert out == ""
    assert "INFO" not in quiet
