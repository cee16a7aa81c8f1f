"""Whatever arrives, the state-estimation service goes on: each input is dead-lettered or its
readings are taken (mapped, unmapped or late), every input is committed in the end, and the
service stays ready."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from osed.bridge.sogno import decode_message
from osed.bus.memory import MemoryBus
from osed.domain.envelope import Envelope
from osed.domain.errors import ValidationError
from osed.domain.time import ManualClock
from osed.grid_services.estimation_service import MAX_ABS_NS, EstimationService
from tests.unit.grid_services.estimation_support import T0, feeder, snapshot_config, sogno
from tests.unit.grid_services.stats_support import listen

FEEDER = feeder(11)
CONFIG = snapshot_config(FEEDER, max_values=7, wait=timedelta(seconds=5))
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
COMPONENTS = [f"dev-{m.element}" for m in FEEDER.measurements] + ["n3", "load2", "l4", "x"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
measurands = st.sampled_from(
    ["voltmagnitude", "activepower", "reactivepower", "voltangle", "currmagnitude"] * 3
    + ["frequency", "bogus"]
)
phases = st.sampled_from(["ABC"] * 6 + ["A", "B", "C", "N"])


@st.composite
def measurements(draw: st.DrawFn) -> bytes:
    """Mostly valid SOGNO measurements of the feeder's sensors, some spoiled."""
    at = T0 + timedelta(seconds=draw(st.integers(-3, 12)))
    readings = draw(
        st.lists(
            st.tuples(
                st.sampled_from(COMPONENTS),
                measurands,
                phases,
                st.floats(allow_nan=False, allow_infinity=False)
                | st.floats(-1e7, 1e7)
                | st.integers(-(10**20), 10**20),
            ),
            min_size=1,
            max_size=6,
        )
    )
    document: dict[str, Any] = json.loads(sogno("pmu", at, readings))
    if draw(st.integers(0, 4)) == 0:
        target = draw(st.sampled_from(["device", "timestamp", "readings", "extra"]))
        document[target] = draw(json_values)
    if draw(st.integers(0, 9)) == 0:
        document["timestamp"] = draw(st.sampled_from(["1700-01-01T00:00:00+00:00", "9999-01-01"]))
    return json.dumps(document).encode()


payloads = st.one_of(
    st.binary(max_size=64),
    json_values.map(lambda v: json.dumps(v).encode()),
    measurements(),
    measurements(),
    measurements(),
    measurements(),
)


def decodable(envelope: Envelope) -> bool:
    try:
        message = decode_message(envelope)
    except ValidationError:
        return False
    nanoseconds = (message.time - EPOCH) // timedelta(microseconds=1) * 1000
    return abs(nanoseconds) < MAX_ABS_NS


async def _run(batch: list[bytes]) -> None:
    clock = ManualClock(T0)
    bus = MemoryBus(clock=clock)
    await bus.start()
    dead = await listen(bus, "dead-letter/#")
    service = EstimationService(CONFIG, FEEDER.network, bus, clock=clock, heartbeat=None)
    await service.start()
    committed: dict[str, int] = {}

    async def commit(positions: Mapping[str, int]) -> None:
        for source, seq in positions.items():
            assert seq > committed.get(source, 0)
            committed[source] = seq

    envelopes = [
        Envelope("bal/processed", "fuzz", seq, payload, T0)
        for seq, payload in enumerate(batch, start=1)
    ]
    for envelope in envelopes:
        await service.accept(envelope, commit)
    await service.drain()
    # A complete snapshot far later: every earlier reading is then done with.
    closing = sogno(
        "all",
        T0 + timedelta(hours=1),
        [(f"dev-{m.element}", m.measurand, m.phase, m.value) for m in FEEDER.measurements],
    )
    await service.accept(Envelope("bal/processed", "fuzz", len(batch) + 1, closing, T0), commit)
    await service.drain()
    for _ in range(3):
        await asyncio.sleep(0)

    counters = service.counters
    rejected = sum(1 for e in envelopes if not decodable(e))
    assert counters.received == len(batch) + 1
    assert counters.dead_lettered == rejected == len(dead.envelopes)
    event(f"estimates: {counters.estimates > 1}, failed: {counters.failed > 0}")
    assert service.last is not None
    assert service.last.summary["status"] == "ok"
    assert committed == {"fuzz": len(batch) + 1}
    assert service.ready()
    await service.stop()
    await bus.stop()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(payloads, max_size=24))
def test_any_input_is_dead_lettered_or_taken_and_always_committed(batch: list[bytes]) -> None:
    asyncio.run(_run(batch))
