"""Kill -9 the field broker while a device streams raw (non-OSED) QoS 1 messages to the bridge.

Real processes: ``osed run bridge`` (one ``ingress: raw`` SOGNO pipeline, SQLite time series)
and ``acked_device_process.py`` (a device that sends each message again on its next connection
until the broker acknowledged it, and records when each acknowledged copy was sent and
acknowledged). The broker is killed and restarted after a second, as in a crash.

- With the Mosquitto settings OSED ships (``examples/mosquitto/mosquitto.conf``: the session
  saved every second) the broker comes back with the bridge's session, so every message it
  acknowledged to the device reaches storage, once, and no loss is reported.
- With the settings the docs used to recommend (persistence on, saved every 1,800 s) the
  broker comes back without the session and drops what it gets before the bridge subscribes
  again. The bridge cannot prevent that, but reports it: one gap report whose time window
  covers the crash and every acknowledged message that never arrived, saved with its
  positions (printed by ``osed bus gaps``) and published on ``_osed/gaps/<consumer>``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from osed.bridge.mqtt_raw import _pattern_id
from osed.bus.reliable import GapReport
from osed.codec.gap import decode_gap_report
from tests.integration.faults.support import (
    CONSUMER,
    POINTS_PER_MESSAGE,
    RAW_PIPELINES,
    BridgeProcess,
    GapTopicListener,
    ManagedProcess,
    census,
    ranges,
    wait_for,
    wait_until_settled,
)
from tests.services.brokers import (
    Broker,
    mosquitto_broker,
    running,
    shipped_mosquitto_broker,
)

COUNT = 5_000  # device messages, at RATE per second
RATE = 500.0
KILLS_AT = (1_500, 3_000)  # acknowledged messages
DOWN_S = 1.0  # the broker is down this long
# A restarted broker saves its state only after its first autosave, and the bridge reconnects
# with backoff (jittered, up to 1.6 s after an outage of a second). What such a broker accepts
# and is killed again before it saved and delivered is lost whatever OSED does, so a second
# crash waits this long after a restart.
UP_AT_LEAST_S = 3.0
STREAM_TIMEOUT_S = 40.0
SETTLE_QUIET_S = 3.0  # raw messages are not replayed: storage stops growing once it is done
SETTLE_TIMEOUT_S = 30.0
# The raw subscription's link: its client id ends in the hash of its pattern.
RAW_LINK_LOST = re.compile(rf"MQTT link \S+\.{_pattern_id('field/+')} lost")


class AckedDevice(ManagedProcess):
    name = "device"

    def __init__(self, folder: Path, broker: Broker) -> None:
        super().__init__(folder)
        self.broker = broker
        self.acks = folder / "acks.txt"

    def command(self) -> list[str]:
        script = Path(__file__).with_name("acked_device_process.py")
        return [
            sys.executable,
            str(script),
            *("--port", str(self.broker.port), "--count", str(COUNT)),
            *("--rate", str(RATE), "--acks", str(self.acks)),
        ]

    def acknowledged(self) -> dict[int, tuple[float, float]]:
        """Message index -> (sent, acknowledged) Unix times, for what the broker acknowledged."""
        text = self.acks.read_text() if self.acks.exists() else ""
        found = {}
        for line in text.splitlines():
            index, sent, acked = line.split()
            found[int(index)] = (float(sent), float(acked))
        return found

    def finished(self) -> bool:
        return self.log.exists() and f"published through {COUNT}" in self.log.read_text()


def crash(
    broker: Broker,
    device: AckedDevice,
    at: int,
    *,
    alive: list[ManagedProcess],
    not_before: float = 0.0,
) -> tuple[float, float]:
    """SIGKILL the broker once the device has ``at`` acknowledged messages (and not before the
    Unix time ``not_before``), restart it after ``DOWN_S``. Unix times at which it was dead:
    after the kill, before the restart."""
    wait_for(
        f"the broker to acknowledge {at} messages",
        lambda: len(device.acknowledged()) >= at and time.time() >= not_before,
        STREAM_TIMEOUT_S,
        alive=alive,
    )
    broker.kill()  # returns once the process is gone
    dead_at = time.time()
    time.sleep(DOWN_S)  # down as long as a crashed broker takes to be restarted
    restarting_at = time.time()
    broker.start()
    return dead_at, restarting_at


def session_saved_after(broker: Broker, instant: float) -> bool:
    database = broker.folder / "mosquitto.db"
    return database.exists() and database.stat().st_mtime > instant


def osed_bus_gaps(bridge: BridgeProcess) -> list[GapReport]:
    command = [sys.executable, "-m", "osed.cli", "bus", "gaps", "--state-dir", str(bridge.state)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return [decode_gap_report(line) for line in done.stdout.splitlines()]


def stored_messages(bridge: BridgeProcess) -> set[int]:
    """The messages every series holds exactly once (a duplicate or a half-stored message
    fails the test)."""
    stored, sources = census(bridge.database)
    assert sources == {"raw.field.pmu1"}
    counters = list(stored.per_series.values())
    assert len(counters) == POINTS_PER_MESSAGE
    assert all(n == 1 for counter in counters for n in counter.values()), "stored twice"
    held = [set(counter) for counter in counters]
    assert all(h == held[0] for h in held), "a message stored in one series only"
    return held[0]


def test_with_the_shipped_settings_a_broker_crash_loses_no_acknowledged_message(
    tmp_path: Path,
) -> None:
    with running(shipped_mosquitto_broker(tmp_path / "mosquitto")) as broker:
        bridge = BridgeProcess(tmp_path / "bridge", broker)
        bridge.pipelines.write_text(RAW_PIPELINES)
        device = AckedDevice(tmp_path / "device", broker)
        try:
            bridge.start()
            bridge.wait_ready()
            subscribed = time.time()
            wait_for(
                "the broker to save the bridge's session",
                lambda: session_saved_after(broker, subscribed),
                5.0,
            )
            device.start()
            restarted = 0.0
            for at in KILLS_AT:
                crash(broker, device, at, alive=[bridge, device], not_before=restarted)
                restarted = time.time() + UP_AT_LEAST_S
            wait_for("the device to finish", device.finished, STREAM_TIMEOUT_S, alive=[bridge])
            settled = wait_until_settled(
                bridge,
                COUNT * POINTS_PER_MESSAGE,
                quiet=SETTLE_QUIET_S,
                timeout=SETTLE_TIMEOUT_S,
            )

            acknowledged = set(device.acknowledged())
            assert acknowledged == set(range(1, COUNT + 1))
            lost = acknowledged - stored_messages(bridge)
            assert not lost, f"settled at {settled} points; lost {ranges(lost)}"
            assert len(RAW_LINK_LOST.findall(bridge.log.read_text())) == len(KILLS_AT)
            assert bridge.reported_gaps() == []
            assert osed_bus_gaps(bridge) == []
            assert bridge.stop() == 0
        finally:
            device.kill()
            bridge.kill()


def test_a_broker_that_forgot_the_session_is_reported_with_the_window_of_loss(
    tmp_path: Path,
) -> None:
    # The field broker as the docs used to recommend; the bus on a broker of its own that
    # stays up, where an operator listens for gap reports.
    field = mosquitto_broker(tmp_path / "field-broker")
    bus = mosquitto_broker(tmp_path / "bus-broker")
    with running(field), running(bus):
        bridge = BridgeProcess(tmp_path / "bridge", field, bus_broker=bus)
        bridge.pipelines.write_text(RAW_PIPELINES)
        device = AckedDevice(tmp_path / "device", field)
        listener = GapTopicListener(bus)
        try:
            listener.start()
            bridge.start()
            bridge.wait_ready()
            device.start()
            dead_at, restarting_at = crash(field, device, KILLS_AT[0], alive=[bridge, device])
            wait_for("the device to finish", device.finished, STREAM_TIMEOUT_S, alive=[bridge])
            wait_until_settled(
                bridge, COUNT * POINTS_PER_MESSAGE, quiet=SETTLE_QUIET_S, timeout=SETTLE_TIMEOUT_S
            )
            wait_for("the gap report on the bus", lambda: bool(listener.envelopes), 10.0)

            (report,) = osed_bus_gaps(bridge)
            assert (report.consumer, report.pattern, report.source, report.reason) == (
                CONSUMER,
                "field/+",
                "raw.field.+",
                "session_lost",
            )
            assert report.seqs is None
            window = report.window
            assert window is not None
            since, until = (instant.timestamp() for instant in window)
            assert since <= dead_at < restarting_at <= until
            assert until - since < 10.0, f"a window of {until - since:.1f} s says little"
            assert bridge.reported_gaps() == [report]
            assert listener.reports() == [report]

            acknowledged = device.acknowledged()
            assert set(acknowledged) == set(range(1, COUNT + 1))
            lost = set(acknowledged) - stored_messages(bridge)
            # The broker accepted each lost message between sending and PUBACK: that span
            # must meet the window.
            outside = [
                i for i in lost if not (acknowledged[i][0] <= until and acknowledged[i][1] >= since)
            ]
            print(
                f"lost {len(lost)} acknowledged messages ({ranges(lost)}) in the window "
                f"{_utc(since)}..{_utc(until)}; broker dead at {_utc(dead_at)}"
            )
            assert not outside, f"lost outside the reported window: {ranges(outside)}"
            assert bridge.stop() == 0
        finally:
            listener.stop()
            device.kill()
            bridge.kill()


def _utc(instant: float) -> str:
    return datetime.fromtimestamp(instant, UTC).strftime("%H:%M:%S.%f")[:-3]
