"""``osed run bridge`` as a real process: field device → Mosquitto → bridge → storage."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt

from osed.storage.timeseries_sqlite import SqliteTimeSeriesStore
from tests.services.brokers import Broker, free_port, mosquitto  # noqa: F401 (fixture)

DAY_START = datetime(2026, 7, 1, tzinfo=UTC)
DAY_END = datetime(2026, 7, 2, tzinfo=UTC)

PIPELINES = """
dead_letter_prefix: dead-letter
pipelines:
  - name: pmu
    ingress: raw
    subscribe: [bal/raw/#]
    format: sogno
    steps: [validate]
    publish: bal/processed
    store:
      series: "{device}/{component}/{measurand}/{phase}"
"""

MEASUREMENT = {
    "device": "pmu7",
    "timestamp": "2026-07-01T10:00:00+00:00",
    "readings": [
        {"component": "node-1", "measurand": "voltmagnitude", "phase": "A", "data": 230.4},
        {"component": "node-1", "measurand": "frequency", "phase": "A", "data": 50.01},
    ],
}


async def publish_from_a_device(port: int) -> None:
    async with aiomqtt.Client("127.0.0.1", port, identifier="pmu7-device") as client:
        await client.publish("bal/raw/pmu7", json.dumps(MEASUREMENT), qos=1)


def test_bridge_process_stores_device_measurements(tmp_path: Path, mosquitto: Broker) -> None:  # noqa: F811
    (tmp_path / "pipelines.yaml").write_text(PIPELINES)
    database = tmp_path / "osed.sqlite"
    env = dict(
        os.environ,
        OSED_BUS__BACKEND="mqtt",
        OSED_BUS__MQTT__PORT=str(mosquitto.port),
        OSED_BRIDGE__FIELD__PORT=str(mosquitto.port),
        OSED_BRIDGE__PIPELINES_FILE=str(tmp_path / "pipelines.yaml"),
        OSED_STORAGE__SQLITE_PATH=str(database),
        OSED_HEALTH__PORT=str(free_port()),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "osed.cli", "run", "bridge", "--state-dir", str(tmp_path / "s")],
        env=env,
    )
    try:
        stored: list[float] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not stored:
            asyncio.run(publish_from_a_device(mosquitto.port))
            time.sleep(0.5)
            if database.exists():
                with SqliteTimeSeriesStore(database) as store:
                    series = {info.series_id for info in store.series()}
                    if "pmu7/node-1/frequency/A" in series:
                        points = store.read("pmu7/node-1/frequency/A", DAY_START, DAY_END)
                        stored = [point.value for point in points]
        assert stored == [50.01]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
