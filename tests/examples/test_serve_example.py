"""examples/serve: `osed serve` with the bridge, statistics, estimation and the Market Agent on
Mosquitto, as the example's settings say (only ports and file locations overridden by the
environment). A PMU publishes phasors computed from the CIGRE MV power flow; the test reads
the stored measurements, powers, statistics and estimated voltages with `osed series query`,
and trades with `osed market submit` and `position`."""

from __future__ import annotations

import asyncio
import cmath
import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt

from osed.grid.imports.files import load_network
from osed.grid.powerflow import power_flow
from tests.services.brokers import Broker, free_port, running, shipped_mosquitto_broker

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "serve" / "osed.yaml"
NETWORK = ROOT / "examples" / "grid" / "cigre-mv.json"
SHIFTS = {"A": 0.0, "B": -2 * math.pi / 3, "C": 2 * math.pi / 3}
PHASE_LOADS = ("load0", "load1", "load5")  # the PMU also sees these loads' currents


def pmu_readings() -> tuple[list[dict[str, Any]], dict[str, float], dict[str, float]]:
    """SOGNO readings of every node's voltages and every load's phasors, from the power flow;
    the node voltages (V) and the three loads' active power (W) they imply."""
    document = json.loads(NETWORK.read_text())
    state = power_flow(load_network(str(NETWORK)))
    readings: list[dict[str, Any]] = []
    voltages: dict[str, float] = {}
    for i, node in enumerate(state.node_ids):
        voltages[node] = float(state.u_v[i])
        readings += [
            {"component": node, "measurand": "voltmagnitude", "phase": p, "data": voltages[node]}
            for p in SHIFTS
        ]
    powers: dict[str, float] = {}
    for load in document["components"]["sym_load"]:
        i = state.node(load["node"])
        s_phase = complex(load["p_specified"], load["q_specified"]) / 3
        for phase, shift in SHIFTS.items():
            u = cmath.rect(float(state.u_v[i]), float(state.u_angle[i]) + shift)
            current = (s_phase / u).conjugate()
            readings += [
                reading(load["id"], "voltmagnitude", phase, abs(u)),
                reading(load["id"], "voltangle", phase, cmath.phase(u)),
                reading(load["id"], "currmagnitude", phase, abs(current)),
                reading(load["id"], "currangle", phase, cmath.phase(current)),
            ]
        powers[load["id"]] = float(load["p_specified"])
    return readings, voltages, powers


def reading(component: str, measurand: str, phase: str, value: float) -> dict[str, Any]:
    return {"component": component, "measurand": measurand, "phase": phase, "data": value}


async def publish_frames(port: int, readings: list[dict[str, Any]], seconds: float) -> None:
    """One frame a second, stamped now, as a PMU concentrator would send them."""
    async with aiomqtt.Client("127.0.0.1", port, identifier="pmu1-device") as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            stamp = datetime.now(UTC).isoformat()
            frame = {"device": "pmu1", "timestamp": stamp, "readings": readings}
            await client.publish("bal/raw/pmu1", json.dumps(frame), qos=1)
            await asyncio.sleep(1.0)


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as answer:
            return bool(json.load(answer)["ready"])
    except (urllib.error.URLError, ConnectionError, OSError):
        return False


def osed(env: dict[str, str], *argv: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "osed.cli", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def series(env: dict[str, str], pattern: str, **options: str) -> dict[str, list[dict[str, Any]]]:
    argv = ["series", "query", "--series", pattern, "--start", "2000-01-01T00:00Z"]
    argv += ["--end", "2100-01-01T00:00Z"]
    for name, value in options.items():
        argv += [f"--{name}", value]
    return {s["series_id"]: s["points"] for s in osed(env, *argv)["series"]}


def stored(env: dict[str, str], pattern: str) -> dict[str, list[dict[str, Any]]]:
    """The series matching ``pattern``, or none yet (the store or the series not there)."""
    listed = subprocess.run(
        [sys.executable, "-m", "osed.cli", "series", "list", "--series", pattern],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    if listed.returncode != 0 or not json.loads(listed.stdout)["series"]:
        return {}
    return series(env, pattern)


def test_the_serve_example_stores_estimates_and_trades(tmp_path: Path, mosquitto: Broker) -> None:
    health = free_port()
    env = dict(
        os.environ,
        OSED_BUS__MQTT__PORT=str(mosquitto.port),
        OSED_BRIDGE__FIELD__PORT=str(mosquitto.port),
        OSED_STORAGE__SQLITE_PATH=str(tmp_path / "osed-example.sqlite"),
        OSED_HEALTH__PORT=str(health),
    )
    readings, voltages, powers = pmu_readings()
    command = [sys.executable, "-m", "osed.cli", "serve", "--config", str(EXAMPLE)]
    with (tmp_path / "serve.log").open("wb") as log:  # the child keeps its own descriptor
        serve = subprocess.Popen(
            [*command, "--state-dir", str(tmp_path / "state")],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + 60
        while not ready(health):
            assert serve.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "osed serve did not become ready"
            time.sleep(0.1)
        estimated: dict[str, list[dict[str, Any]]] = {}
        statistics: dict[str, list[dict[str, Any]]] = {}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not (estimated and statistics):
            asyncio.run(publish_frames(mosquitto.port, readings, seconds=3.0))
            estimated = stored(env, "se/node/+/voltmagnitude/ABC")
            statistics = stored(env, "stats/pmu1/bus1/voltmagnitude_mean/A")  # 10 s windows
        assert statistics, (tmp_path / "serve.log").read_text()[-3000:]
        assert len(estimated) == len(voltages), (tmp_path / "serve.log").read_text()[-3000:]
        for series_id, points in estimated.items():
            node = series_id.split("/")[2]
            assert math.isclose(points[-1]["value"], voltages[node], rel_tol=1e-3)

        measured = series(env, "pmu1/+/activepower/ABC", every="1d", agg="last")
        for load in PHASE_LOADS:
            [day] = measured[f"pmu1/{load}/activepower/ABC"]
            assert math.isclose(day["value"], powers[load], rel_tol=1e-6)

        interval = "2026-07-01T10:00Z"
        common = ["--interval", interval, "--party"]
        osed(env, "market", "submit", "--config", str(EXAMPLE), "--side", "sell",
             "--quantity", "5", "--price", "0.2", *common, "pv-farm")  # fmt: skip
        bought = osed(env, "market", "submit", "--config", str(EXAMPLE), "--side", "buy",
                      "--quantity", "2", "--price", "0.25", *common, "house-7")  # fmt: skip
        assert [t["quantity"] for t in bought["transactions"]] == [2]
        position = osed(env, "market", "position", "--config", str(EXAMPLE), "--party",
                        "pv-farm", "--start", interval, "--end", "2026-07-01T11:00Z")  # fmt: skip
        assert [p["quantity"] for p in position["positions"]] == [-2]
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=60) == 0
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
    assert serve.stdout is not None
    with serve.stdout:
        assert serve.stdout.read() == b""  # a service prints nothing on standard output


def test_the_shipped_mosquitto_configuration_runs(tmp_path: Path) -> None:
    """examples/mosquitto/mosquitto.conf, on a free port and in a folder of the test's."""
    broker = shipped_mosquitto_broker(tmp_path)
    with running(broker):
        asyncio.run(publish_frames(broker.port, [reading("bus1", "frequency", "A", 50.0)], 0.5))
        broker.stop()
    assert (tmp_path / "mosquitto.db").exists()  # persistence on, in the folder given
