"""One MQTT connection that stays up: connect, hand messages over, reconnect with backoff.

A connection (``osed.bus._mqtt_client``) ends on the first network error; this wraps it so the
bus sees one link for its whole life. Each (re)connection is a fresh connection object.

A persistent session is the broker's promise to queue what arrives for us while we are away.
A broker that restarts without having saved the session (Mosquitto writes it only every
``autosave_interval``) breaks that promise silently: its CONNACK merely says no session is
present, and what it held or received before the subscriptions were made again is gone. The
link subscribes again on every connection whatever the CONNACK says, and reports such a
reconnection as a :class:`SessionLoss` with the time window concerned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from osed.bus._mqtt_client import (
    ConnectionLostError,
    ConnectRefusedError,
    MqttConnection,
    MqttMessage,
)
from osed.bus._mqtt_packets import Will
from osed.domain.errors import ConfigurationError, UnavailableError
from osed.domain.time import Clock, SystemClock

__all__ = [
    "Backoff",
    "ConnectRefusedError",
    "ConnectionLostError",
    "LinkUnavailableError",
    "MqttConnection",
    "MqttEndpoint",
    "MqttLink",
    "MqttMessage",
    "OnSessionLost",
    "SessionLoss",
    "Will",
]

log = logging.getLogger(__name__)

# A packet is read some time after the broker sent it (socket buffers, a busy process): the
# session is known alive only up to that long before the packet was read.
SENT_BEFORE_READ_S = 0.1

OnConnect = Callable[[MqttConnection], Awaitable[None]]
OnMessage = Callable[[MqttConnection, MqttMessage], Awaitable[None]]
OnMessages = Callable[[MqttConnection, list[MqttMessage]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class SessionLoss:
    """The broker took a reconnection of ``client_id`` without the persistent session it held
    before. What it had queued for us, and what arrived for us before the subscriptions were
    made again, may be lost: messages it accepted from ``since`` (the last moment the old
    connection showed the session alive) until ``until`` (subscribed again)."""

    client_id: str
    since: datetime
    until: datetime


OnSessionLost = Callable[[SessionLoss], Awaitable[None]]


class LinkUnavailableError(UnavailableError):
    """The broker did not take a message in time (it is down, or the link is stopped)."""


@dataclass(frozen=True, slots=True)
class MqttEndpoint:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: ssl.SSLContext | None = None
    keepalive: int = 30
    connect_timeout: float = 10.0
    max_inflight: int = 1000


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter, so many clients do not reconnect in step."""

    first: float = 0.05
    limit: float = 5.0

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.limit, self.first * 2**attempt))


class MqttLink:
    """A self-healing connection; ``on_connect`` runs after every (re)connection.

    Received messages go to ``on_message`` one at a time, or to ``on_messages`` in batches:
    everything received when the handler is free, at most ``max_batch`` messages, in arrival
    order (only one of the two may be given). With ``manual_ack`` the handler acknowledges
    (``MqttConnection.ack``), so a crash before that means redelivery.
    """

    def __init__(
        self,
        endpoint: MqttEndpoint,
        *,
        client_id: str,
        persistent_session: bool,
        on_connect: OnConnect,
        on_message: OnMessage | None = None,
        on_messages: OnMessages | None = None,
        max_batch: int = 1000,
        will: Will | None = None,
        manual_ack: bool = False,
        backoff: Backoff | None = None,
        on_session_lost: OnSessionLost | None = None,
        clock: Clock | None = None,
    ) -> None:
        if on_message is not None and on_messages is not None:
            raise ConfigurationError("give an MQTT link on_message or on_messages, not both")
        self._endpoint = endpoint
        self.client_id = client_id
        self._persistent = persistent_session
        self._on_connect = on_connect
        self._on_message = on_message
        self._on_messages = on_messages
        self._max_batch = max(1, max_batch)
        self._will = will
        self._manual_ack = manual_ack
        self._backoff = backoff or Backoff()
        self._connection: MqttConnection | None = None
        self._up = asyncio.Event()
        self._window = asyncio.Semaphore(endpoint.max_inflight) if endpoint.max_inflight else None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._on_session_lost = on_session_lost
        self._clock = clock if clock is not None else SystemClock()
        self._session_expected = False  # the broker holds a persistent session of ours
        self._alive_at: datetime | None = None  # when the last connection last showed it
        self._forgotten_since: datetime | None = None  # a loss not reported yet

    async def start(self) -> None:
        """First connection; ConfigurationError when the broker cannot be reached or refuses."""
        try:
            connection = await self._connect()
        except (ConnectionLostError, OSError, TimeoutError) as exc:
            raise ConfigurationError(
                f"MQTT broker {self._endpoint.host}:{self._endpoint.port} unusable for "
                f"client {self.client_id!r}: {exc or type(exc).__name__}"
            ) from exc
        self._task = asyncio.create_task(self._run(connection), name=f"mqtt-link:{self.client_id}")

    async def stop(self) -> None:
        """Disconnect cleanly (the broker keeps a persistent session, drops the will)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        connection, self._connection = self._connection, None
        self._up.clear()
        if connection is not None:
            with contextlib.suppress(ConnectionLostError, OSError):
                await asyncio.wait_for(connection.disconnect(), 5.0)

    async def publish(
        self, topic: str, payload: bytes, *, qos: int, retain: bool = False, timeout: float
    ) -> None:
        """Returns once the broker acknowledged (QoS >= 1). When the connection drops first, the
        next connection sends it again, so a message may reach the broker twice (at least
        once). ``timeout`` bounds the wait for a connection; a connected broker that stops
        answering is caught by the keepalive, which drops the connection. At most
        ``max_inflight`` publishes wait for their acknowledgement at a time."""
        if self._window is None:
            await self._publish(topic, payload, qos=qos, retain=retain, timeout=timeout)
            return
        async with self._window:
            await self._publish(topic, payload, qos=qos, retain=retain, timeout=timeout)

    async def _publish(
        self, topic: str, payload: bytes, *, qos: int, retain: bool, timeout: float
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            connection = await self._connected(deadline - loop.time())
            try:
                await connection.publish(topic, payload, qos=qos, retain=retain)
                return
            except ConnectionLostError:
                if loop.time() >= deadline:
                    raise LinkUnavailableError(
                        f"MQTT broker took no publish to {topic!r} within {timeout} s"
                    ) from None
                await asyncio.sleep(0.01)  # the connection ended before the link noticed

    async def _connected(self, timeout: float) -> MqttConnection:
        if self._stopping:
            raise LinkUnavailableError(f"MQTT link {self.client_id!r} is stopped")
        if not self._up.is_set():
            try:
                async with asyncio.timeout(max(0.0, timeout)):
                    await self._up.wait()
            except TimeoutError:
                raise LinkUnavailableError(
                    f"MQTT broker {self._endpoint.host}:{self._endpoint.port} unreachable"
                ) from None
        assert self._connection is not None
        return self._connection

    async def _connect(self) -> MqttConnection:
        endpoint = self._endpoint
        connection = await MqttConnection.open(
            endpoint.host,
            endpoint.port,
            client_id=self.client_id,
            clean_session=not self._persistent,
            keepalive=endpoint.keepalive,
            username=endpoint.username,
            password=endpoint.password,
            tls=endpoint.tls,
            will=self._will,
            timeout=endpoint.connect_timeout,
            manual_ack=self._manual_ack,
        )
        forgotten = self._session_expected and not connection.session_present
        if forgotten and self._forgotten_since is None:
            # Kept until the subscriptions are made again: a retry finds the empty session
            # this CONNACK created and would take it for the old one.
            self._forgotten_since = self._alive_at or self._clock.now()
        try:
            await self._on_connect(connection)  # subscribes again, whatever the broker kept
        except BaseException:
            connection.abort()
            raise
        self._session_expected = self._persistent
        self._connection = connection
        if self._forgotten_since is not None:
            loss = SessionLoss(self.client_id, self._forgotten_since, self._clock.now())
            self._forgotten_since = None
            await self._report(loss)
        self._up.set()
        return connection

    async def _report(self, loss: SessionLoss) -> None:
        log.warning(
            "MQTT broker %s:%d forgot the session of %s: messages it accepted from %s to %s "
            "may be lost",
            self._endpoint.host,
            self._endpoint.port,
            self.client_id,
            loss.since.isoformat(),
            loss.until.isoformat(),
        )
        if self._on_session_lost is None:
            return
        try:
            await self._on_session_lost(loss)
        except Exception:  # the link must go on; the warning above stays
            log.exception("MQTT link %s could not report its lost session", self.client_id)

    def _wall_time(self, loop_time: float) -> datetime:
        """The wall time of a past loop time, never later than it was: the wall clock is read
        before the loop's, so a pause between the two reads moves the answer earlier."""
        wall = self._clock.now()
        ago = max(0.0, asyncio.get_running_loop().time() - loop_time)
        return wall - timedelta(seconds=ago)

    async def _run(self, connection: MqttConnection) -> None:
        while True:
            try:
                await self._serve(connection)
            except (ConnectionLostError, OSError) as exc:
                log.warning("MQTT link %s lost: %s", self.client_id, exc)
            self._up.clear()
            self._alive_at = self._wall_time(connection.known_alive_at) - timedelta(
                seconds=SENT_BEFORE_READ_S
            )
            connection.abort()  # the socket may be half-open; close our side too
            connection = await self._reconnect()

    async def _serve(self, connection: MqttConnection) -> None:
        """Hands messages over until the connection ends (ConnectionLostError)."""
        if self._on_messages is None and self._on_message is None:
            await asyncio.shield(connection.closed)  # cancelling us must not cancel it
            raise connection.lost or ConnectionLostError("connection closed")
        while True:
            batch = await connection.messages(self._max_batch)
            if self._on_messages is not None:
                await self._on_messages(connection, batch)
            elif self._on_message is not None:
                for message in batch:
                    await self._on_message(connection, message)

    async def _reconnect(self) -> MqttConnection:
        attempt = 0
        while True:
            await asyncio.sleep(self._backoff.delay(attempt))
            attempt += 1
            try:
                connection = await self._connect()
            except (ConnectionLostError, OSError, TimeoutError) as exc:
                log.info("MQTT link %s reconnect %d failed: %s", self.client_id, attempt, exc)
                continue
            log.info("MQTT link %s reconnected after %d attempts", self.client_id, attempt)
            return connection
