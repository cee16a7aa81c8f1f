"""The Market Agent as its own process (``osed run market-agent``), killed with SIGKILL at will."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.services.brokers import Broker, free_port

READY_TIMEOUT_S = 60.0


class MarketAgentProcess:
    """One Market Agent on an MQTT broker, a bilateral market and a SQLite ledger in ``folder``."""

    def __init__(self, folder: Path, broker: Broker, *, market_id: str = "market") -> None:
        self.folder = folder
        self.ledger_path = folder / "ledger.sqlite"
        self.health_port = free_port()
        self.env = dict(
            os.environ,
            OSED_BUS__BACKEND="mqtt",
            OSED_BUS__MQTT__HOST=broker.host,
            OSED_BUS__MQTT__PORT=str(broker.port),
            OSED_STORAGE__SQLITE_PATH=str(self.ledger_path),
            OSED_MARKET__MARKET_ID=market_id,
            OSED_MARKET__MECHANISM="bilateral",
            OSED_HEALTH__PORT=str(self.health_port),
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def log(self) -> Path:
        return self.folder / "market-agent.log"

    def start(self) -> None:
        command = [sys.executable, "-m", "osed.cli", "run", "market-agent"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "--state-dir", str(self.folder / "state")],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1

    def wait_ready(self) -> float:
        """Seconds until /readyz said ready (recovery included)."""
        began = time.monotonic()
        while time.monotonic() - began < READY_TIMEOUT_S:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"market agent exited:\n{self.log.read_text()[-3000:]}")
            if self._ready():
                return time.monotonic() - began
            time.sleep(0.05)  # polling a port that is not open yet; nothing to await
        raise AssertionError(f"market agent not ready:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown work, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM (graceful), SIGKILL if it hangs; the exit code."""
        if self.process is None or self.process.poll() is not None:
            return 0 if self.process is None else self.process.returncode
        self.process.terminate()
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9

    def _ready(self) -> bool:
        url = f"http://127.0.0.1:{self.health_port}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                return bool(json.load(answer).get("ready"))
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False
