import asyncio
import json
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from osed.bridge import (
    BridgeService,
    Pipeline,
    StepRegistry,
    TimeSeriesSink,
    load_config,
)
from osed.bridge.samples import Message, StepResult
from osed.bridge.steps import BUILTIN_STEPS
from osed.bus.memory import MemoryBus
from osed.bus.reliable import (
    GAPS_PATTERN,
    InMemoryOutbox,
    InMemoryPositions,
    Publisher,
    SqlitePositions,
    read_gap_reports,
)
from osed.codec.envelope import encode_envelope
from osed.codec.gap import gap_report_to_json
from osed.domain.envelope import Envelope
from osed.domain.time import ManualClock
from osed.storage.timeseries_sqlite import SqliteTimeSeriesStore
from tests.unit.bridge.support import T0, envelope, sogno_payload

CONFIG = """
batch: {max_points: 50, max_delay_ms: 5}
pipelines:
  - name: pmu
    subscribe: [bal/raw/#]
    format: sogno
    steps:
      - validate
      - name: normalise-units
        options: {targets: {voltmagnitude: kV}}
    publish: bal/processed
    store: {series: "{device}/{component}/{measurand}/{phase}"}
"""


class _Exploding:
    name = "explode"

    def process(self, messages: list[Message]) -> StepResult:
        raise RuntimeError("boom")


def _explode(options: Mapping[str, Any]) -> _Exploding:
    return _Exploding()


class _Collector:
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def __call__(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)


async def _pipeline(
    bus: MemoryBus, config_text: str = CONFIG, *, store: SqliteTimeSeriesStore | None = None
) -> Pipeline:
    registry = StepRegistry({**BUILTIN_STEPS, "explode": _explode})
    config = load_config(config_text, registry)
    publisher = Publisher(bus, "bridge.pmu", InMemoryOutbox(), heartbeat=None)
    await publisher.start()
    pipeline_config = config.pipelines[0]
    sink = None
    if store is not None and pipeline_config.store is not None:
        sink = TimeSeriesSink(store, pipeline_config.store.series, max_points=7)
    return Pipeline(
        pipeline_config, publisher, dead_letter_prefix="dead-letter", batch=config.batch, sink=sink
    )


async def test_good_messages_are_published_and_bad_ones_dead_lettered(tmp_path: Path) -> None:
    bus = MemoryBus()
    await bus.start()
    out, dead = _Collector(), _Collector()
    await bus.subscribe("bal/processed", out)
    await bus.subscribe("dead-letter/#", dead)
    store = SqliteTimeSeriesStore(tmp_path / "ts.sqlite")
    pipeline = await _pipeline(bus, store=store)
    await pipeline.accept(envelope(sogno_payload(value=231.0), 1))
    await pipeline.accept(envelope(b"not json", 2))
    await pipeline.accept(envelope(sogno_payload(value=-5.0), 3))
    await pipeline.close()
    await bus.stop()

    (processed,) = out.envelopes
    document = json.loads(processed.payload)
    # SOGNO output stays in SOGNO units even though the step normalised to kV for storage.
    assert document["readings"][0]["data"] == pytest.approx(231.0)
    assert processed.source == "bridge.pmu"

    letters = {e.topic: json.loads(e.payload) for e in dead.envelopes}
    assert set(letters) == {"dead-letter/bal/raw/pmu1"} or len(dead.envelopes) == 2
    by_seq = {json.loads(e.payload)["seq"]: json.loads(e.payload) for e in dead.envelopes}
    assert by_seq[2]["stage"] == "decode"
    assert by_seq[2]["problems"][0]["code"] == "not_json"
    assert by_seq[2]["payloadText"] == "not json"
    assert by_seq[3]["stage"] == "validate"
    assert by_seq[3]["problems"] == [
        {
            "path": "$.readings[0].data",
            "code": "implausible",
            "message": by_seq[3]["problems"][0]["message"],
        }
    ]

    stored = store.read("pmu1/n1/voltmagnitude/A", T0, T0 + timedelta(hours=1))
    assert [(p.value, p.unit, p.source) for p in stored] == [(0.231, "kV", "raw.bal.raw.pmu1")]
    store.close()


async def test_a_replay_writes_nothing_new(tmp_path: Path) -> None:
    bus = MemoryBus()
    await bus.start()
    store = SqliteTimeSeriesStore(tmp_path / "ts.sqlite")
    pipeline = await _pipeline(bus, store=store)
    for seq in range(1, 21):
        await pipeline.accept(envelope(sogno_payload(second=seq), seq))
    await pipeline.drain()
    assert pipeline._sink is not None
    assert pipeline._sink.written == 40
    for seq in range(1, 21):
        await pipeline.accept(envelope(sogno_payload(second=seq), seq))
    await pipeline.close()
    assert pipeline._sink.written == 40
    assert len(store.read("pmu1/n1/frequency/A", T0, T0 + timedelta(hours=1))) == 20
    store.close()
    await bus.stop()


async def test_a_raising_step_dead_letters_its_batch_and_the_pipeline_goes_on() -> None:
    bus = MemoryBus()
    await bus.start()
    dead = _Collector()
    await bus.subscribe("dead-letter/#", dead)
    text = CONFIG.replace("      - validate\n", "      - validate\n      - explode\n").replace(
        '    store: {series: "{device}/{component}/{measurand}/{phase}"}\n', ""
    )
    pipeline = await _pipeline(bus, text)
    await pipeline.accept(envelope(sogno_payload(), 1))
    await pipeline.flush()
    await pipeline.accept(envelope(sogno_payload(), 2))
    await pipeline.close()
    await bus.stop()
    letters = [json.loads(e.payload) for e in dead.envelopes]
    assert [(d["seq"], d["stage"]) for d in letters] == [(1, "explode"), (2, "explode")]
    assert letters[0]["problems"][0]["code"] == "step_failed"
    assert "boom" in letters[0]["problems"][0]["message"]


async def test_a_batch_closes_after_the_delay() -> None:
    bus = MemoryBus()
    await bus.start()
    out = _Collector()
    await bus.subscribe("bal/processed", out)
    pipeline = await _pipeline(bus)
    await pipeline.accept(envelope(sogno_payload(), 1))
    for _ in range(100):
        if out.envelopes:
            break
        await asyncio.sleep(0.005)
    assert len(out.envelopes) == 1
    await pipeline.close()
    await bus.stop()


BUS_CONFIG = """
pipelines:
  - name: meters
    ingress: bus
    subscribe: [meters/raw/+]
    format: json
    steps: [validate, normalise-units]
    publish: meters/processed/{device}
"""


async def test_the_service_consumes_osed_sources_exactly_once() -> None:
    clock = ManualClock(T0)
    bus = MemoryBus(clock=clock)
    await bus.start()
    out = _Collector()
    await bus.subscribe("meters/processed/#", out)
    service = BridgeService(load_config(BUS_CONFIG), bus, clock=clock)
    await service.start()
    assert service.ready()
    meter = Publisher(bus, "meter7", heartbeat=None, clock=clock)
    await meter.start()
    point = {"series": "m7/p", "value": 1.5, "unit": "kW", "time": "2023-06-29T10:00:00+00:00"}
    first = await meter.publish("meters/raw/m7", json.dumps(point).encode())
    await meter.publish("meters/raw/m7", json.dumps([point, point]).encode())
    await bus.publish(first)  # a duplicate on the wire: the reliable consumer drops it
    await service.pipelines["meters"].drain()
    for _ in range(50):
        await asyncio.sleep(0)
    await service.pipelines["meters"].drain()
    await service.stop()
    await meter.close()
    await bus.stop()
    assert [e.topic for e in out.envelopes] == ["meters/processed/meter7"] * 2
    assert json.loads(out.envelopes[0].payload)[0]["unit"] == "kW"


async def test_raw_ingress_gives_each_topic_a_sequenced_source() -> None:
    from osed.bridge import RawIngress
    from osed.bus.reliable import InMemoryPositions

    positions = InMemoryPositions()
    ingress = RawIngress("bridge.pmu.ingress", positions, block=10)
    seqs = [ingress.wrap("bal/raw/pmu1", b"{}", T0).seq for _ in range(12)]
    assert seqs == list(range(1, 13))
    assert ingress.wrap("bal/raw/pmu2", b"{}", T0).source == "raw.bal.raw.pmu2"
    restarted = RawIngress("bridge.pmu.ingress", positions, block=10)
    assert restarted.wrap("bal/raw/pmu1", b"{}", T0).seq == 21  # never reused
    framed = encode_envelope(Envelope("bal/raw/pmu1", "pmu-gw", 9, b"{}", T0))
    kept = restarted.wrap("bal/raw/pmu1", framed, T0)
    assert (kept.source, kept.seq, kept.payload) == ("pmu-gw", 9, b"{}")


class _SpyPublisher(Publisher):
    """Records the size of each ``publish_many`` batch."""

    def __init__(self, bus: MemoryBus) -> None:
        super().__init__(bus, "bridge.pmu", InMemoryOutbox(), heartbeat=None)
        self.batches: list[int] = []

    async def publish_many(self, messages: Any, **kwargs: Any) -> list[Envelope]:
        batch = list(messages)
        self.batches.append(len(batch))
        return await super().publish_many(batch, **kwargs)


async def test_accept_many_processes_in_batches_of_max_points_in_order() -> None:
    bus = MemoryBus()
    await bus.start()
    out = _Collector()
    await bus.subscribe("bal/processed", out)
    config = load_config(CONFIG)  # max_points 50
    publisher = _SpyPublisher(bus)
    await publisher.start()
    pipeline = Pipeline(
        config.pipelines[0], publisher, dead_letter_prefix="dead-letter", batch=config.batch
    )
    await pipeline.accept_many([])
    assert pipeline.stats.received == 0
    # 120 at once: the two full batches are processed before accept_many returns.
    await pipeline.accept_many([envelope(sogno_payload(second=k % 60), k) for k in range(1, 121)])
    assert publisher.batches == [50, 50, 20]
    await pipeline.accept(envelope(sogno_payload(), 121))
    await pipeline.close()
    await bus.stop()
    assert pipeline.stats.received == pipeline.stats.published == 121
    assert [e.seq for e in out.envelopes] == list(range(1, 122))  # each once, in order


class _Feed:
    """A raw feed that only has the one-message subscribe."""

    def __init__(self) -> None:
        self.handlers: list[Any] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def subscribe(self, pattern: str, handler: Any) -> None:
        self.handlers.append(handler)


class _BatchingFeed(_Feed):
    def __init__(self) -> None:
        super().__init__()
        self.batch_handlers: list[Any] = []
        self.session_lost: dict[str, Any] = {}

    async def subscribe_batches(
        self, pattern: str, handler: Any, *, on_session_lost: Any = None
    ) -> None:
        self.batch_handlers.append(handler)
        self.session_lost[pattern] = on_session_lost


RAW_CONFIG = """
pipelines:
  - name: pmu
    subscribe: [bal/raw/#]
    format: sogno
    publish: bal/processed
"""


@pytest.mark.parametrize("batching", [False, True])
async def test_the_service_takes_raw_messages_one_by_one_or_in_batches(batching: bool) -> None:
    clock = ManualClock(T0)
    bus = MemoryBus(clock=clock)
    await bus.start()
    out = _Collector()
    await bus.subscribe("bal/processed", out)
    feed = _BatchingFeed() if batching else _Feed()
    service = BridgeService(load_config(RAW_CONFIG), bus, raw_feed=feed, clock=clock)
    await service.start()
    raw = [("bal/raw/pmu1", sogno_payload(second=k)) for k in range(3)]
    if batching:
        assert isinstance(feed, _BatchingFeed)
        assert feed.handlers == []
        (handler,) = feed.batch_handlers
        acknowledged: list[tuple[str, int]] = []
        await handler(raw[:2], lambda n: acknowledged.append(("first", n)))
        await handler(raw[2:], lambda n: acknowledged.append(("second", n)))
    else:
        (handler,) = feed.handlers
        for topic, payload in raw:
            await handler(topic, payload)
    await service.pipelines["pmu"].drain()
    await service.stop()
    await bus.stop()
    assert len(out.envelopes) == 3
    seconds = [json.loads(e.payload)["timestamp"][17:19] for e in out.envelopes]
    assert seconds == ["00", "01", "02"]
    if batching:  # once stored and published, not before
        assert acknowledged == [("first", 2), ("second", 1)]


async def test_a_lost_raw_session_is_saved_and_published_as_a_time_window(
    tmp_path: Path,
) -> None:
    clock = ManualClock(T0)
    bus = MemoryBus(clock=clock)
    await bus.start()
    heard = _Collector()
    await bus.subscribe(GAPS_PATTERN, heard)
    path = tmp_path / "bridge-positions.sqlite"
    feed = _BatchingFeed()
    service = BridgeService(
        load_config(RAW_CONFIG), bus, raw_feed=feed, positions=SqlitePositions(path), clock=clock
    )
    await service.start()
    clock.advance(timedelta(seconds=5))
    lost = feed.session_lost["bal/raw/#"]
    await lost(T0 + timedelta(seconds=1), T0 + timedelta(seconds=4))
    await service.stop()  # waits for the report to be published
    await bus.stop()
    expected = {
        "consumer": "bridge.pmu.0",
        "pattern": "bal/raw/#",
        "source": "raw.bal.raw.#",
        "lostFrom": "2023-06-29T10:00:01Z",
        "lostUntil": "2023-06-29T10:00:04Z",
        "reason": "session_lost",
        "detectedAt": "2023-06-29T10:00:05Z",
    }
    assert [gap_report_to_json(report) for report in read_gap_reports(path)] == [expected]
    assert [json.loads(e.payload) for e in heard.envelopes] == [expected]
    assert [e.topic for e in heard.envelopes] == ["_osed/gaps/bridge.pmu.0"]


def test_raw_ingress_wraps_a_batch_in_order() -> None:
    from osed.bridge import RawIngress
    from osed.bus.reliable import InMemoryPositions

    ingress = RawIngress("bridge.pmu.ingress", InMemoryPositions(), block=2)
    wrapped = ingress.wrap_many(
        [("bal/raw/pmu1", b"a"), ("bal/raw/pmu2", b"b"), ("bal/raw/pmu1", b"c")], T0
    )
    assert [(e.source, e.seq, e.payload) for e in wrapped] == [
        ("raw.bal.raw.pmu1", 1, b"a"),
        ("raw.bal.raw.pmu2", 1, b"b"),
        ("raw.bal.raw.pmu1", 2, b"c"),
    ]
    assert all(e.received_at == T0 for e in wrapped)


def test_raw_ingress_keys_a_message_by_its_content() -> None:
    from osed.bridge import RawIngress
    from osed.bus.reliable import InMemoryPositions

    before_crash = RawIngress("bridge.pmu.ingress", InMemoryPositions())
    after_crash = RawIngress("bridge.pmu.ingress", InMemoryPositions())
    first = before_crash.wrap_many([("bal/raw/pmu1", b"a"), ("bal/raw/pmu1", b"b")], T0)
    again = after_crash.wrap_many([("bal/raw/pmu1", b"x"), ("bal/raw/pmu1", b"a")], T0)
    assert first[0].key == again[1].key != first[1].key
    assert first[0].key.startswith("raw.bal.raw.pmu1:")


async def test_raw_messages_redelivered_after_a_restart_are_not_published_again() -> None:
    # The broker sends what a crashed bridge had not acknowledged again; outputs the first
    # run already put in the outbox must not go out twice.
    clock = ManualClock(T0)
    bus = MemoryBus(clock=clock)
    await bus.start()
    out = _Collector()
    await bus.subscribe("bal/processed", out)
    # The same outbox and positions across the restart, as SQLite files would be: the
    # restarted ingress numbers the redelivered messages anew, after its reserved block.
    outbox, positions = InMemoryOutbox(), InMemoryPositions()
    raw = [("bal/raw/pmu1", sogno_payload(second=k)) for k in range(3)]
    for _ in range(2):  # the first run, then the restarted one getting the same messages
        feed = _BatchingFeed()
        service = BridgeService(
            load_config(RAW_CONFIG),
            bus,
            raw_feed=feed,
            clock=clock,
            outboxes=lambda _: outbox,
            positions=positions,
        )
        await service.start()
        (handler,) = feed.batch_handlers
        await handler(raw, lambda n: None)
        await service.pipelines["pmu"].drain()
        await service.stop()
    await bus.stop()
    assert len(out.envelopes) == 3
