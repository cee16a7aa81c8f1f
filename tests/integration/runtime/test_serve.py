"""``osed serve`` as a real process: ready over HTTP, graceful stop on SIGTERM."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def readiness(port: int) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as answer:
            return dict(json.load(answer))
    except (urllib.error.URLError, ConnectionError):
        return None


def test_serve_becomes_ready_and_stops_gracefully(tmp_path: Path) -> None:
    port = free_port()
    env = dict(
        os.environ,
        OSED_HEALTH__PORT=str(port),
        OSED_STORAGE__SQLITE_PATH=str(tmp_path / "ledger.sqlite"),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "osed.cli", "serve", "--state-dir", str(tmp_path / "state")],
        env=env,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        state = None
        while time.monotonic() < deadline and state is None:
            state = readiness(port)
            time.sleep(0.1)
        assert state == {"ready": True, "services": {"bus": True, "market-agent": True}}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert (tmp_path / "ledger.sqlite").exists()


def test_bad_settings_fail_fast_naming_every_problem(tmp_path: Path) -> None:
    env = dict(os.environ, OSED_BUS__BACKEND="kafka", OSED_MARKET__CURRENCY="euro")
    done = subprocess.run(
        [sys.executable, "-m", "osed.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 2
    assert "$.bus.backend" in done.stderr
    assert "$.market.currency" in done.stderr
    assert not list(tmp_path.iterdir())  # nothing was written
