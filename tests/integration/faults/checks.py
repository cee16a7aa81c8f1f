"""Assertions and stream steps shared by the fault tests."""

from __future__ import annotations

from tests.integration.faults.source_process import SOURCE
from tests.integration.faults.support import (
    COUNT,
    POINTS_PER_MESSAGE,
    BridgeProcess,
    SourceProcess,
    bridge_outputs,
    census,
    ranges,
    wait_for,
    wait_until_settled,
)

KILLS_AT = (2_500, 5_000, 7_500)  # messages into the stream
STREAM_TIMEOUT_S = 60.0
SETTLE_QUIET_S = 8.0  # > the source's 1 s heartbeat plus several replay rounds
SETTLE_TIMEOUT_S = 45.0
ALL = set(range(1, COUNT + 1))


def assert_stored_exactly(bridge: BridgeProcess, expected: set[int], settled: int) -> None:
    stored, sources = census(bridge.database)
    problems = stored.problems(expected)
    assert not problems, (
        f"storage settled at {settled} points, expected {len(expected) * POINTS_PER_MESSAGE}:"
        f"\n{problems}\ngaps reported by the bridge: {bridge.reported_gaps()}"
    )
    assert sources == {SOURCE}


def assert_published_once(bridge: BridgeProcess, expected: set[int]) -> None:
    outputs, dead = bridge_outputs(bridge)
    twice = sorted(i for i, n in outputs.items() if n > 1)
    missing = sorted(expected - set(outputs))
    assert (missing, twice, dead) == ([], [], 0), (
        f"bridge outputs: missing {ranges(missing)}, twice {ranges(twice)}, {dead} dead letters"
    )


def finish(bridge: BridgeProcess, source: SourceProcess, expected_points: int) -> int:
    wait_for("the source to publish all", source.finished, STREAM_TIMEOUT_S, alive=[source])
    return wait_until_settled(
        bridge, expected_points, quiet=SETTLE_QUIET_S, timeout=SETTLE_TIMEOUT_S
    )
