"""Deferred commits: a consumer's position (and its acks) advance only through what its owner
committed; and a publisher that remembers keys publishes a repeated output only once."""

from __future__ import annotations

from pathlib import Path

from osed.bus.memory import MemoryBroker, MemoryBus
from osed.bus.reliable import (
    Consumer,
    Gap,
    InMemoryOutbox,
    InMemoryPositions,
    Publisher,
    SqliteOutbox,
    SqlitePositions,
)
from tests.contract.bus.contract import Collector, DroppingBus, wait_until
from tests.unit.bus.test_reliable_delivery import QUICK, memory_bus, publish_n


async def test_a_crash_before_the_commit_redelivers_and_after_it_does_not(
    tmp_path: Path,
) -> None:
    broker = MemoryBroker()
    wire = await memory_bus(broker)
    publisher = Publisher(wire, "s", InMemoryOutbox(), heartbeat=None)
    await publisher.start()
    store = SqlitePositions(tmp_path / "positions.db")
    before = Collector()
    first = Consumer(
        await memory_bus(broker), "c", "t/#", before, positions=store, deferred_commit=True
    )
    await first.start()
    await publish_n(publisher, 1, 10)
    await before.wait_for(10)
    assert first.position("s") == 10
    assert first.committed("s") == 0
    await first.commit({"s": 6})  # 1..6 are durable; 7..10 only queued when we "crash"
    assert first.committed("s") == 6
    assert store.load("c") == {"s": 6}
    await first.close()  # stands for kill -9: nothing beyond the commit is saved on close
    store.close()

    store = SqlitePositions(tmp_path / "positions.db")
    assert store.load("c") == {"s": 6}
    after = Collector()
    second = Consumer(
        await memory_bus(broker),
        "c",
        "t/#",
        after,
        positions=store,
        policy=QUICK,
        deferred_commit=True,
    )
    await second.start()
    for old in publisher.outbox.read(1, 10):
        await wire.publish(old)  # the broker redelivers everything it had sent
    await after.wait_for(4)
    await publish_n(publisher, 11, 12)
    await after.wait_for(6)
    assert after.seqs == [7, 8, 9, 10, 11, 12]  # the uncommitted ones again, committed never
    await second.commit({"s": 12})
    await second.close()
    assert store.load("c") == {"s": 12}
    assert second.gaps == []
    store.close()
    await publisher.close()


async def test_the_hole_left_by_a_crash_is_replayed_from_the_outbox(tmp_path: Path) -> None:
    broker = MemoryBroker()
    wire = await memory_bus(broker)
    publisher = Publisher(wire, "s", InMemoryOutbox(), heartbeat=None)
    await publisher.start()
    positions = InMemoryPositions()
    before = Collector()
    first = Consumer(
        await memory_bus(broker), "c", "t/#", before, positions=positions, deferred_commit=True
    )
    await first.start()
    await publish_n(publisher, 1, 5)
    await before.wait_for(5)
    await first.commit({"s": 2})
    await first.close()

    # The broker acknowledged 3..5 already and will not send them again: only the outbox can.
    after = Collector()
    second = Consumer(
        await memory_bus(broker),
        "c",
        "t/#",
        after,
        positions=positions,
        policy=QUICK,
        deferred_commit=True,
    )
    await second.start()
    await publisher.announce()
    await after.wait_for(3)
    assert after.seqs == [3, 4, 5]
    assert second.gaps == []
    await second.close()
    await publisher.close()


async def test_acks_follow_commits_not_deliveries() -> None:
    broker = MemoryBroker()
    publisher = Publisher(
        await memory_bus(broker), "s", InMemoryOutbox(), heartbeat=None, consumers=["c"]
    )
    await publisher.start()
    got = Collector()
    consumer = Consumer(
        await memory_bus(broker), "c", "t/#", got, deferred_commit=True, ack_every=1
    )
    await consumer.start()
    await publish_n(publisher, 1, 5)
    await got.wait_for(5)
    await publisher.announce()  # an idle, complete consumer acks on a head: only commits
    await consumer.commit({"s": 3})
    await wait_until(lambda: publisher.acknowledged().get("c") == 3)
    assert publisher.outbox.first_seq() == 4  # 4 and 5 stay replayable until committed
    await consumer.commit({"s": 2})  # an older commit changes nothing
    await consumer.commit({"s": 99})  # beyond what was delivered: what was delivered
    assert consumer.committed("s") == 5
    await wait_until(lambda: publisher.acknowledged().get("c") == 5)
    await consumer.close()
    await publisher.close()


async def test_a_gap_is_committed_with_the_messages_before_it() -> None:
    broker = MemoryBroker()
    lossy = DroppingBus(await memory_bus(broker), lambda e: e.seq in (4, 5))
    publisher = Publisher(lossy, "s", InMemoryOutbox(), heartbeat=None)
    await publisher.start()
    got = Collector()
    consumer = Consumer(
        await memory_bus(broker), "c", "t/#", got, policy=QUICK, deferred_commit=True
    )
    await consumer.start()
    await publish_n(publisher, 1, 5)
    await got.wait_for(3)
    publisher.outbox.trim_through(5)  # 4 and 5 can no longer be replayed
    await publisher.announce()
    await wait_until(lambda: len(consumer.gaps) == 1)
    assert consumer.gaps == [Gap("s", 4, 5, "unavailable")]
    assert consumer.position("s") == 5
    assert consumer.committed("s") == 0  # 1..3 are not durable yet, so neither is the gap
    await consumer.commit({"s": 3})
    assert consumer.committed("s") == 5
    await consumer.close()
    await publisher.close()


async def test_without_deferred_commit_positions_are_saved_on_delivery() -> None:
    bus = MemoryBus()
    await bus.start()
    publisher = Publisher(bus, "s", InMemoryOutbox(), heartbeat=None)
    await publisher.start()
    positions = InMemoryPositions()
    got = Collector()
    consumer = Consumer(bus, "c", "t/#", got, positions=positions)
    await consumer.start()
    await publish_n(publisher, 1, 3)
    await got.wait_for(3)
    assert positions.load("c") == {"s": 3}
    await consumer.commit({"s": 1})  # nothing to do
    assert consumer.committed("s") == 3
    await consumer.close()
    await publisher.close()


async def test_a_remembered_key_is_published_once_even_after_a_restart(tmp_path: Path) -> None:
    bus = MemoryBus()
    await bus.start()
    got = Collector()
    await bus.subscribe("out/#", got)
    outbox = SqliteOutbox(tmp_path / "outbox.db", "p")
    publisher = Publisher(bus, "p", outbox, heartbeat=None, remember_keys=100)
    sent = await publisher.publish_many(
        [("out/a", b"1"), ("out/a", b"2"), ("out/a", b"2 again")],
        keys=["in:1/x", "in:2/x", "in:2/x"],
    )
    assert [(e.seq, e.key) for e in sent] == [(1, "in:1/x"), (2, "in:2/x")]
    outbox.close()

    outbox = SqliteOutbox(tmp_path / "outbox.db", "p")
    restarted = Publisher(bus, "p", outbox, heartbeat=None, remember_keys=100)
    sent = await restarted.publish_many(
        [("out/a", b"2"), ("out/a", b"3"), ("out/a", b"plain")], keys=["in:2/x", "in:3/x", ""]
    )
    assert [(e.seq, e.key) for e in sent] == [(3, "in:3/x"), (4, "p:4")]
    assert [e.payload for e in outbox.read(1, 10)] == [b"1", b"2", b"3", b"plain"]
    assert await restarted.publish_many([("out/a", b"2")], keys=["in:2/x"]) == []
    outbox.close()
    await bus.stop()
    assert [e.payload for e in got.envelopes] == [b"1", b"2", b"3", b"plain"]


async def test_without_remember_keys_only_repeats_within_a_call_are_left_out() -> None:
    bus = MemoryBus()
    await bus.start()
    publisher = Publisher(bus, "p", InMemoryOutbox(), heartbeat=None)
    first = await publisher.publish_many([("out/a", b"1")], keys=["k"])
    again = await publisher.publish_many([("out/a", b"1")], keys=["k"])
    assert [e.seq for e in first + again] == [1, 2]  # consumers drop the second by its key
    await bus.stop()
