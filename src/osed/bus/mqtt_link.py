"""One MQTT connection that stays up: connect, hand messages over, reconnect with backoff.

aiomqtt gives a connection that ends on the first network error; this wraps it so the bus sees
one link for its whole life. Each (re)connection is a fresh aiomqtt client, because a reused
one can report "connected" before the broker's CONNACK.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from osed.domain.errors import ConfigurationError, OsedError, UnavailableError

log = logging.getLogger(__name__)

OnConnect = Callable[[aiomqtt.Client], Awaitable[None]]
OnMessage = Callable[[aiomqtt.Client, aiomqtt.Message], Awaitable[None]]
OnMessages = Callable[[aiomqtt.Client, list[aiomqtt.Message]], Awaitable[None]]


class LinkUnavailableError(UnavailableError):
    """The broker did not take a message in time (it is down, or the link is stopped)."""


class ConnectionLostError(OsedError):
    """Raised by an ``OnMessage`` to drop the connection, e.g. so the broker redelivers."""


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


class PubAcks:
    """PUBACK futures by message id for one connection.

    aiomqtt's own ``publish`` costs an Event, a pending-call scan over every message in flight
    and cannot notice a dropped connection; this tracker lets many publishes share the wire and
    fails them all at once when the connection goes.
    """

    def __init__(self, client: aiomqtt.Client) -> None:
        self._waiting: dict[int, asyncio.Future[None]] = {}
        self._next = client._client.on_publish  # aiomqtt's, for its own publish calls
        client._client.on_publish = self._on_publish

    def send(
        self, client: aiomqtt.Client, topic: str, payload: bytes, *, qos: int, retain: bool
    ) -> asyncio.Future[None]:
        acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        info = client._client.publish(topic, payload, qos, retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            acked.set_exception(
                ConnectionLostError(f"publish refused: {mqtt.error_string(info.rc)}")
            )
        elif qos == 0 or info.is_published():
            acked.set_result(None)
        else:
            self._waiting[info.mid] = acked
        return acked

    def fail_all(self, reason: str) -> None:
        waiting, self._waiting = self._waiting, {}
        for acked in waiting.values():
            if not acked.done():
                acked.set_exception(ConnectionLostError(reason))

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        acked = self._waiting.pop(mid, None)
        if acked is None:
            if self._next is not None:
                self._next(client, userdata, mid, reason_code, properties)  # type: ignore[call-arg]
        elif not acked.done():
            acked.set_result(None)


class MqttLink:
    """A self-healing connection; ``on_connect`` runs after every (re)connection.

    Received messages go to ``on_message`` one at a time, or to ``on_messages`` in batches:
    everything the client has queued when the handler is free, at most ``max_batch``
    messages, in arrival order (only one of the two may be given).
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
        will: aiomqtt.Will | None = None,
        manual_ack: bool = False,
        backoff: Backoff | None = None,
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
        self._client: aiomqtt.Client | None = None
        self._acks: PubAcks | None = None
        self._up = asyncio.Event()
        # The in-flight window is ours, not paho's: paho re-scans every message in flight on
        # each PUBACK when it enforces a limit (O(window) per acknowledgement).
        self._window = asyncio.Semaphore(endpoint.max_inflight) if endpoint.max_inflight else None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        """First connection; ConfigurationError when the broker cannot be reached or refuses."""
        try:
            client = await self._connect()
        except (aiomqtt.MqttError, OSError, TimeoutError) as exc:
            raise ConfigurationError(
                f"MQTT broker {self._endpoint.host}:{self._endpoint.port} unusable for "
                f"client {self.client_id!r}: {exc or type(exc).__name__}"
            ) from exc
        self._task = asyncio.create_task(self._run(client), name=f"mqtt-link:{self.client_id}")

    async def stop(self) -> None:
        """Disconnect cleanly (the broker keeps a persistent session, drops the will)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        client, self._client = self._client, None
        self._up.clear()
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError, OSError):
                await client.__aexit__(None, None, None)

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
            client, acks = await self._connection(deadline - loop.time())
            try:
                await acks.send(client, topic, payload, qos=qos, retain=retain)
                return
            except ConnectionLostError:
                if loop.time() >= deadline:
                    raise LinkUnavailableError(
                        f"MQTT broker took no publish to {topic!r} within {timeout} s"
                    ) from None
                await asyncio.sleep(0.01)  # paho refused before the link noticed the loss

    async def _connection(self, timeout: float) -> tuple[aiomqtt.Client, PubAcks]:
        if self._stopping:
            raise LinkUnavailableError(f"MQTT link {self.client_id!r} is stopped")
        if not self._up.is_set():
            try:
                await asyncio.wait_for(self._up.wait(), max(0.0, timeout))
            except TimeoutError:
                raise LinkUnavailableError(
                    f"MQTT broker {self._endpoint.host}:{self._endpoint.port} unreachable"
                ) from None
        assert self._client is not None
        assert self._acks is not None
        return self._client, self._acks

    async def _connect(self) -> aiomqtt.Client:
        endpoint = self._endpoint
        client = aiomqtt.Client(
            endpoint.host,
            endpoint.port,
            identifier=self.client_id,
            username=endpoint.username,
            password=endpoint.password,
            tls_context=endpoint.tls,
            clean_session=not self._persistent,
            keepalive=endpoint.keepalive,
            timeout=endpoint.connect_timeout,
            will=self._will,
            max_inflight_messages=0,  # unlimited in paho; MqttLink.publish keeps the window
        )
        client.pending_calls_threshold = 2**31  # many publishes in flight is the point, not a smell
        if self._manual_ack:
            # Acknowledge after the handler ran, so a crash mid-handler means redelivery.
            client._client.manual_ack_set(True)
        acks = PubAcks(client)
        await client.__aenter__()
        try:
            await self._on_connect(client)
        except BaseException:
            with contextlib.suppress(aiomqtt.MqttError, OSError):
                await client.__aexit__(None, None, None)
            raise
        self._client, self._acks = client, acks
        self._up.set()
        return client

    async def _run(self, client: aiomqtt.Client) -> None:
        while True:
            try:
                await self._serve(client)
            except (aiomqtt.MqttError, ConnectionLostError, OSError) as exc:
                log.warning("MQTT link %s lost: %s", self.client_id, exc)
            self._mark_down(client)
            client = await self._reconnect()

    async def _serve(self, client: aiomqtt.Client) -> None:
        if self._on_messages is not None:
            await self._serve_batches(client, self._on_messages)
            return
        async for message in client.messages:  # ends with MqttError when the link drops
            if self._on_message is not None:
                await self._on_message(client, message)

    async def _serve_batches(self, client: aiomqtt.Client, handler: OnMessages) -> None:
        # aiomqtt's iterator costs a task and an asyncio.wait per message; it is only needed
        # to wait for the first message of a batch (it also notices a dropped connection).
        queue = client._queue
        async for message in client.messages:  # ends with MqttError when the link drops
            batch = [message]
            while len(batch) < self._max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            await handler(client, batch)

    def _mark_down(self, client: aiomqtt.Client) -> None:
        self._up.clear()
        if self._acks is not None:
            self._acks.fail_all(f"MQTT link {self.client_id!r} lost its connection")
        with contextlib.suppress(Exception):
            client._client.disconnect()  # the socket may be half-open; close our side too

    async def _reconnect(self) -> aiomqtt.Client:
        attempt = 0
        while True:
            await asyncio.sleep(self._backoff.delay(attempt))
            attempt += 1
            try:
                client = await self._connect()
            except (aiomqtt.MqttError, OSError, TimeoutError) as exc:
                log.info("MQTT link %s reconnect %d failed: %s", self.client_id, attempt, exc)
                continue
            log.info("MQTT link %s reconnected after %d attempts", self.client_id, attempt)
            return client
