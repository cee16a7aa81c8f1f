"""``osed run building`` as a real process on a real Mosquitto: the agent answers a DAC round
sent on its channel with its schedule, prints nothing on standard output (logs go to standard
error), and stops cleanly on SIGTERM."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from osed.bus.mqtt import MqttBus
from osed.domain.envelope import Envelope
from osed.domain.time import SystemClock
from osed.edge.names import outbound_topic
from osed.edge.wire import outbound_payload
from tests.integration.runtime.test_serve import free_port, readiness
from tests.services.brokers import Broker, mosquitto  # noqa: F401 (fixture)
from tests.unit.edge.building.neighbourhood import battery

STEPS = 4
TARIFF = [0.1, 0.3, 0.2, 0.1]


def settings(port: int) -> dict[str, Any]:
    building = {
        "id": "b1",
        "base_kw": [1.0] * STEPS,
        "devices": [battery()],
    }
    simulated = {"steps": STEPS, "step_h": 1.0, "building": building}
    return {
        "bus": {"backend": "mqtt", "mqtt": {"host": "127.0.0.1", "port": port}},
        "buildings": {
            "steps": STEPS,
            "step_h": 1.0,
            "tariff_per_kwh": TARIFF,
            "agents": [
                {
                    "building": building,
                    "cycle_s": 0.5,
                    "channels": [{"edc": "area-1", "function": "dac", "token": "secret"}],
                    "gateway": {"adapter": "simulated", **simulated},
                }
            ],
        },
    }


async def one_round(port: int) -> dict[str, Any]:
    """Prices on b1's DAC channel, as an EDC sends them; the schedule that comes back."""
    bus = MqttBus("127.0.0.1", port, client_id="test-edc", clock=SystemClock())
    await bus.start()
    answers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def collect(envelope: Envelope) -> None:
        await answers.put(json.loads(envelope.payload))

    await bus.subscribe("edc/area-1/dac/in", collect)
    now = datetime.now(UTC)
    body = {
        "iteration": 0,
        "prices_per_kwh": [0.1, 0.5, 0.1, 0.1],
        "correction_kw": [0.0] * STEPS,
        "rho": 0.0,
        "step_h": 1.0,
        "deadline": now.isoformat(),
    }
    payload = outbound_payload("area-1", "dac", "prices", body, now)
    topic = outbound_topic("area-1", "dac", "b1")
    try:
        async with asyncio.timeout(30):
            while True:  # reports come too; wait for the schedule
                await bus.publish(Envelope(topic, "test-edc", 1, payload, now))
                try:
                    async with asyncio.timeout(2):
                        while (answer := await answers.get())["type"] != "schedule":
                            pass
                        return answer
                except TimeoutError:
                    continue  # the agent was still subscribing: send again
    finally:
        await bus.stop()


def test_run_building_answers_on_its_channel_with_a_clean_stdout(
    tmp_path: Path,
    mosquitto: Broker,  # noqa: F811
) -> None:
    health = free_port()
    config = tmp_path / "osed.yaml"
    config.write_text(yaml.safe_dump(settings(mosquitto.port)))
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    env = dict(os.environ, OSED_HEALTH__PORT=str(health), OSED_LOGGING__LEVEL="INFO")
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "osed.cli", "run", "building", "--config", str(config)],
            env=env,
            cwd=tmp_path,
            stdout=stdout,
            stderr=stderr,
        )
        try:
            deadline = time.monotonic() + 60
            ready = None
            while time.monotonic() < deadline and not (ready and ready.get("ready")):
                ready = readiness(health)
                time.sleep(0.1)
            assert ready is not None
            assert ready["ready"] is True, err.read_text()

            answer = asyncio.run(one_round(mosquitto.port))
            assert answer["building"] == "b1"
            assert answer["token"] == "secret"
            schedule = answer["body"]["net_kw"]
            assert len(schedule) == STEPS
            # The dear second hour: the battery discharges into it (base load 1 kW).
            assert schedule[1] < 1.0

            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                process.kill()
    assert out.read_bytes() == b""  # a service prints no result: nothing but logs, on stderr
    assert "building agent" in err.read_text()
