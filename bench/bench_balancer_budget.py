"""The balancer's time budget on large requests, printing JSON.

Three requests are generated: pymfm's optimisation example stretched to 40,000 steps of
15 min (about 6.8 MB of JSON) and to 400,000 steps (about 64 MB), and an OSED balancing
document of 200,000 steps. Each is run as a user runs it, ``osed optimize FILE --time-limit
BUDGET`` in a subprocess: the 64 MB file once with the default size limit (refused before it
is read) and once with ``--max-request-mb 100``. The figures are the wall time against the
budget (the command's start-up, about 1-2 s of imports, comes on top of the budget), the peak
resident memory of the process, the exit code and the solve status reported (``stopped``:
stopped outright one second past the budget, nothing on standard output).

With ``--api``, the 6.8 MB request also goes through the job service (``BalancerRunner``:
uvicorn, a SQLite job store, one worker process) with ``time_limit_s=5``: the time to queue
it, the time until its job ends and how; then the same request with a budget of 60 s,
cancelled after 2 s (the time until the job says ``cancelled``), and again, with the service
stopped after 2 s (how long the stop takes).

    .venv/bin/python bench/bench_balancer_budget.py [--budget 5] [--big-budget 30] [--api]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from osed.optimizer.budget import HARD_STOP_GRACE_S

HERE = Path(__file__).parent
EXAMPLE = HERE.parent / "tests" / "data" / "optimizer" / "pymfm"
START = datetime(2021, 4, 1, tzinfo=UTC)
STEP = timedelta(minutes=15)


def _stamp(k: int) -> str:
    return (START + k * STEP).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _load(k: int) -> float:
    """A daily load shape with a little variation from day to day."""
    hour = (k % 96) / 4
    return round(20.0 + 10.0 * math.sin(math.pi * hour / 12) ** 2 + (k // 96) % 7, 3)


def _pv(k: int) -> float:
    hour = (k % 96) / 4
    return round(max(0.0, 60.0 * math.sin(math.pi * (hour - 6) / 12)), 3)


def pymfm_request(steps: int) -> dict[str, Any]:
    """pymfm's optimisation example over ``steps`` steps, with a net limit per step."""
    example = json.loads((EXAMPLE / "input_scheduling_optimization_based.json").read_text())
    example["uc_start"] = _stamp(0)
    example["uc_end"] = _stamp(steps - 1)
    example["day_end"] = _stamp(72)
    example["generation_and_load"] = {
        "pv_curtailment": False,
        "values": [
            {"timestamp": _stamp(k), "P_gen_kW": _pv(k), "P_load_kW": _load(k)}
            for k in range(steps)
        ],
    }
    example["P_net_after_kW_limitation"] = [
        {"timestamp": _stamp(k), "upper_bound": 80, "lower_bound": -80} for k in range(steps)
    ]
    document: dict[str, Any] = example
    return document


def osed_request(steps: int) -> dict[str, Any]:
    """An OSED balancing document with one community and one household battery."""
    return {
        "id": f"budget-{steps}",
        "start": START.isoformat(),
        "step_minutes": 15,
        "load_kw": [_load(k) for k in range(steps)],
        "pv_kw": [_pv(k) for k in range(steps)],
        "net_limits": {"upper_kw": [80.0] * steps, "lower_kw": [-80.0] * steps},
        "batteries": [
            {
                "id": "community",
                "kind": "cbes",
                "capacity_kwh": 800,
                "charge_max_kw": 300,
                "discharge_max_kw": 300,
                "soc_min_pct": 10,
                "soc_max_pct": 90,
                "soc_initial_pct": 50,
                "charge_efficiency": 0.95,
                "discharge_efficiency": 0.95,
            },
            {
                "id": "house",
                "kind": "hbes",
                "capacity_kwh": 80,
                "charge_max_kw": 30,
                "discharge_max_kw": 30,
                "soc_min_pct": 10,
                "soc_max_pct": 90,
                "soc_initial_pct": 40,
            },
        ],
    }


def run(path: Path, budget: float, extra: list[str], startup: float = 0.0) -> dict[str, Any]:
    """``osed optimize`` on ``path`` as a child process: wall time, peak RSS, outcome."""
    command = [sys.executable, "-m", "osed.cli", "optimize", str(path)]
    command += ["--time-limit", str(budget), *extra]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=err)
        _, wait_status, usage = os.wait4(child.pid, 0)  # this child's own peak memory
        wall = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(wait_status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    status = "stopped" if "time_limit" in stderr else None
    whole_json = None
    if stdout.strip():
        try:
            json.loads(stdout)
            whole_json = True
        except json.JSONDecodeError:
            whole_json = False  # something besides the result on standard output
        last = stdout.strip().splitlines()[-1]
        if last.startswith("{"):
            result = json.loads(last)
            status = result.get("solver_status", result.get("status"))
    elif code == 2:
        status = "refused"
    return {
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "budget_s": budget,
        "wall_s": round(wall, 2),
        "after_startup_s": round(wall - startup, 2),
        # One second of hard-stop grace, half a second of scheduling noise.
        "kept": wall - startup <= budget + HARD_STOP_GRACE_S + 0.5,
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "exit": code,
        "status": status,
        "stdout_only_json": whole_json,
    }


def _call(url: str, body: bytes | None = None, key: str = "") -> dict[str, Any]:
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Idempotency-Key", key)
    with urllib.request.urlopen(request, timeout=120) as response:
        document: dict[str, Any] = json.loads(response.read())
        return document


def _until(url: str, statuses: set[str]) -> dict[str, Any]:
    while True:
        job = _call(url)
        if job["status"] in statuses:
            return job
        time.sleep(0.02)


async def through_api(body: bytes, budget: float) -> dict[str, Any]:
    from osed.domain.time import SystemClock
    from osed.runtime.api_access import open_access
    from osed.runtime.container import BalancerRunner
    from osed.runtime.settings import Settings

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = Path(tempfile.mkdtemp(prefix="osed-bench-budget-"))
    settings = Settings(
        jobs={"backend": "sqlite", "sqlite_path": folder / "jobs.sqlite"},
        balancer={"port": port, "workers": 1},
    )
    runner = BalancerRunner(settings, SystemClock(), open_access())
    await runner.start()
    base = f"http://127.0.0.1:{port}/optimizations"
    figures: dict[str, Any] = {"file_mb": round(len(body) / 1e6, 1), "budget_s": budget}
    try:
        sent = time.perf_counter()
        job = await asyncio.to_thread(_call, f"{base}?time_limit_s={budget}", body, "budget")
        figures["submit_s"] = round(time.perf_counter() - sent, 2)
        done = await asyncio.to_thread(
            _until, f"{base}/{job['id']}", {"succeeded", "failed", "cancelled"}
        )
        figures["finished_s"] = round(time.perf_counter() - sent, 2)
        figures["status"] = done["status"]
        figures["error"] = done.get("error")
        job = await asyncio.to_thread(_call, f"{base}?time_limit_s=60", body, "cancel")
        await asyncio.to_thread(_until, f"{base}/{job['id']}", {"running"})
        await asyncio.sleep(2.0)
        asked = time.perf_counter()
        await asyncio.to_thread(_call, f"{base}/{job['id']}/cancel", b"")
        await asyncio.to_thread(_until, f"{base}/{job['id']}", {"cancelled"})
        figures["cancel_s"] = round(time.perf_counter() - asked, 2)
        job = await asyncio.to_thread(_call, f"{base}?time_limit_s=60", body, "shutdown")
        await asyncio.to_thread(_until, f"{base}/{job['id']}", {"running"})
        await asyncio.sleep(2.0)
    finally:
        stopping = time.perf_counter()
        await runner.stop()
        figures["shutdown_s"] = round(time.perf_counter() - stopping, 2)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=5.0, help="for the 6.8 MB request")
    parser.add_argument("--big-budget", type=float, default=30.0, help="for the large ones")
    parser.add_argument("--api", action="store_true", help="also through the job service")
    parser.add_argument(
        "--only",
        choices=["pymfm_6_8mb", "pymfm_64mb_default_limit", "pymfm_64mb", "osed_200k", "api"],
    )
    args = parser.parse_args()
    cases = {
        "pymfm_6_8mb": (lambda: pymfm_request(40_000), args.budget, []),
        "pymfm_64mb_default_limit": (lambda: pymfm_request(400_000), args.big_budget, []),
        "pymfm_64mb": (
            lambda: pymfm_request(400_000),
            args.big_budget,
            ["--max-request-mb", "100"],
        ),
        "osed_200k": (lambda: osed_request(200_000), args.big_budget, []),
    }
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        # Start-up and a request that solves at once: what comes on top of any budget.
        tiny = Path(folder) / "tiny.json"
        tiny.write_text(json.dumps(osed_request(8)))
        startup = run(tiny, 10.0, [])["wall_s"]
        figures["startup_s"] = startup
        for name, (make, budget, extra) in cases.items():
            if args.only and name != args.only:
                continue
            path = Path(folder) / f"{name}.json"
            path.write_text(json.dumps(make()))
            figures[name] = run(path, budget, extra, startup)
        if args.api or args.only == "api":
            body = json.dumps(pymfm_request(40_000)).encode()
            figures["api_pymfm_6_8mb"] = asyncio.run(through_api(body, args.budget))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
