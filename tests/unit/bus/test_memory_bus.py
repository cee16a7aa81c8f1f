"""What the in-memory bus promises beyond the shared contract."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

from osed.bus.memory import MemoryBroker, MemoryBus
from osed.domain.envelope import Envelope
from osed.domain.errors import ConfigurationError, ConflictError, ValidationError
from osed.domain.time import ManualClock
from tests.contract.bus.contract import Collector

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def env(seq: int, topic: str = "a/b") -> Envelope:
    return Envelope(topic, "src", seq, b"x", T0)


async def started(
    broker: MemoryBroker | None = None, clock: ManualClock | None = None
) -> MemoryBus:
    bus = MemoryBus(broker, clock=clock)
    await bus.start()
    return bus


async def test_received_at_comes_from_the_injected_clock() -> None:
    clock = ManualClock(T0 + timedelta(hours=1))
    bus = await started(clock=clock)
    got = Collector()
    await bus.subscribe("a/#", got)
    await bus.publish(env(1))
    await got.wait_for(1)
    clock.advance(timedelta(seconds=5))
    await bus.publish(env(2))
    await got.wait_for(2)
    assert [e.received_at for e in got.envelopes] == [
        T0 + timedelta(hours=1),
        T0 + timedelta(hours=1, seconds=5),
    ]
    assert got.envelopes[0].event_time == T0


async def test_a_bus_must_be_started() -> None:
    bus = MemoryBus()
    with pytest.raises(ConfigurationError):
        await bus.publish(env(1))
    with pytest.raises(ConfigurationError):
        await bus.subscribe("a/#", Collector())


@pytest.mark.parametrize("pattern", ["", "a/#/b", "a/b+", "a/#x", "+a"])
async def test_bad_patterns_are_rejected(pattern: str) -> None:
    bus = await started()
    with pytest.raises(ValidationError):
        await bus.subscribe(pattern, Collector())


async def test_stop_delivers_everything_queued_first() -> None:
    bus = await started()
    got = Collector()
    await bus.subscribe("a/#", got)
    for seq in range(1, 1001):
        await bus.publish(env(seq))
    assert got.seqs == []  # nothing ran yet: the publisher never yielded
    await bus.stop()
    assert got.seqs == list(range(1, 1001))
    await bus.stop()  # harmless twice


async def test_a_durable_queue_collects_while_its_consumer_is_away() -> None:
    broker = MemoryBroker()
    sender, receiver = await started(broker), await started(broker)
    first = Collector()
    await receiver.subscribe("a/#", first, durable="d")
    await sender.publish(env(1))
    await first.wait_for(1)
    await receiver.stop()  # the process goes away; the broker keeps the durable queue
    await sender.publish(env(2))
    await sender.publish(env(3))
    comeback = await started(broker)
    second = Collector()
    await comeback.subscribe("a/#", second, durable="d")
    await second.wait_for(2)
    assert (first.seqs, second.seqs) == ([1], [2, 3])


async def test_a_durable_name_is_held_by_one_subscription() -> None:
    bus = await started()
    await bus.subscribe("a/#", Collector(), durable="d")
    with pytest.raises(ConflictError):
        await bus.subscribe("a/#", Collector(), durable="d")
    other = await started(MemoryBroker())
    subscription = await other.subscribe("a/#", Collector(), durable="d")
    await subscription.close()
    with pytest.raises(ConflictError):
        await other.subscribe("b/#", Collector(), durable="d")


async def test_a_failing_handler_does_not_stop_the_subscription(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = await started()
    got = Collector()

    async def flaky(envelope: Envelope) -> None:
        if envelope.seq == 2:
            raise RuntimeError("boom")
        await got(envelope)

    await bus.subscribe("a/#", flaky)
    with caplog.at_level(logging.ERROR, logger="osed.bus.memory"):
        for seq in (1, 2, 3):
            await bus.publish(env(seq))
        await got.wait_for(2)
    assert got.seqs == [1, 3]
    assert "boom" in caplog.text


async def test_a_handler_may_close_its_own_subscription() -> None:
    bus = await started()
    got: list[int] = []
    closed = asyncio.Event()
    subscription = None

    async def once(envelope: Envelope) -> None:
        got.append(envelope.seq)
        assert subscription is not None
        await subscription.close()
        closed.set()

    subscription = await bus.subscribe("a/#", once)
    for seq in (1, 2, 3):
        await bus.publish(env(seq))
    async with asyncio.timeout(5):
        await closed.wait()
    await bus.stop()
    assert got == [1]


async def test_a_closed_subscription_gets_nothing_more() -> None:
    bus = await started()
    kept, dropped = Collector(), Collector()
    await bus.subscribe("a/#", kept)
    subscription = await bus.subscribe("a/#", dropped)
    await bus.publish(env(1))
    await kept.wait_for(1)
    await dropped.wait_for(1)
    await subscription.close()
    await bus.publish(env(2))
    await kept.wait_for(2)
    assert (kept.seqs, dropped.seqs) == ([1, 2], [1])


async def test_a_busy_subscription_does_not_starve_another() -> None:
    bus = await started()
    order: list[str] = []

    async def tag(name: str, envelope: Envelope) -> None:
        order.append(name)

    await bus.subscribe("a/#", lambda e: tag("a", e))
    await bus.subscribe("b/#", lambda e: tag("b", e))
    for seq in range(1, 5001):
        await bus.publish(env(seq, "a/x"))
    await bus.publish(env(1, "b/x"))
    await bus.stop()
    assert order.index("b") < 5000  # b was served between batches of a
