"""Kill -9 the bridge process three times in the middle of a 10,000-message stream: storage
must hold every message exactly once."""

from __future__ import annotations

from pathlib import Path

from tests.integration.faults.checks import (
    ALL,
    KILLS_AT,
    STREAM_TIMEOUT_S,
    assert_published_once,
    assert_stored_exactly,
    finish,
)
from tests.integration.faults.support import (
    COUNT,
    POINTS_PER_MESSAGE,
    BridgeProcess,
    SourceProcess,
    wait_for,
)
from tests.services.brokers import Broker


def test_bridge_killed_three_times_mid_stream(tmp_path: Path, mosquitto: Broker) -> None:
    bridge = BridgeProcess(tmp_path / "bridge", mosquitto)
    source = SourceProcess(tmp_path / "source", mosquitto)
    try:
        bridge.start()
        bridge.wait_ready()
        source.start()
        for at in KILLS_AT:
            wait_for(
                f"the bridge to store message {at}",
                lambda at=at: bridge.stored_points() >= at * POINTS_PER_MESSAGE,
                STREAM_TIMEOUT_S,
                alive=[bridge, source],
            )
            bridge.kill()  # SIGKILL mid-batch
            bridge.start()
            bridge.wait_ready()
        assert bridge.starts == 4
        settled = finish(bridge, source, COUNT * POINTS_PER_MESSAGE)

        assert_stored_exactly(bridge, ALL, settled)
        assert_published_once(bridge, ALL)
        assert bridge.reported_gaps() == []
        assert bridge.stop() == 0
    finally:
        source.kill()
        bridge.kill()
