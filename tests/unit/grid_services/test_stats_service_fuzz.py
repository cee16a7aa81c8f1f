"""Whatever arrives, the statistics service goes on: each input is dead-lettered or its readings
are aggregated (or counted late), every input is committed in the end, and every aggregated
reading is in exactly one window's count."""

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
from osed.grid_services import StatsConfig, StatsService
from osed.grid_services.stats_service import MAX_ABS_NS
from tests.unit.grid_services.stats_support import T0, listen, measurement

CONFIG = StatsConfig(
    inputs=("bal/processed",),
    period=timedelta(seconds=10),
    lateness=timedelta(seconds=1),
    fields=("min", "max", "mean", "stdev", "s2", "sum", "diff", "non_negative_diff"),
    max_values=7,
    tick_s=3600.0,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# Mostly valid, now and then not: the service sees both in one stream.
measurands = st.sampled_from(["voltmagnitude", "activepower", "frequency"] * 4 + ["bogus"])
phases = st.sampled_from(["A", "B", "C", "ABC"] * 4 + ["N"])


@st.composite
def measurements(draw: st.DrawFn) -> bytes:
    """Mostly valid SOGNO measurements at times around T0, some with a field spoiled."""
    at = T0 + timedelta(milliseconds=draw(st.integers(-30_000, 60_000)))
    readings = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["n1", "n2"]),
                measurands,
                phases,
                st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**20), 10**20),
            ),
            min_size=1,
            max_size=4,
        )
    )
    device = draw(st.sampled_from(["pmu1", "pmu2"] * 5 + ["pm+u", "pmu/3"]))
    document: dict[str, Any] = json.loads(measurement(device, at, readings))
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
)


def readings_taken(envelope: Envelope) -> int | None:
    """The readings the service must aggregate or count late, or None: a dead letter."""
    try:
        message = decode_message(envelope)
    except ValidationError:
        return None
    nanoseconds = (message.time - EPOCH) // timedelta(microseconds=1) * 1000
    if abs(nanoseconds) >= MAX_ABS_NS or any(c in message.device for c in "+#\x00"):
        return None
    return len(message.samples)


async def _run(batch: list[bytes]) -> None:
    clock = ManualClock(T0)
    bus = MemoryBus(clock=clock)
    await bus.start()
    out = await listen(bus, "bal/stats/#")
    dead = await listen(bus, "dead-letter/#")
    service = StatsService(CONFIG, bus, clock=clock, heartbeat=None)
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
    clock.advance(timedelta(days=365 * 200))
    await service.tick()
    await service.drain()
    await asyncio.sleep(0)
    for _ in range(3):
        await asyncio.sleep(0)

    taken = [readings_taken(e) for e in envelopes]
    counters = service.counters
    assert counters.received == len(batch)
    assert counters.dead_lettered == taken.count(None) == len(dead.envelopes)
    assert counters.values + counters.late == sum(n for n in taken if n is not None)
    counted = sum(
        r["data"]
        for document in out.documents
        for r in document["readings"]
        if r["measurand"].endswith("_count")
    )
    assert counted == counters.values
    event(f"aggregated: {counters.values > 0}, late: {counters.late > 0}")
    assert service.pending == 0
    assert committed == ({"fuzz": len(batch)} if batch else {})
    assert service.ready()
    await service.stop()
    await bus.stop()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(payloads, max_size=24))
def test_any_input_is_dead_lettered_or_aggregated_and_always_committed(
    batch: list[bytes],
) -> None:
    asyncio.run(_run(batch))
