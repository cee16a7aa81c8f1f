"""Kill -9 the broker, the bridge and the source in the middle of a 10,000-message stream.

Real processes on a real Mosquitto: ``osed run bridge`` (one ``ingress: bus`` SOGNO pipeline,
SQLite time series, MQTT bus on the same broker) and ``source_process.py`` (an OSED reliable
Publisher with a SQLite outbox; message ``i`` is seq ``i``, the measurement at ``BASE + i`` s,
two readings, so two points per message). Afterwards storage must hold every message exactly
once: per series, the set of event times equals the expected set and no event time has two
points. When the source itself lost messages for good, the exact range must be reported: saved
with the bridge's positions and published on the gap topic.
"""

from __future__ import annotations

from pathlib import Path

from osed.bus.reliable import GapReport, SqliteOutbox
from tests.integration.faults.checks import (
    ALL,
    KILLS_AT,
    STREAM_TIMEOUT_S,
    assert_published_once,
    assert_stored_exactly,
    finish,
)
from tests.integration.faults.source_process import SOURCE
from tests.integration.faults.support import (
    CONSUMER,
    COUNT,
    POINTS_PER_MESSAGE,
    BridgeProcess,
    GapTopicListener,
    SourceProcess,
    ranges,
    wait_for,
)
from tests.services.brokers import Broker


def test_broker_killed_three_times_mid_stream(tmp_path: Path, mosquitto: Broker) -> None:
    bridge = BridgeProcess(tmp_path / "bridge", mosquitto)
    source = SourceProcess(tmp_path / "source", mosquitto)
    try:
        bridge.start()
        bridge.wait_ready()
        source.start()
        for at in KILLS_AT:
            wait_for(
                f"the source to pass seq {at}",
                lambda at=at: source.last_seq() >= at,
                STREAM_TIMEOUT_S,
                alive=[bridge, source],
            )
            mosquitto.kill()  # SIGKILL: what it acknowledged but had not delivered is gone
            mosquitto.start()  # same port, same folder
        assert bridge.stored_points() < COUNT * POINTS_PER_MESSAGE, "not mid-stream"
        settled = finish(bridge, source, COUNT * POINTS_PER_MESSAGE)

        # The kills hit: the bridge's durable subscription lost its broker three times.
        assert bridge.link_losses(f"osed-bridge.{CONSUMER}") >= len(KILLS_AT)
        print("replays the source served:", source.replay_requests())
        assert_stored_exactly(bridge, ALL, settled)
        assert_published_once(bridge, ALL)
        assert bridge.reported_gaps() == []
        assert bridge.stop() == 0
    finally:
        source.kill()
        bridge.kill()


def test_source_killed_and_trimmed_shows_the_exact_gap(tmp_path: Path, mosquitto: Broker) -> None:
    """The bridge is stopped (gracefully) at seq P; the source goes on to seq K, with P+1..K
    queued in the broker for the bridge's durable session; then the source is SIGKILLed, its
    outbox trimmed through K (those messages can never be replayed) and the broker SIGKILLed
    (it loses the queue). The source's next incarnation resumes at K+1. Storage must hold
    exactly 1..P and K+1..10,000, and the bridge must report the gap P+1..K, nothing else:
    in its positions file and on ``_osed/gaps/<consumer>``, where an operator listens."""
    bridge = BridgeProcess(tmp_path / "bridge", mosquitto)
    source = SourceProcess(tmp_path / "source", mosquitto)
    listener = GapTopicListener(mosquitto)
    try:
        bridge.start()
        bridge.wait_ready()
        source.start()
        wait_for(
            "the bridge to store message 3000",
            lambda: bridge.stored_points() >= 3_000 * POINTS_PER_MESSAGE,
            STREAM_TIMEOUT_S,
            alive=[bridge, source],
        )
        assert bridge.stop() == 0
        delivered = bridge.position()  # P: everything through it is stored, nothing after
        assert bridge.stored_points() == delivered * POINTS_PER_MESSAGE
        wait_for(
            "the source to publish 500 more",
            lambda: source.last_seq() >= delivered + 500,
            STREAM_TIMEOUT_S,
            alive=[source],
        )
        source.kill()
        killed_at = source.last_seq()  # K
        assert killed_at < COUNT, "the source was to be killed mid-stream"
        mosquitto.kill()
        mosquitto.start()
        outbox = SqliteOutbox(source.outbox, SOURCE)
        outbox.trim_through(killed_at)  # what the dead source held is gone
        outbox.close()
        assert source.held() == (0, 0, 0)

        listener.start()
        bridge.start()
        bridge.wait_ready()
        source.start()  # a new incarnation: resumes at K+1 and announces its head
        lost = set(range(delivered + 1, killed_at + 1))
        settled = finish(bridge, source, (COUNT - len(lost)) * POINTS_PER_MESSAGE)

        assert_stored_exactly(bridge, ALL - lost, settled)
        assert_published_once(bridge, ALL - lost)
        saved = bridge.reported_gaps()
        assert_exact_gap(saved, delivered + 1, killed_at)
        wait_for("the gap reports on the topic", lambda: len(listener.reports()) >= len(saved), 10)
        assert sorted(listener.reports(), key=_first) == sorted(saved, key=_first)
        assert bridge.stop() == 0
        assert bridge.reported_gaps() == saved  # nothing more on a clean stop
    finally:
        listener.stop()
        source.kill()
        bridge.kill()


def assert_exact_gap(reports: list[GapReport], first: int, last: int) -> None:
    """The reports are the bridge consumer's and cover ``first..last`` exactly, each seq once
    (a hole longer than a replay batch may be reported in consecutive pieces)."""
    described = [(g.consumer, g.pattern, g.source, g.reason) for g in reports]
    assert set(described) == {(CONSUMER, "field/+", SOURCE, "unavailable")}, reports
    pieces = sorted((g.first, g.last) for g in reports)
    reported = [seq for a, b in pieces for seq in range(a, b + 1)]
    assert reported == list(range(first, last + 1)), (
        f"reported {ranges(reported)}, lost {first}..{last}: {pieces}"
    )


def _first(report: GapReport) -> int:
    return report.first
