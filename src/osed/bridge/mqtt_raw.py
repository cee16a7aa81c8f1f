"""Raw MQTT: plain payloads from field devices in, processed payloads out to external
receivers, with reconnection and TLS, over the same self-healing link the MQTT bus uses.

Raw messages carry no OSED envelope, so they cannot go through the Bus port (whose MQTT
backend would dead-letter them as undecodable frames).
"""

from __future__ import annotations

import logging
import secrets
import ssl
from pathlib import Path

import aiomqtt

from osed.bridge.republish import RawBatchHandler, RawHandler
from osed.bus.mqtt_link import LinkUnavailableError, MqttEndpoint, MqttLink, OnMessage, OnMessages
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
    """Subscriptions to plain MQTT topics, one connection each (QoS 1, acknowledged after the
    handler returned). ``subscribe_batches`` hands over up to ``max_batch`` messages that
    arrived together in one call."""

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
        async def on_message(client: aiomqtt.Client, message: aiomqtt.Message) -> None:
            try:
                await handler(message.topic.value, _payload(message))
            except Exception:
                log.exception("raw handler for %s failed", pattern)
            _ack(client, message)

        await self._open(pattern, on_message=on_message)

    async def subscribe_batches(self, pattern: str, handler: RawBatchHandler) -> None:
        async def on_messages(client: aiomqtt.Client, messages: list[aiomqtt.Message]) -> None:
            try:
                await handler([(message.topic.value, _payload(message)) for message in messages])
            except Exception:
                log.exception("raw handler for %s failed", pattern)
            for message in messages:
                _ack(client, message)

        await self._open(pattern, on_messages=on_messages)

    async def _open(
        self,
        pattern: str,
        *,
        on_message: OnMessage | None = None,
        on_messages: OnMessages | None = None,
    ) -> None:
        qos = self._qos

        async def on_connect(client: aiomqtt.Client) -> None:
            await client.subscribe(pattern, qos=qos)

        link = MqttLink(
            self._endpoint,
            client_id=f"{self._client_id}.{secrets.token_hex(4)}",
            persistent_session=False,
            on_connect=on_connect,
            on_message=on_message,
            on_messages=on_messages,
            max_batch=self._max_batch,
            manual_ack=True,
        )
        await link.start()
        self._links.append(link)


def _payload(message: aiomqtt.Message) -> bytes:
    return message.payload if isinstance(message.payload, bytes) else b""


def _ack(client: aiomqtt.Client, message: aiomqtt.Message) -> None:
    if message.qos > 0:
        client._client.ack(message.mid, message.qos)


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
        async def on_connect(client: aiomqtt.Client) -> None:
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
