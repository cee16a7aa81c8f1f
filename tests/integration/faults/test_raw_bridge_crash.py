"""Kill -9 the bridge three times while a field device streams 10,000 raw (non-OSED) MQTT
messages: the broker holds what the bridge had not acknowledged, so storage ends with every
message exactly once and each is published once."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tests.integration.faults.checks import (
    ALL,
    KILLS_AT,
    SETTLE_QUIET_S,
    SETTLE_TIMEOUT_S,
    STREAM_TIMEOUT_S,
    assert_published_once,
)
from tests.integration.faults.support import (
    COUNT,
    POINTS_PER_MESSAGE,
    RAW_PIPELINES,
    BridgeProcess,
    ManagedProcess,
    census,
    wait_for,
    wait_until_settled,
)
from tests.services.brokers import Broker


class RawDevice(ManagedProcess):
    name = "device"

    def __init__(self, folder: Path, broker: Broker) -> None:
        super().__init__(folder)
        self.broker = broker

    def command(self) -> list[str]:
        script = Path(__file__).with_name("raw_device_process.py")
        return [sys.executable, str(script), "--port", str(self.broker.port), "--count", str(COUNT)]

    def finished(self) -> bool:
        return self.log.exists() and f"published through {COUNT}" in self.log.read_text()


def test_bridge_killed_three_times_during_a_raw_stream(tmp_path: Path, mosquitto: Broker) -> None:
    bridge = BridgeProcess(tmp_path / "bridge", mosquitto)
    bridge.pipelines.write_text(RAW_PIPELINES)
    device = RawDevice(tmp_path / "device", mosquitto)
    try:
        bridge.start()
        bridge.wait_ready()  # subscribed: the broker keeps the session from here on
        device.start()
        for at in KILLS_AT:
            wait_for(
                f"the bridge to store message {at}",
                lambda at=at: bridge.stored_points() >= at * POINTS_PER_MESSAGE,
                STREAM_TIMEOUT_S,
                alive=[bridge],
            )
            time.sleep(0.2)  # half a batch received, none of it written
            bridge.kill()  # SIGKILL mid-batch, raw messages unacknowledged
            bridge.start()
            bridge.wait_ready()
        wait_for("the device to publish all", device.finished, STREAM_TIMEOUT_S)
        settled = wait_until_settled(
            bridge, COUNT * POINTS_PER_MESSAGE, quiet=SETTLE_QUIET_S, timeout=SETTLE_TIMEOUT_S
        )

        stored, sources = census(bridge.database)
        problems = stored.problems(ALL)
        assert not problems, f"storage settled at {settled} points:\n{problems}"
        assert sources == {"raw.field.pmu1"}
        assert_published_once(bridge, ALL)
        assert bridge.starts == 4
        assert bridge.stop() == 0
    finally:
        device.kill()
        bridge.kill()
