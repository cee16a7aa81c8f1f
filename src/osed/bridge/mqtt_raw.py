"""Raw MQTT: plain payloads from field devices in, processed payloads out to external
receivers, with reconnection and TLS, over the same self-healing link the MQTT bus uses.

Raw messages carry no OSED envelope, so they cannot go through the Bus port (whose MQTT
backend would dead-letter them as undecodable frames).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import ssl
from pathlib import Path

from osed.bridge.republish import RawBatchHandler, RawHandler, SessionLostHandler
from osed.bus.mqtt_link import (
    ConnectionLostError,
    LinkUnavailableError,
    MqttConnection,
    MqttEndpoint,
    MqttLink,
    MqttMessage,
    OnMessage,
    OnMessages,
    OnSessionLost,
    SessionLoss,
)
from osed.domain.errors import ConfigurationError

log = logging.getLogger(__name__)


def endpoint(
    host: str,
    port: int = 1883,
    *,
    username: str | None = None,
    password: str | None = None,
    tls_ca: Path | None = None,
) -> MqttEndpoint:
    tls = None
    if tls_ca is not None:
        try:
            tls = ssl.create_default_context(cafile=str(tls_ca))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(f"TLS CA {tls_ca} unusable: {exc}") from exc
    return MqttEndpoint(host, port, username=username, password=password, tls=tls)


class RawMqttFeed:
    """Subscriptions to plain MQTT topics, one connection each (QoS 1). ``subscribe`` hands
    over one message at a time and acknowledges it after the handler returned;
    ``subscribe_batches`` hands over up to ``max_batch`` messages that arrived together and
    lets the handler acknowledge them once they are durable, on a persistent session named
    after the pattern (``<client_id>.<hash of pattern>``), so a crash of the bridge loses
    nothing; a broker that restarts without that session is reported with the time window
    concerned. Every connection subscribes again, whatever the broker kept."""

    def __init__(
        self, target: MqttEndpoint, *, client_id: str, qos: int = 1, max_batch: int = 1000
    ) -> None:
        self._endpoint = target
        self._client_id = client_id
        self._qos = qos
        self._max_batch = max_batch
        self._links: list[MqttLink] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        links, self._links = self._links, []
        for link in links:
            await link.stop()

    async def subscribe(self, pattern: str, handler: RawHandler) -> None:
        async def on_message(connection: MqttConnection, message: MqttMessage) -> None:
            try:
                await handler(message.topic, message.payload)
            except Exception:
                log.exception("raw handler for %s failed", pattern)
            connection.ack(message)

        await self._open(pattern, on_message=on_message)

    async def subscribe_batches(
        self,
        pattern: str,
        handler: RawBatchHandler,
        *,
        on_session_lost: SessionLostHandler | None = None,
    ) -> None:
        async def on_messages(connection: MqttConnection, messages: list[MqttMessage]) -> None:
            acked = 0

            def acknowledge(count: int) -> None:
                nonlocal acked
                if count > acked:
                    connection.ack_many(messages[acked:count])
                    acked = count

            try:
                await handler(
                    [(message.topic, message.payload) for message in messages], acknowledge
                )
            except Exception:
                # Unacknowledged messages stay with the broker; it sends them again once the
                # connection is renewed, so drop it.
                log.exception("raw handler for %s failed", pattern)
                raise ConnectionLostError(f"raw handler for {pattern} failed") from None

        # A stable client id and a persistent session: what this subscription had not
        # acknowledged when the process died is delivered to its successor.
        session_lost: OnSessionLost | None = None
        if on_session_lost is not None:
            tell = on_session_lost

            async def session_lost(loss: SessionLoss) -> None:
                await tell(loss.since, loss.until)

        await self._open(
            pattern,
            on_messages=on_messages,
            client_id=f"{self._client_id}.{_pattern_id(pattern)}",
            persistent=True,
            on_session_lost=session_lost,
        )

    async def _open(
        self,
        pattern: str,
        *,
        on_message: OnMessage | None = None,
        on_messages: OnMessages | None = None,
        client_id: str | None = None,
        persistent: bool = False,
        on_session_lost: OnSessionLost | None = None,
    ) -> None:
        qos = self._qos

        async def on_connect(connection: MqttConnection) -> None:
            # On every connection: a broker that lost the session also lost the subscription.
            await connection.subscribe(pattern, qos=qos)

        link = MqttLink(
            self._endpoint,
            client_id=client_id or f"{self._client_id}.{secrets.token_hex(4)}",
            persistent_session=persistent,
            on_connect=on_connect,
            on_message=on_message,
            on_messages=on_messages,
            max_batch=self._max_batch,
            manual_ack=True,
            on_session_lost=on_session_lost,
        )
        await link.start()
        self._links.append(link)


def _pattern_id(pattern: str) -> str:
    return hashlib.blake2b(pattern.encode(), digest_size=6).hexdigest()


class RawMqttPublisher:
    """Publishes plain payloads to an external broker (e.g. a legacy system's)."""

    def __init__(
        self, target: MqttEndpoint, *, client_id: str, qos: int = 1, timeout: float = 10.0
    ) -> None:
        self._endpoint = target
        self._client_id = client_id
        self._qos = qos
        self._timeout = timeout
        self._link: MqttLink | None = None

    async def start(self) -> None:
        async def on_connect(connection: MqttConnection) -> None:
            return None

        link = MqttLink(
            self._endpoint,
            client_id=self._client_id,
            persistent_session=False,
            on_connect=on_connect,
        )
        await link.start()
        self._link = link

    async def stop(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            await link.stop()

    async def publish(self, topic: str, payload: bytes) -> None:
        if self._link is None:
            raise ConfigurationError("raw MQTT publisher used before start()")
        try:
            await self._link.publish(topic, payload, qos=self._qos, timeout=self._timeout)
        except LinkUnavailableError as exc:
            raise ConfigurationError(str(exc)) from exc
