"""Publisher and Consumer on the memory bus: restarts, timeouts, trimming, odd inputs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from osed.bus.memory import MemoryBroker, MemoryBus
from osed.bus.reliable import (
    Consumer,
    Gap,
    InMemoryOutbox,
    Publisher,
    ReplayPolicy,
    SqliteOutbox,
    SqlitePositions,
)
from osed.domain.envelope import Envelope
from osed.domain.errors import ConfigurationError
from osed.domain.time import ManualClock
from tests.contract.bus.contract import PATIENT, Collector, DroppingBus, wait_until

T0 = datetime(2026, 5, 1, tzinfo=UTC)
QUICK = ReplayPolicy(first_retry=0.02, max_retry=0.05, give_up_after=0.3)


async def memory_bus(broker: MemoryBroker | None = None) -> MemoryBus:
    bus = MemoryBus(broker)
    await bus.start()
    return bus


async def publish_n(publisher: Publisher, first: int, last: int, topic: str = "t/x") -> None:
    for k in range(first, last + 1):
        await publisher.publish(topic, f"m{k}".encode())


async def test_a_restarted_consumer_neither_repeats_nor_skips(tmp_path: Path) -> None:
    broker = MemoryBroker()
    wire = await memory_bus(broker)
    publisher = Publisher(wire, "s", InMemoryOutbox(), heartbeat=None)
    await publisher.start()
    store = SqlitePositions(tmp_path / "positions.db")
    before = Collector()
    first = Consumer(await memory_bus(broker), "c", "t/#", before, positions=store)
    await first.start()
    await publish_n(publisher, 1, 5)
    await before.wait_for(5)
    await first.close()
    await publish_n(publisher, 6, 10)  # nobody listens
    store.close()

    store = SqlitePositions(tmp_path / "positions.db")
    after = Collector()
    second = Consumer(await memory_bus(broker), "c", "t/#", after, positions=store, policy=PATIENT)
    await second.start()
    for old in publisher.outbox.read(1, 5):
        await wire.publish(old)  # a broker redelivering what was already handled
    await publisher.announce()  # the heartbeat tells the consumer about 6..10
    await after.wait_for(5)
    assert (before.seqs, after.seqs) == ([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    assert store.load("c") == {"s": 10}
    await second.close()
    store.close()


async def test_a_source_that_never_answers_leaves_a_timeout_gap() -> None:
    broker = MemoryBroker()
    wire = DroppingBus(await memory_bus(broker), drop=lambda e: e.seq == 2)
    publisher = Publisher(wire, "s", InMemoryOutbox(), heartbeat=None)  # never started: mute
    events: list[object] = []
    got = Collector()

    async def handle(envelope: Envelope) -> None:
        events.append(envelope.seq)
        await got(envelope)

    async def on_gap(gap: Gap) -> None:
        events.append(gap)

    consumer = Consumer(await memory_bus(broker), "c", "t/#", handle, on_gap=on_gap, policy=QUICK)
    await consumer.start()
    await publish_n(publisher, 1, 4)
    await got.wait_for(3)
    assert events == [1, Gap("s", 2, 2, "timeout"), 3, 4]
    assert consumer.position("s") == 4
    await consumer.close()


async def test_topics_a_consumer_does_not_follow_are_skipped_not_lost() -> None:
    broker = MemoryBroker()
    publisher = Publisher(await memory_bus(broker), "s", heartbeat=None)
    await publisher.start()
    got = Collector()
    consumer = Consumer(await memory_bus(broker), "c", "a/#", got, policy=PATIENT)
    await consumer.start()
    for k in range(1, 31):
        await publisher.publish("a/x" if k % 3 else "b/x", b"m")
    await publisher.announce()  # the stream ends on b: only the head reveals 30
    await wait_until(lambda: consumer.position("s") == 30)
    assert got.seqs == [k for k in range(1, 31) if k % 3]
    assert consumer.gaps == []
    await consumer.close()


async def test_what_every_known_consumer_acknowledged_is_trimmed() -> None:
    broker = MemoryBroker()
    outbox = InMemoryOutbox()
    publisher = Publisher(
        await memory_bus(broker), "s", outbox, consumers=["c1", "c2"], heartbeat=None
    )
    await publisher.start()
    consumers = {}
    for name in ("c1", "c2"):
        consumers[name] = Consumer(await memory_bus(broker), name, "t/#", Collector(), ack_every=10)
        await consumers[name].start()
    await publish_n(publisher, 1, 95)
    await wait_until(lambda: publisher.acknowledged() == {"c1": 90, "c2": 90})
    assert outbox.first_seq() == 91
    await consumers["c2"].close()  # acknowledges 95 as it leaves
    await publisher.announce()  # c1 is idle and complete: it acknowledges on the head
    await wait_until(lambda: publisher.acknowledged() == {"c1": 95, "c2": 95})
    assert outbox.first_seq() == 96
    await consumers["c1"].close()


async def test_retention_trims_without_acknowledgements() -> None:
    clock = ManualClock(T0)
    outbox = InMemoryOutbox()
    publisher = Publisher(await memory_bus(), "s", outbox, keep_at_most=10, heartbeat=None)
    await publisher.publish_many([("t/x", b"m")] * 50)
    assert (outbox.first_seq(), outbox.last_seq()) == (41, 50)
    aged = InMemoryOutbox()
    by_age = Publisher(
        await memory_bus(), "s", aged, keep_for=timedelta(minutes=5), clock=clock, heartbeat=None
    )
    await by_age.publish("t/x", b"old")
    clock.advance(timedelta(minutes=6))
    await by_age.publish("t/x", b"new")
    by_age.trim()
    assert [e.payload for e in aged.read(1, 9)] == [b"new"]


async def test_a_late_joiner_starts_at_the_first_message_it_sees() -> None:
    broker = MemoryBroker()
    publisher = Publisher(await memory_bus(broker), "s", heartbeat=None)
    await publisher.start()
    await publish_n(publisher, 1, 5)
    got = Collector()
    consumer = Consumer(await memory_bus(broker), "c", "t/#", got, late_join=True)
    await consumer.start()
    await publish_n(publisher, 6, 8)
    await got.wait_for(3)
    assert (got.seqs, consumer.gaps) == ([6, 7, 8], [])
    await consumer.close()


async def test_a_long_backlog_comes_in_capped_replies_without_a_storm() -> None:
    broker = MemoryBroker()
    publisher = Publisher(await memory_bus(broker), "s", heartbeat=None, max_replay=1000)
    await publisher.start()
    await publish_n(publisher, 1, 2500)  # before the consumer exists
    requests = Collector()
    observer = await memory_bus(broker)
    await observer.subscribe("_osed/replay/s", requests)
    got = Collector()
    consumer = Consumer(await memory_bus(broker), "c", "t/#", got, sources=["s"], policy=PATIENT)
    await consumer.start()
    await publisher.announce()
    await got.wait_for(2500)
    assert got.seqs == list(range(1, 2501))
    assert len(requests.envelopes) == 3
    await consumer.close()


async def test_a_restarted_publisher_resumes_its_seq_and_serves_old_replays(
    tmp_path: Path,
) -> None:
    broker = MemoryBroker()
    path = tmp_path / "outbox.db"
    got = Collector()
    consumer = Consumer(await memory_bus(broker), "c", "t/#", got, policy=PATIENT)
    await consumer.start()
    wire = DroppingBus(await memory_bus(broker), drop=lambda e: e.seq == 3)
    outbox = SqliteOutbox(path, "s")
    first = Publisher(wire, "s", outbox, heartbeat=None)
    await publish_n(first, 1, 3)  # never started: crashes before it could serve 3
    outbox.close()
    await got.wait_for(2)

    outbox = SqliteOutbox(path, "s")
    second = Publisher(await memory_bus(broker), "s", outbox, heartbeat=None)
    await second.start()  # announces 3: the consumer asks for it
    assert (await second.publish("t/x", b"m4")).seq == 4
    await got.wait_for(4)
    assert got.seqs == [1, 2, 3, 4]
    assert got.envelopes[2].payload == b"m3"
    await consumer.close()
    await second.close()
    outbox.close()


async def test_a_failed_send_is_still_delivered_by_replay() -> None:
    broker = MemoryBroker()
    inner = await memory_bus(broker)

    class FlakyWire(DroppingBus):
        async def publish(self, envelope: Envelope) -> None:
            if envelope.seq == 2 and not envelope.topic.startswith("_osed/"):
                raise ConfigurationError("broker unreachable")
            await self.inner.publish(envelope)

    publisher = Publisher(FlakyWire(inner, drop=lambda e: False), "s", heartbeat=None)
    await publisher.start()
    got = Collector()
    consumer = Consumer(await memory_bus(broker), "c", "t/#", got, policy=PATIENT)
    await consumer.start()
    sent = [await publisher.publish("t/x", b"m") for _ in range(3)]
    assert [e.seq for e in sent] == [1, 2, 3]
    await got.wait_for(3)
    assert got.seqs == [1, 2, 3]
    await consumer.close()


async def test_bad_control_messages_are_ignored() -> None:
    broker = MemoryBroker()
    bus = await memory_bus(broker)
    publisher = Publisher(bus, "s", heartbeat=None)
    await publisher.start()
    got = Collector()
    consumer = Consumer(await memory_bus(broker), "c", "#", got, policy=PATIENT)
    await consumer.start()
    for topic in ("_osed/replay/s", "_osed/ack/s", "_osed/head/s", "_osed/replayed/c"):
        await bus.publish(Envelope(topic, "x", 1, b"{not json", T0))
    await bus.publish(
        Envelope("_osed/replayed/c", "x", 1, b"bad frame", T0, "application/vnd.osed.frame")
    )
    await publish_n(publisher, 1, 3)
    await got.wait_for(3)
    await asyncio.sleep(0.05)
    assert got.seqs == [1, 2, 3]  # '#' matched the control topics; they were not delivered
    await consumer.close()


async def test_the_repair_task_ends_when_cancelled_as_it_wakes() -> None:
    # A cancellation arriving in the same loop turn as the wakeup must end the task
    # (asyncio.wait_for on Python 3.11 drops it, and close() then waits forever).
    broker = MemoryBroker()
    consumer = Consumer(await memory_bus(broker), "c", "t/#", Collector())

    async def a_retry_is_due_in_a_minute(now: float) -> float:
        return now + 60.0  # so the task waits for its wakeup with a timeout

    consumer._chase_holes = a_retry_is_due_in_a_minute  # type: ignore[method-assign]
    await consumer.start()
    task = consumer._repair_task
    assert task is not None
    for _ in range(3):
        await asyncio.sleep(0)  # let it reach its wait
    consumer._wakeup.set()
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=2)
    assert task in done
    consumer._repair_task = None
    await consumer.close()
