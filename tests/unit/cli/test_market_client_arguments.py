"""``osed market submit | cancel | position`` refuse what cannot work before touching a bus:
every bad option named at once, the memory bus, an unreachable broker; nothing on standard
output, no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def osed(tmp_path: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "osed.cli", "market", *argv],
        env=dict(os.environ, **env),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_every_bad_submit_option_is_named(tmp_path: Path) -> None:
    done = osed(
        tmp_path, "submit", "--party", "a/b", "--side", "buy", "--quantity", "1.0001",
        "--price", "-1", "--interval", "2026-07-01T10:00", "--timeout", "0",
        OSED_BUS__BACKEND="mqtt", OSED_BUS__MQTT__PORT=str(closed_port()),
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stdout == ""
    for option in ("--party", "--quantity", "--price", "--interval", "--timeout"):
        assert f"{option}:" in done.stderr
    assert "Traceback" not in done.stderr
    assert not list(tmp_path.iterdir())


def test_position_names_a_bad_range(tmp_path: Path) -> None:
    done = osed(
        tmp_path, "position", "--party", "p", "--start", "2026-07-02T00:00Z",
        "--end", "2026-07-01T00:00Z", OSED_BUS__BACKEND="mqtt",
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stdout == ""
    assert "--end: must be after --start" in done.stderr


def test_the_memory_bus_is_refused_with_what_to_set(tmp_path: Path) -> None:
    done = osed(tmp_path, "cancel", "t-1", "--party", "p", OSED_BUS__BACKEND="memory")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "$.bus.backend" in done.stderr
    assert "mqtt or nats" in done.stderr


def test_an_unreachable_broker_is_one_clear_line(tmp_path: Path) -> None:
    port = closed_port()
    done = osed(
        tmp_path, "position", "--party", "p", "--start", "2026-07-01T00:00Z",
        "--end", "2026-07-02T00:00Z", OSED_BUS__BACKEND="mqtt", OSED_BUS__MQTT__PORT=str(port),
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("error: cannot reach the mqtt bus")
    assert f"127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr
