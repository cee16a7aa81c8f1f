"""Ingress of raw device payloads: plain MQTT messages become sequenced envelopes.

Field devices are not OSED sources: they publish bare payloads, with no source, sequence or
idempotency key. The ingress gives each raw topic a source of its own (``raw.bal.raw.pmu1``
for ``bal/raw/pmu1``) and numbers its messages 1, 2, 3, …, so everything downstream (dead
letters, the outbox, storage) sees sequenced envelopes. A payload that already is an OSED
envelope frame for its topic keeps its own source and sequence.

Sequence numbers survive restarts without a write per message: the ingress reserves blocks
of ``block`` numbers in a :class:`PositionStore` and, after a restart, continues after the last
reserved block, so numbers may jump but are never reused.

A raw message's idempotency key comes from its content (``<source>:<digest of the payload>``):
the broker sends what was not acknowledged before a crash again, under a new sequence number,
and the key is what lets the pipeline's publisher recognise the outputs it already published.
A device that repeats a payload byte for byte is therefore seen once, which for measurement
formats (device and timestamp in the payload) is what a repeat means.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime
from hashlib import blake2b

from osed.bridge.republish import Acknowledge
from osed.bus.reliable import PositionStore
from osed.codec.envelope import decode_envelope
from osed.domain.envelope import JSON, Envelope
from osed.domain.errors import ValidationError

RAW_SOURCE_PREFIX = "raw."
MAX_REMEMBERED_TOPICS = 100_000
_FRAME_START = b'{"topic"'


def raw_source(topic: str) -> str:
    return RAW_SOURCE_PREFIX + topic.replace("/", ".")


class RawIngress:
    def __init__(self, name: str, positions: PositionStore, *, block: int = 10_000) -> None:
        self._name = name
        self._positions = positions
        self._block = block
        self._reserved = positions.load(name)
        self._next = {source: last + 1 for source, last in self._reserved.items()}
        self._sources: dict[str, str] = {}  # of each raw topic seen

    def wrap(self, topic: str, payload: bytes, received_at: datetime) -> Envelope:
        if payload.startswith(_FRAME_START):
            envelope = _as_envelope(topic, payload)
            if envelope is not None:
                return envelope.received(received_at)
        source = self._sources.get(topic)
        if source is None:
            source = raw_source(topic)
            if len(self._sources) >= MAX_REMEMBERED_TOPICS:
                self._sources.clear()
            self._sources[topic] = source
        seq = self._next.get(source, 1)
        if seq > self._reserved.get(source, 0):
            self._reserved[source] = seq + self._block - 1
            self._positions.save(self._name, source, self._reserved[source])
        self._next[source] = seq + 1
        key = f"{source}:{blake2b(payload, digest_size=12).hexdigest()}"
        return Envelope(topic, source, seq, payload, received_at, JSON, key, received_at)

    def wrap_many(
        self, messages: Sequence[tuple[str, bytes]], received_at: datetime
    ) -> list[Envelope]:
        """:meth:`wrap` for each ``(topic, payload)`` in order, all received at one instant."""
        return [self.wrap(topic, payload, received_at) for topic, payload in messages]


class RawAcknowledger:
    """Acknowledges raw messages to their broker once the pipeline made them durable.

    :meth:`hold` remembers each wrapped envelope with the acknowledgement of its raw batch;
    :meth:`commit` (a pipeline ``Commit``) acknowledges, in arrival order, every held message
    whose seq the pipeline reports durable.
    """

    def __init__(self) -> None:
        self._held: deque[tuple[str, int, Acknowledge, int]] = deque()

    def hold(self, envelopes: Sequence[Envelope], acknowledge: Acknowledge) -> None:
        self._held.extend(
            (envelope.source, envelope.seq, acknowledge, count)
            for count, envelope in enumerate(envelopes, start=1)
        )

    async def commit(self, positions: Mapping[str, int]) -> None:
        held = self._held
        through: dict[Acknowledge, int] = {}
        while held and held[0][1] <= positions.get(held[0][0], 0):
            _, _, acknowledge, count = held.popleft()
            through[acknowledge] = count
        for acknowledge, count in through.items():
            acknowledge(count)


def _as_envelope(topic: str, frame: bytes) -> Envelope | None:
    try:
        envelope = decode_envelope(frame)
    except ValidationError:
        return None
    return envelope if envelope.topic == topic else None
