"""The pipeline commits a batch's inputs only once the batch is stored and published, and
keys its outputs by their inputs, so processing an input again publishes nothing new."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from osed.bridge import Pipeline, load_config
from osed.bus.memory import MemoryBus
from osed.bus.reliable import InMemoryOutbox, Publisher
from osed.domain.envelope import Envelope
from osed.domain.errors import IntegrityError
from tests.unit.bridge.support import envelope, sogno_payload

CONFIG = """
batch: {max_points: 3, max_delay_ms: 5000}
pipelines:
  - name: pmu
    subscribe: [bal/raw/#]
    format: sogno
    steps: [validate]
    publish: bal/processed
"""


class _Commits:
    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher
        self.calls: list[tuple[dict[str, int], int]] = []  # (positions, outbox last seq then)

    async def __call__(self, positions: Mapping[str, int]) -> None:
        self.calls.append((dict(positions), self.publisher.outbox.last_seq()))


class _FailingOnce(Publisher):
    failed = False

    async def publish_many(self, messages: Any, **kwargs: Any) -> list[Envelope]:
        if not self.failed:
            self.failed = True
            raise IntegrityError("disk full")
        return await super().publish_many(messages, **kwargs)


def _pipeline(publisher: Publisher) -> Pipeline:
    config = load_config(CONFIG)
    return Pipeline(
        config.pipelines[0], publisher, dead_letter_prefix="dead-letter", batch=config.batch
    )


async def test_a_batch_is_committed_after_it_is_published_with_keys_from_its_inputs() -> None:
    bus = MemoryBus()
    await bus.start()
    publisher = Publisher(bus, "bridge.pmu", InMemoryOutbox(), heartbeat=None, remember_keys=50)
    commits = _Commits(publisher)
    pipeline = _pipeline(publisher)
    for seq in range(1, 5):
        payload = b"not json" if seq == 2 else sogno_payload(second=seq)
        await pipeline.accept(envelope(payload, seq), commits)
    assert commits.calls == [({"raw.bal.raw.pmu1": 3}, 3)]  # the full batch, once in the outbox
    await pipeline.close()
    assert commits.calls[-1] == ({"raw.bal.raw.pmu1": 4}, 4)
    keys = [e.key for e in publisher.outbox.read(1, 10)]
    assert keys == [
        "raw.bal.raw.pmu1:1/pmu",
        "raw.bal.raw.pmu1:3/pmu",
        "raw.bal.raw.pmu1:2/pmu/dead-letter",
        "raw.bal.raw.pmu1:4/pmu",
    ]

    # After a crash the uncommitted inputs come again: nothing new is published.
    for seq in range(1, 5):
        payload = b"not json" if seq == 2 else sogno_payload(second=seq)
        await pipeline.accept(envelope(payload, seq), commits)
    await pipeline.close()
    assert publisher.outbox.last_seq() == 4
    assert pipeline.stats.received == 8
    await bus.stop()


async def test_after_a_failed_batch_nothing_more_is_committed() -> None:
    bus = MemoryBus()
    await bus.start()
    publisher = _FailingOnce(bus, "bridge.pmu", InMemoryOutbox(), heartbeat=None)
    commits = _Commits(publisher)
    pipeline = _pipeline(publisher)
    for seq in range(1, 3):
        await pipeline.accept(envelope(sogno_payload(second=seq), seq), commits)
    with pytest.raises(IntegrityError):  # the third fills the batch, which fails
        await pipeline.accept(envelope(sogno_payload(second=3), 3), commits)
    for seq in range(4, 7):  # published, but committing them would skip 1..3 for good
        await pipeline.accept(envelope(sogno_payload(second=seq), seq), commits)
    await pipeline.close()
    assert publisher.outbox.last_seq() == 3
    assert commits.calls == []  # a restart resumes before 1 and processes 1..3 again
    await bus.stop()
