"""The envelope every bus message travels in.

Delivery guarantees come from the envelope, not from broker QoS alone (brokers lose
acknowledged messages on kill -9): each source numbers its messages 1, 2, 3, … without gaps, so
a consumer can detect a gap and ask for a replay, and each message carries an idempotency key,
so a consumer can drop a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from osed.domain.errors import Problem, ValidationError
from osed.domain.time import require_aware

JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message on the bus.

    ``seq`` is the per-source sequence number (from 1, contiguous); ``key`` the idempotency key
    (defaults to ``"<source>:<seq>"``); ``event_time`` when the content happened;
    ``received_at`` when a consumer's bus received it (None until then).
    """

    topic: str
    source: str
    seq: int
    payload: bytes
    event_time: datetime
    content_type: str = JSON
    key: str = ""
    received_at: datetime | None = None

    def __post_init__(self) -> None:
        if not self._plainly_valid():
            self._reject()
        if self.event_time.tzinfo is not UTC:
            object.__setattr__(
                self, "event_time", require_aware(self.event_time, path="$.eventTime")
            )
        if not self.key:
            object.__setattr__(self, "key", f"{self.source}:{self.seq}")

    def _plainly_valid(self) -> bool:
        # The common case in one expression: envelopes are made per message on busy paths.
        topic, source = self.topic, self.source
        return (
            bool(topic)
            and "+" not in topic
            and "#" not in topic
            and "\x00" not in topic
            and bool(source)
            and "/" not in source
            and source.isprintable()
            and self.seq >= 1
        )

    def _reject(self) -> None:
        problems: list[Problem] = []
        if not self.topic or any(c in self.topic for c in "+#\x00"):
            problems.append(Problem("$.topic", "bad_topic", f"not a publish topic: {self.topic!r}"))
        if not self.source or "/" in self.source or not self.source.isprintable():
            problems.append(Problem("$.source", "bad_source", f"not a source id: {self.source!r}"))
        if self.seq < 1:
            problems.append(Problem("$.seq", "out_of_range", "sequence numbers start at 1"))
        raise ValidationError(problems, subject="envelope")

    def received(self, at: datetime) -> Envelope:
        return Envelope(
            self.topic,
            self.source,
            self.seq,
            self.payload,
            self.event_time,
            self.content_type,
            self.key,
            require_aware(at, path="$.receivedAt"),
        )
