"""The databus port: publish envelopes, subscribe to topic patterns.

Topics are ``/``-separated (``bal/raw``); patterns use MQTT wildcards: ``+`` one level, ``#``
the rest (last level only). A backend maps them to its broker's syntax (NATS: ``.``, ``*``,
``>``). Delivery is at least once; per-source order is not promised across reconnects, which is
why consumers sequence by ``Envelope.seq`` (see ``osed.bus.reliable``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from osed.domain.envelope import Envelope

Handler = Callable[[Envelope], Awaitable[None]]


class Subscription(Protocol):
    async def close(self) -> None:
        """Stop delivering; a durable subscription keeps its place for the next subscribe."""
        ...


class Bus(Protocol):
    async def start(self) -> None:
        """Connect; raises ConfigurationError when the broker cannot be reached."""
        ...

    async def stop(self) -> None:
        """Flush what was published and disconnect."""
        ...

    async def publish(self, envelope: Envelope) -> None:
        """Hand ``envelope`` to the broker; returns once the broker acknowledged it (where the
        broker acknowledges at all)."""
        ...

    async def publish_many(self, envelopes: Sequence[Envelope]) -> None:
        """Hand ``envelopes`` to the broker in order; returns once the broker acknowledged all
        of them. A backend may pack consecutive envelopes of one topic into one broker message
        (a batch frame, see ``osed.codec.envelope``); subscribers still get them one by one."""
        ...

    async def subscribe(
        self, pattern: str, handler: Handler, *, durable: str | None = None
    ) -> Subscription:
        """Deliver every envelope whose topic matches ``pattern`` to ``handler``, one at a time
        per subscription. ``durable`` names a consumer whose position survives restarts (where
        the backend can keep one)."""
        ...


def topic_matches(pattern: str, topic: str) -> bool:
    """MQTT matching: ``+`` is one level, a final ``#`` is any number of levels (also none)."""
    want = pattern.split("/")
    have = topic.split("/")
    for k, level in enumerate(want):
        if level == "#":
            return k == len(want) - 1
        if k >= len(have) or (level != "+" and level != have[k]):
            return False
    return len(want) == len(have)
