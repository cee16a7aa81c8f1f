"""Properties of consumer sequencing: whatever the wire does, a replay source makes it 1..n.

The pure :class:`Sequencer` is driven by drawn arrivals (any order, duplicates, omissions)
and a replay source that answers holes (in any order, with duplicates); then the same through
a Consumer and Publisher on the memory bus with a wire that drops, duplicates and reorders.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osed.bus.memory import MemoryBus
from osed.bus.reliable import Consumer, Gap, InMemoryOutbox, Publisher, ReplayPolicy, Sequencer
from osed.domain.envelope import Envelope
from osed.ports.bus import Bus, Handler, Subscription
from tests.contract.bus.contract import Collector

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def env(seq: int, key: str = "") -> Envelope:
    return Envelope("t/x", "s", seq, b"p", T0, key=key)


def replay_until_complete(
    sequencer: Sequencer, have: dict[int, Envelope], data: st.DataObject, first_held: int = 1
) -> list[Envelope | Gap]:
    """Answer holes like a publisher would: frames (shuffled, some twice) for what it holds,
    'unavailable' for seqs below ``first_held``."""
    ready: list[Envelope | Gap] = []
    for _ in range(10 * len(have) + 10):
        holes = sequencer.holes(max_length=data.draw(st.integers(1, 8), label="batch"))
        if not holes:
            return ready
        for hole in holes:
            if hole.first < first_held:
                last = min(hole.last, first_held - 1)
                ready += sequencer.mark(hole.source, hole.first, last, "unavailable")
                continue
            frames = list(range(hole.first, hole.last + 1))
            frames += data.draw(st.lists(st.sampled_from(frames), max_size=3), label="again")
            if data.draw(st.booleans(), label="shuffle"):
                random.Random(data.draw(st.integers(0, 9), label="seed")).shuffle(frames)
            for seq in frames:
                ready += sequencer.offer(have[seq])
    raise AssertionError("replay did not converge")


arrivals_of = st.integers(1, 40).flatmap(
    lambda n: st.tuples(st.just(n), st.lists(st.integers(1, n), min_size=1, max_size=3 * n))
)


@given(arrivals_of, st.integers(1, 6), st.data())
def test_any_arrivals_with_replay_deliver_1_to_n_once_in_order(
    drawn: tuple[int, list[int]], max_buffered: int, data: st.DataObject
) -> None:
    n, arrivals = drawn
    have = {k: env(k) for k in range(1, n + 1)}
    sequencer = Sequencer(max_buffered=max_buffered)
    ready: list[Envelope | Gap] = []
    for seq in arrivals:
        ready += sequencer.offer(have[seq])
    sequencer.announce("s", n)  # the source's head, so a lost tail is a hole too
    ready += replay_until_complete(sequencer, have, data)
    assert ready == [have[k] for k in range(1, n + 1)]
    assert sequencer.position("s") == n


@given(arrivals_of, st.integers(1, 41), st.data())
def test_a_trimmed_outbox_yields_exact_gaps_and_everything_else(
    drawn: tuple[int, list[int]], first_held: int, data: st.DataObject
) -> None:
    n, arrivals = drawn
    have = {k: env(k) for k in range(1, n + 1)}
    sequencer = Sequencer()
    ready: list[Envelope | Gap] = []
    for seq in arrivals:
        ready += sequencer.offer(have[seq])
    sequencer.announce("s", n)
    ready += replay_until_complete(sequencer, have, data, first_held=first_held)
    covered: list[int] = []
    for item in ready:
        if isinstance(item, Gap):
            assert item.last < first_held  # only what the outbox lost is reported lost
            assert item.reason == "unavailable"
            covered += range(item.first, item.last + 1)
        else:
            covered.append(item.seq)
    assert covered == list(range(1, n + 1))  # each seq once: delivered or in one gap
    assert [e.seq for e in ready if isinstance(e, Envelope) and e.seq >= first_held] == list(
        range(first_held, n + 1)
    )


@given(arrivals_of, st.integers(0, 100), st.data())
def test_a_restart_from_saved_positions_neither_repeats_nor_skips(
    drawn: tuple[int, list[int]], cut_percent: int, data: st.DataObject
) -> None:
    n, arrivals = drawn
    have = {k: env(k) for k in range(1, n + 1)}
    cut = len(arrivals) * cut_percent // 100
    before = Sequencer()
    ready: list[Envelope | Gap] = []
    for seq in arrivals[:cut]:
        ready += before.offer(have[seq])
    after = Sequencer(before.positions())  # the buffer is lost with the process
    for seq in [*arrivals[cut:], *arrivals[:cut]]:  # the broker redelivers old ones, too
        ready += after.offer(have[seq])
    after.announce("s", n)
    ready += replay_until_complete(after, have, data)
    assert ready == [have[k] for k in range(1, n + 1)]


@given(st.lists(st.integers(0, 5), min_size=1, max_size=30), st.data())
def test_a_key_seen_before_is_dropped_under_any_seq(keys: list[int], data: st.DataObject) -> None:
    have = {k: env(k, key=f"key-{key}") for k, key in enumerate(keys, start=1)}
    sequencer = Sequencer()
    arrivals = data.draw(st.permutations(list(have)))
    ready: list[Envelope | Gap] = []
    for seq in arrivals:
        ready += sequencer.offer(have[seq])
    sequencer.announce("s", len(keys))
    ready += replay_until_complete(sequencer, have, data)
    first_of_key = [k for k in have if have[k].key not in {have[j].key for j in range(1, k)}]
    assert [e.seq for e in ready if isinstance(e, Envelope)] == first_of_key
    assert sequencer.position("s") == len(keys)


class ChaoticWire:
    """Drops, duplicates or holds back (reorders) each data envelope as ``plan`` says."""

    def __init__(self, inner: Bus, plan: list[str]) -> None:
        self.inner, self.plan, self.held = inner, plan, list[Envelope]()

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def publish(self, envelope: Envelope) -> None:
        if envelope.topic.startswith("_osed/"):
            await self.inner.publish(envelope)
            return
        fate = self.plan[(envelope.seq - 1) % len(self.plan)]
        if fate == "hold":
            self.held.append(envelope)
            return
        if fate != "drop":
            await self.inner.publish(envelope)
        if fate == "twice":
            await self.inner.publish(envelope)
        if self.held and fate == "release":
            for late in reversed(self.held):
                await self.inner.publish(late)
            self.held.clear()

    async def publish_many(self, envelopes: Sequence[Envelope]) -> None:
        for envelope in envelopes:
            await self.publish(envelope)

    async def subscribe(
        self, pattern: str, handler: Handler, *, durable: str | None = None
    ) -> Subscription:
        return await self.inner.subscribe(pattern, handler, durable=durable)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(1, 120),
    st.lists(st.sampled_from(["pass", "drop", "twice", "hold", "release"]), min_size=1),
)
def test_a_consumer_over_a_chaotic_wire_delivers_1_to_n_once(n: int, plan: list[str]) -> None:
    async def scenario() -> list[int]:
        bus = MemoryBus()
        await bus.start()
        wire = ChaoticWire(bus, plan)
        got = Collector()
        policy = ReplayPolicy(first_retry=0.05, max_retry=0.2, give_up_after=30.0, max_batch=7)
        consumer = Consumer(bus, "c", "t/#", got, policy=policy, max_buffered=5, sources=["s"])
        publisher = Publisher(wire, "s", InMemoryOutbox(), heartbeat=None, max_replay=7)
        await consumer.start()
        await publisher.start()
        for k in range(1, n + 1):
            await publisher.publish("t/x", f"{k}".encode())
        await publisher.announce()
        async with asyncio.timeout(10):
            while consumer.position("s") < n:
                await asyncio.sleep(0.005)
        await asyncio.sleep(0.02)  # late duplicates would show now
        await consumer.close()
        await publisher.close()
        await bus.stop()
        assert consumer.gaps == []
        return got.seqs

    assert asyncio.run(scenario()) == list(range(1, n + 1))
