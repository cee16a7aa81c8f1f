"""The contract every Bus backend passes unchanged, plus reliable delivery over that backend.

How a backend runs it: subclass :class:`BusContract` in ``tests/contract/bus/test_<backend>.py``
and provide one fixture::

    @pytest.fixture
    async def bus_factory() -> AsyncIterator[BusFactory]:
        # BusFactory = Callable[[], Awaitable[Bus]]
        ...

Each call of the factory returns a new **started** bus, connected to the same broker as every
other bus from that factory (as separate processes would be); the fixture stops them all at
teardown, so ``stop()`` must be harmless on a bus a test already stopped. Tests use unique
topics, sources and durable names, so one broker may serve every test of a session.

What the contract assumes of a backend beyond the port's docstrings: ``subscribe`` returns
once the broker will deliver every later publish; one publisher's envelopes reach one
subscription in publish order while nothing fails. Waits are bounded by ``TIMEOUT`` (generous,
so a slow broker passes and a hang fails); the only fixed pause is ``GRACE``, where a test must
show that something does *not* happen.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from osed.bus.reliable import Consumer, Gap, InMemoryOutbox, Publisher, ReplayPolicy
from osed.domain.envelope import Envelope
from osed.ports.bus import Bus, Handler, Subscription

BusFactory = Callable[[], Awaitable[Bus]]

TIMEOUT = 30.0  # seconds any single wait may take before the test fails
GRACE = 0.2  # seconds given to a wrong backend to show a wrong behaviour
T0 = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
# Retries far apart and no giving up: these tests pass on first answers, and a hang fails.
PATIENT = ReplayPolicy(first_retry=2.0, max_retry=5.0, give_up_after=3_600.0)


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def envelope(topic: str, source: str, seq: int, **fields: object) -> Envelope:
    return Envelope(topic, source, seq, f"payload {seq}".encode(), T0, **fields)  # type: ignore[arg-type]


class Collector:
    """A handler that records what it gets and lets a test await a count."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self._changed = asyncio.Event()

    async def __call__(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)
        self._changed.set()

    @property
    def seqs(self) -> list[int]:
        return [e.seq for e in self.envelopes]

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(TIMEOUT):
            while len(self.envelopes) < count:
                self._changed.clear()
                await self._changed.wait()


class DroppingBus:
    """A Bus whose wire loses the data envelopes ``drop`` selects (control topics pass), as a
    broker killed with -9 would: the publisher's outbox still has them."""

    def __init__(self, inner: Bus, drop: Callable[[Envelope], bool]) -> None:
        self.inner = inner
        self.drop = drop
        self.dropped: list[int] = []

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def publish(self, envelope: Envelope) -> None:
        if not envelope.topic.startswith("_osed/") and self.drop(envelope):
            self.dropped.append(envelope.seq)
            return
        await self.inner.publish(envelope)

    async def publish_many(self, envelopes: Sequence[Envelope]) -> None:
        for envelope in envelopes:
            await self.publish(envelope)

    async def subscribe(
        self, pattern: str, handler: Handler, *, durable: str | None = None
    ) -> Subscription:
        return await self.inner.subscribe(pattern, handler, durable=durable)


async def publish_all(bus: Bus, envelopes: Iterable[Envelope]) -> None:
    for item in envelopes:
        await bus.publish(item)


class BusContract:
    """Tests any Bus backend must pass; needs the fixture ``bus_factory`` (see module doc)."""

    # -- the port ------------------------------------------------------------------------

    async def test_round_trip_preserves_every_field(self, bus_factory: BusFactory) -> None:
        sender, receiver = await bus_factory(), await bus_factory()
        topic, source = unique("contract/rt/"), unique("src-")
        got = Collector()
        await receiver.subscribe(topic, got)
        sent = [
            Envelope(topic, source, 1, b'{"a":1}', T0),
            Envelope(
                topic,
                source,
                2,
                b"\x00\xff\n\nbinary\r\n",
                datetime(2026, 5, 1, 14, 0, 0, 999, tzinfo=timezone(timedelta(hours=2))),
                content_type="application/octet-stream",
                key="order-77",
            ),
            Envelope(topic, source, 3, b"", T0, content_type="text/plain; charset=utf-8"),
        ]
        await publish_all(sender, sent)
        await got.wait_for(3)
        assert [replace(e, received_at=None) for e in got.envelopes] == sent
        for received in got.envelopes:
            assert received.received_at is not None
            assert received.received_at.utcoffset() == timedelta(0)

    async def test_wildcards_match_like_mqtt(self, bus_factory: BusFactory) -> None:
        bus = await bus_factory()
        root = unique("contract-wc-")
        patterns = [f"{root}/+/b", f"{root}/#", f"{root}/a/+", f"{root}/a/b", f"{root}/+/+/c"]
        topics = [f"{root}/a/b", f"{root}/x/b", f"{root}/a/c", f"{root}/a/b/c", root, f"{root}/b"]
        collectors = {pattern: Collector() for pattern in patterns}
        for pattern, collector in collectors.items():
            await bus.subscribe(pattern, collector)
        source = unique("src-")
        await publish_all(bus, (envelope(t, source, k) for k, t in enumerate(topics, start=1)))
        fence = envelope(f"{root}/a/b", source, len(topics) + 1)  # matches 4 patterns out of 5
        await bus.publish(fence)
        # Each subscription sees the fence after everything published before it.
        for pattern in patterns[:4]:
            await wait_until(lambda p=pattern: fence.seq in collectors[p].seqs)  # type: ignore[misc]
        await asyncio.sleep(GRACE)
        expected = {
            f"{root}/+/b": [1, 2, 7],
            f"{root}/#": [1, 2, 3, 4, 5, 6, 7],
            f"{root}/a/+": [1, 3, 7],
            f"{root}/a/b": [1, 7],
            f"{root}/+/+/c": [4],
        }
        assert {p: c.seqs for p, c in collectors.items()} == expected

    async def test_every_subscriber_gets_every_message_in_order(
        self, bus_factory: BusFactory
    ) -> None:
        sender, first, second = await bus_factory(), await bus_factory(), await bus_factory()
        topic, source = unique("contract/fan/"), unique("src-")
        collectors = [Collector() for _ in range(3)]
        await first.subscribe(topic, collectors[0])
        await first.subscribe(topic, collectors[1])  # two on one bus, too
        await second.subscribe(topic, collectors[2])
        await publish_all(sender, (envelope(topic, source, k) for k in range(1, 101)))
        for collector in collectors:
            await collector.wait_for(100)
            assert collector.seqs == list(range(1, 101))

    async def test_publish_many_delivers_each_envelope_once_in_order(
        self, bus_factory: BusFactory
    ) -> None:
        sender, receiver = await bus_factory(), await bus_factory()
        root, source = unique("contract/many/"), unique("src-")
        got = Collector()
        await receiver.subscribe(f"{root}/#", got)
        # Runs of one topic (a backend may pack each into batch frames), then another topic.
        topics = [f"{root}/a"] * 300 + [f"{root}/b"] * 5 + [f"{root}/a"] * 20
        sent = [
            Envelope(topic, source, k, f"m{k}".encode() * (k % 7), T0)
            for k, topic in enumerate(topics, start=1)
        ]
        await sender.publish_many(sent)
        await got.wait_for(len(sent))
        await asyncio.sleep(GRACE)
        assert got.seqs == list(range(1, len(sent) + 1))
        assert [(e.topic, e.payload, e.key) for e in got.envelopes] == [
            (e.topic, e.payload, e.key) for e in sent
        ]

    async def test_one_delivery_at_a_time_per_subscription(self, bus_factory: BusFactory) -> None:
        bus = await bus_factory()
        topic, source = unique("contract/serial/"), unique("src-")
        release, first_started = asyncio.Event(), asyncio.Event()
        active, most_active, done = 0, 0, Collector()

        async def slow(envelope: Envelope) -> None:
            nonlocal active, most_active
            active += 1
            most_active = max(most_active, active)
            first_started.set()
            await release.wait()
            await asyncio.sleep(0)
            active -= 1
            await done(envelope)

        await bus.subscribe(topic, slow)
        await publish_all(bus, (envelope(topic, source, k) for k in range(1, 21)))
        async with asyncio.timeout(TIMEOUT):
            await first_started.wait()
        await asyncio.sleep(GRACE)  # a concurrent backend would start the others now
        assert (most_active, done.seqs) == (1, [])
        release.set()
        await done.wait_for(20)
        assert (most_active, done.seqs) == (1, list(range(1, 21)))

    async def test_durable_subscription_resumes_where_it_left(
        self, bus_factory: BusFactory
    ) -> None:
        sender, receiver = await bus_factory(), await bus_factory()
        topic, source, name = unique("contract/durable/"), unique("src-"), unique("durable-")
        before = Collector()
        subscription = await receiver.subscribe(topic, before, durable=name)
        await publish_all(sender, (envelope(topic, source, k) for k in range(1, 6)))
        await before.wait_for(5)
        await subscription.close()
        await publish_all(sender, (envelope(topic, source, k) for k in range(6, 11)))
        after = Collector()
        await receiver.subscribe(topic, after, durable=name)
        await after.wait_for(5)
        await asyncio.sleep(GRACE)
        assert before.seqs == [1, 2, 3, 4, 5]
        assert after.seqs == [6, 7, 8, 9, 10]

    async def test_stop_flushes_what_was_published(self, bus_factory: BusFactory) -> None:
        sender, receiver = await bus_factory(), await bus_factory()
        topic, source = unique("contract/flush/"), unique("src-")
        got = Collector()
        await receiver.subscribe(topic, got)
        count = 203  # not a round number, so a backend that sends in batches has a remainder
        await publish_all(sender, (envelope(topic, source, k) for k in range(1, count + 1)))
        await sender.stop()
        await got.wait_for(count)
        assert got.seqs == list(range(1, count + 1))

    # -- reliable delivery over this backend -----------------------------------------------

    async def test_reliable_replays_what_the_wire_lost(self, bus_factory: BusFactory) -> None:
        wire = DroppingBus(await bus_factory(), drop=lambda e: e.seq % 7 == 0)
        topic, source = unique("contract/reliable/"), unique("src-")
        publisher = Publisher(wire, source, InMemoryOutbox(), heartbeat=None)
        got = Collector()
        consumer = Consumer(await bus_factory(), unique("c-"), topic, got, policy=PATIENT)
        await consumer.start()
        await publisher.start()
        for k in range(1, 2001):
            await publisher.publish(topic, f"message {k}".encode())
        await got.wait_for(2000)
        await asyncio.sleep(GRACE)
        assert len(wire.dropped) == 2000 // 7  # the wire really lost them
        assert got.seqs == list(range(1, 2001))
        assert [e.payload for e in got.envelopes[6:8]] == [b"message 7", b"message 8"]
        assert consumer.gaps == []
        await consumer.close()
        await publisher.close()

    async def test_reliable_drops_duplicates(self, bus_factory: BusFactory) -> None:
        wire = await bus_factory()
        topic, source = unique("contract/dup/"), unique("src-")
        publisher = Publisher(wire, source, InMemoryOutbox(), heartbeat=None)
        got = Collector()
        consumer = Consumer(await bus_factory(), unique("c-"), topic, got, policy=PATIENT)
        await consumer.start()
        await publisher.start()
        sent = [await publisher.publish(topic, f"m{k}".encode()) for k in range(1, 51)]
        await publish_all(wire, reversed(sent))  # the same frames again, out of order
        await publish_all(wire, sent[::3])
        await publisher.publish(topic, b"order", key=f"{source}-order-1")  # seq 51
        await publisher.publish(topic, b"order", key=f"{source}-order-1")  # 52: same key
        await publisher.publish(topic, b"fence")  # 53
        await wait_until(lambda: 53 in got.seqs)
        await asyncio.sleep(GRACE)
        assert got.seqs == [*range(1, 52), 53]
        await consumer.close()
        await publisher.close()

    async def test_reliable_reports_a_gap_it_cannot_fill(self, bus_factory: BusFactory) -> None:
        wire = DroppingBus(await bus_factory(), drop=lambda e: 4 <= e.seq <= 6)
        topic, source = unique("contract/gap/"), unique("src-")
        outbox = InMemoryOutbox()
        publisher = Publisher(wire, source, outbox, heartbeat=None)
        stream: list[object] = []
        got, gap_seen = Collector(), asyncio.Event()

        async def handle(envelope: Envelope) -> None:
            stream.append(envelope.seq)
            await got(envelope)

        async def on_gap(gap: Gap) -> None:
            stream.append(gap)
            gap_seen.set()

        consumer = Consumer(
            await bus_factory(), unique("c-"), topic, handle, on_gap=on_gap, policy=PATIENT
        )
        await consumer.start()
        await publisher.start()
        for k in range(1, 7):
            await publisher.publish(topic, f"m{k}".encode())
        await got.wait_for(3)
        outbox.trim_through(6)  # 4..6 are gone from the wire and from the outbox
        for k in range(7, 11):
            await publisher.publish(topic, f"m{k}".encode())
        await got.wait_for(7)
        async with asyncio.timeout(TIMEOUT):
            await gap_seen.wait()
        gap = Gap(source, 4, 6, "unavailable")
        assert stream == [1, 2, 3, gap, 7, 8, 9, 10]
        assert consumer.gaps == [gap]
        assert consumer.position(source) == 10
        await consumer.close()
        await publisher.close()


async def wait_until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` on every turn of the event loop (for waits with no event to await)."""
    async with asyncio.timeout(TIMEOUT):
        while not condition():
            await asyncio.sleep(0.001)
