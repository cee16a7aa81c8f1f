"""The ports the bridge needs beyond the Bus: raw MQTT in (field devices) and out (external
receivers). Raw means plain payloads, no OSED envelope: devices and legacy systems speak
their own format. ``osed.bridge.mqtt_raw`` implements both on an MQTT broker."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

RawHandler = Callable[[str, bytes], Awaitable[None]]
Acknowledge = Callable[[int], None]
"""Acknowledge the first ``n`` messages of a batch to the broker (cumulative; repeats and
calls after the connection changed do nothing)."""
RawBatchHandler = Callable[[Sequence[tuple[str, bytes]], Acknowledge], Awaitable[None]]
SessionLostHandler = Callable[[datetime, datetime], Awaitable[None]]
"""Told ``(since, until)`` when the broker came back without the subscription's session:
messages it accepted in that window may never arrive."""


class RawFeed(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def subscribe(self, pattern: str, handler: RawHandler) -> None:
        """Call ``handler(topic, payload)`` for each message matching ``pattern``, one at a
        time; the message is acknowledged to the broker after the handler returned."""
        ...


@runtime_checkable
class BatchingRawFeed(RawFeed, Protocol):
    """A raw feed that can also hand over what arrived together, in one call."""

    async def subscribe_batches(
        self,
        pattern: str,
        handler: RawBatchHandler,
        *,
        on_session_lost: SessionLostHandler | None = None,
    ) -> None:
        """Call ``handler([(topic, payload), ...], acknowledge)`` with the messages that
        arrived while the previous call ran (in arrival order), one call at a time. The
        handler acknowledges them once they are durable, possibly after it returned; what was
        not acknowledged comes again after a reconnection or a restart (the subscription is a
        persistent session), so a crash of the bridge loses nothing. A broker that restarts
        without the session loses what it held: ``on_session_lost`` is told the window."""
        ...


class RawPublisher(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, topic: str, payload: bytes) -> None:
        """Returns once the broker acknowledged (QoS >= 1)."""
        ...
