"""A balancing request whose solve runs well past a test's patience, and a run function
that records which process solves it (so a test can see that process end)."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

from osed.optimizer_service.requests import BalancingRequest
from osed.optimizer_service.workers import run_payload


def long_request(name: str, steps: int = 20_000) -> dict[str, Any]:
    """Lossy batteries under net limits over ``steps`` quarter hours: HiGHS needs more than
    15 s for it on one core."""
    load = [round(20 + 10 * math.sin(k / 7.0) ** 2 + (k // 96) % 7, 3) for k in range(steps)]
    pv = [
        round(max(0.0, 60 * math.sin(math.pi * ((k % 96) / 4 - 6) / 12)), 3) for k in range(steps)
    ]
    battery = {
        "capacity_kwh": 800,
        "charge_max_kw": 300,
        "discharge_max_kw": 300,
        "soc_min_pct": 10,
        "soc_max_pct": 90,
        "soc_initial_pct": 50,
        "charge_efficiency": 0.95,
        "discharge_efficiency": 0.95,
    }
    return {
        "id": name,
        "start": "2026-06-01T00:00:00Z",
        "step_minutes": 15,
        "load_kw": load,
        "pv_kw": pv,
        "net_limits": {"upper_kw": [80.0] * steps, "lower_kw": [-80.0] * steps},
        "batteries": [{"id": "community", **battery}],
        "time_limit_s": 600,
    }


def pid_file(name: str) -> Path:
    return Path(tempfile.gettempdir()) / f"osed-test-solve-{name}.pid"


def run_recording_pid(payload: bytes) -> bytes:
    """The real solve, after writing this process's id where the test finds it."""
    name = BalancingRequest.decode(payload).document["id"]
    pid_file(name).write_text(str(os.getpid()))
    return run_payload(payload)


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie, killed but not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")
