"""Run ``osed`` as a user does: piped (JSON on standard output) or on a pseudo-terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OSED = [sys.executable, "-m", "osed.cli"]


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        """Standard output parsed whole, as one JSON document."""
        return json.loads(self.out)

    def json_lines(self) -> list[Any]:
        return [json.loads(line) for line in self.out.splitlines()]


def piped(
    *argv: str, cwd: Path | None = None, env: Mapping[str, str] | None = None, timeout: float = 120
) -> Run:
    done = subprocess.run(
        [*OSED, *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=None if env is None else {**os.environ, **env},
        timeout=timeout,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def on_terminal(
    *argv: str,
    cwd: Path | None = None,
    stdout: bool = True,
    stderr: bool = False,
    timeout: float = 120,
) -> Run:
    """Run with standard output and/or standard error on a pseudo-terminal; a stream not on
    the terminal is piped. Text read from the terminal has its CR LF turned back into LF."""
    master, slave = os.openpty()
    process = subprocess.Popen(
        [*OSED, *argv],
        stdin=subprocess.DEVNULL,
        stdout=slave if stdout else subprocess.PIPE,
        stderr=slave if stderr else subprocess.PIPE,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200"},
    )
    os.close(slave)
    piped_text: list[bytes] = []
    pipe = process.stdout if not stdout else process.stderr
    reader = threading.Thread(target=lambda: piped_text.append(pipe.read() if pipe else b""))
    reader.start()
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every writer has closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    code = process.wait(timeout=timeout)
    reader.join(timeout)
    terminal = b"".join(chunks).decode().replace("\r\n", "\n")
    other = b"".join(piped_text).decode()
    if stdout and stderr:
        return Run(code, terminal, terminal)
    return Run(code, terminal, other) if stdout else Run(code, other, terminal)
