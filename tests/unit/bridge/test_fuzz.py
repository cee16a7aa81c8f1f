"""Whatever arrives, the pipeline goes on: each message is published or dead-lettered, once."""

import asyncio
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osed.bridge import Pipeline, load_config
from osed.bus.memory import MemoryBus
from osed.bus.reliable import Publisher
from osed.domain.envelope import Envelope
from tests.unit.bridge.support import envelope, example_measurement

CONFIG = """
batch: {max_points: 16, max_delay_ms: 1000}
pipelines:
  - name: fuzz
    subscribe: [bal/raw/#]
    format: sogno
    steps: [validate, normalise-units]
    publish: bal/processed
"""

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
reading_fields = st.sampled_from(["component", "measurand", "phase", "data"])


@st.composite
def mutated_measurements(draw: st.DrawFn) -> bytes:
    document: dict[str, Any] = example_measurement()
    for _ in range(draw(st.integers(0, 3))):
        target = draw(st.sampled_from(["device", "timestamp", "readings", "reading", "drop"]))
        readings = document.get("readings")
        if target == "reading" and isinstance(readings, list) and readings:
            index = draw(st.integers(0, len(readings) - 1))
            if isinstance(readings[index], dict):
                readings[index][draw(reading_fields)] = draw(json_values)
        elif target == "drop":
            document.pop(draw(st.sampled_from(["device", "timestamp", "readings"])), None)
        elif target != "reading":
            document[target] = draw(json_values)
    return json.dumps(document).encode()


payloads = st.one_of(
    st.binary(max_size=64),
    json_values.map(lambda v: json.dumps(v).encode()),
    mutated_measurements(),
)


async def _run(batch: list[bytes]) -> tuple[list[Envelope], list[Envelope]]:
    bus = MemoryBus()
    await bus.start()
    out: list[Envelope] = []
    dead: list[Envelope] = []

    async def keep_out(e: Envelope) -> None:
        out.append(e)

    async def keep_dead(e: Envelope) -> None:
        dead.append(e)

    await bus.subscribe("bal/processed", keep_out)
    await bus.subscribe("dead-letter/#", keep_dead)
    publisher = Publisher(bus, "bridge.fuzz", heartbeat=None)
    await publisher.start()
    config = load_config(CONFIG)
    pipeline = Pipeline(
        config.pipelines[0], publisher, dead_letter_prefix="dead-letter", batch=config.batch
    )
    for seq, payload in enumerate(batch, start=1):
        await pipeline.accept(envelope(payload, seq))
    await pipeline.close()
    await bus.stop()
    return out, dead


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(payloads, min_size=1, max_size=40))
def test_every_message_is_published_or_dead_lettered_with_a_reason(batch: list[bytes]) -> None:
    out, dead = asyncio.run(_run(batch))
    letters = [json.loads(e.payload) for e in dead]
    assert all(letter["problems"] for letter in letters)
    assert all(p["path"].startswith("$") and p["code"] for d in letters for p in d["problems"])
    dead_seqs = sorted(letter["seq"] for letter in letters)
    assert len(out) + len(dead_seqs) == len(batch)
    assert len(set(dead_seqs)) == len(dead_seqs)
    for letter in letters:
        assert letter["payload"] is not None
    for processed in out:
        document = json.loads(processed.payload)
        assert set(document) == {"device", "timestamp", "readings"}


def test_the_unmutated_example_passes() -> None:
    out, dead = asyncio.run(_run([json.dumps(example_measurement()).encode()]))
    assert (len(out), len(dead)) == (1, 0)
