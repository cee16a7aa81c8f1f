"""The databus on an MQTT broker (Mosquitto 2.x tested), through aiomqtt.

One connection publishes (client id ``client_id``); each subscription has its own connection,
so a slow handler never holds up another subscription and a durable subscription is simply an
MQTT persistent session (client id ``<client_id>.<durable>``, clean session off) that the broker
keeps, with its queued QoS 1 messages, while we are away. Messages are acknowledged to the
broker after the handler returned. Frames are ``osed.codec.envelope`` frames; one that does not
decode goes to ``_osed/dead-letter/<topic>`` instead of a handler.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import ssl
from pathlib import Path
from typing import Literal

import aiomqtt

from osed.bus.mqtt_link import ConnectionLostError, MqttEndpoint, MqttLink
from osed.codec.envelope import decode_envelope, encode_envelope
from osed.domain.envelope import Envelope
from osed.domain.errors import Problem, ValidationError
from osed.domain.time import Clock
from osed.ports.bus import Handler

log = logging.getLogger(__name__)

SYSTEM_PREFIX = "_osed/"
DEAD_LETTER_PREFIX = "_osed/dead-letter/"
LIVENESS_PREFIX = "_osed/liveness/"
ONLINE, OFFLINE = b"online", b"offline"

Qos = Literal[0, 1, 2]


class MqttBus:
    """The Bus port on MQTT 3.1.1. ``tls`` is an SSL context or the path of a CA file."""

    def __init__(
        self,
        host: str,
        port: int = 1883,
        *,
        client_id: str,
        clock: Clock,
        username: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | str | Path | None = None,
        qos: Qos = 1,
        keepalive: int = 30,
        connect_timeout: float = 10.0,
        publish_timeout: float = 30.0,
        max_inflight: int = 1000,
    ) -> None:
        _require_name(client_id, "$.clientId")
        self._endpoint = MqttEndpoint(
            host,
            port,
            username=username,
            password=password,
            tls=_ssl_context(tls),
            keepalive=keepalive,
            connect_timeout=connect_timeout,
            max_inflight=max_inflight,
        )
        self.client_id = client_id
        self._clock = clock
        self.qos = qos
        self._publish_timeout = publish_timeout
        self._link: MqttLink | None = None
        self._subscriptions: set[MqttSubscription] = set()

    @property
    def liveness_topic(self) -> str:
        return LIVENESS_PREFIX + self.client_id

    async def start(self) -> None:
        self._link = MqttLink(
            self._endpoint,
            client_id=self.client_id,
            persistent_session=True,
            on_connect=self._announce_online,
            will=aiomqtt.Will(self.liveness_topic, OFFLINE, qos=1, retain=True),
        )
        await self._link.start()

    async def stop(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.close()
        link, self._link = self._link, None
        if link is None:
            return
        # A clean disconnect does not fire the will, so say "offline" ourselves.
        try:
            await link.publish(self.liveness_topic, OFFLINE, qos=1, retain=True, timeout=2.0)
        except Exception as exc:  # the broker may be gone; stopping must still finish
            log.warning("MQTT bus %s could not announce offline: %s", self.client_id, exc)
        await link.stop()

    async def publish(self, envelope: Envelope) -> None:
        await self._started().publish(
            envelope.topic, encode_envelope(envelope), qos=self.qos, timeout=self._publish_timeout
        )

    async def subscribe(
        self, pattern: str, handler: Handler, *, durable: str | None = None
    ) -> MqttSubscription:
        _require_pattern(pattern)
        if durable is not None:
            _require_name(durable, "$.durable")
        suffix = durable if durable is not None else f"eph-{secrets.token_hex(6)}"
        subscription = MqttSubscription(self, pattern, handler, durable=durable is not None)
        link = MqttLink(
            self._endpoint,
            client_id=f"{self.client_id}.{suffix}",
            persistent_session=durable is not None,
            on_connect=subscription.on_connect,
            on_message=subscription.on_message,
            manual_ack=True,
        )
        await link.start()
        subscription.link = link
        self._subscriptions.add(subscription)
        return subscription

    async def dead_letter(self, topic: str, frame: bytes, reason: str) -> None:
        """Park a frame no handler can take; never raises (the receive loop must go on)."""
        if topic.startswith(SYSTEM_PREFIX):
            log.warning("dropping undecodable system message on %s: %s", topic, reason)
            return
        document = {"topic": topic, "reason": reason, "frame": base64.b64encode(frame).decode()}
        try:
            await self._started().publish(
                DEAD_LETTER_PREFIX + topic,
                json.dumps(document).encode(),
                qos=1,
                timeout=self._publish_timeout,
            )
        except Exception:
            log.exception("could not dead-letter a frame from %s (%s)", topic, reason)

    def decoded(self, topic: str, frame: bytes) -> Envelope | str:
        """The envelope in ``frame``, or why it is not one."""
        try:
            envelope = decode_envelope(frame)
        except ValidationError as exc:
            return str(exc)
        if envelope.topic != topic:
            return f"frame names topic {envelope.topic!r} but came on {topic!r}"
        return envelope.received(self._clock.now())

    async def _announce_online(self, client: aiomqtt.Client) -> None:
        await client.publish(self.liveness_topic, ONLINE, qos=1, retain=True)

    def forget(self, subscription: MqttSubscription) -> None:
        self._subscriptions.discard(subscription)

    def _started(self) -> MqttLink:
        if self._link is None:
            raise ValidationError(
                [Problem("$", "not_started", "call start() before using the bus")], subject="bus"
            )
        return self._link


class MqttSubscription:
    """One subscription on its own connection; handler calls are one at a time."""

    def __init__(self, bus: MqttBus, pattern: str, handler: Handler, *, durable: bool) -> None:
        self._bus = bus
        self.pattern = pattern
        self._handler = handler
        self._durable = durable
        self.link: MqttLink | None = None

    async def on_connect(self, client: aiomqtt.Client) -> None:
        # Also on reconnect: a clean session forgot the subscription, a persistent one keeps it
        # and subscribing again is harmless.
        await client.subscribe(self.pattern, qos=self._bus.qos)

    async def on_message(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        frame = message.payload if isinstance(message.payload, bytes) else b""
        if topic.startswith(SYSTEM_PREFIX) and not self.pattern.startswith(SYSTEM_PREFIX):
            _ack(client, message)  # wildcards do not reach into the system namespace
            return
        decoded = self._bus.decoded(topic, frame)
        if isinstance(decoded, str):
            await self._bus.dead_letter(topic, frame, decoded)
        else:
            try:
                await self._handler(decoded)
            except Exception as exc:
                log.exception("handler for %s failed on %s", self.pattern, decoded.key)
                if self._durable:  # reconnecting makes the broker redeliver the unacked message
                    raise ConnectionLostError(f"handler failed: {exc}") from exc
        _ack(client, message)

    async def close(self) -> None:
        link, self.link = self.link, None
        self._bus.forget(self)
        if link is not None:
            await link.stop()


def _ack(client: aiomqtt.Client, message: aiomqtt.Message) -> None:
    if message.qos > 0:
        client._client.ack(message.mid, message.qos)


def _ssl_context(tls: ssl.SSLContext | str | Path | None) -> ssl.SSLContext | None:
    if tls is None or isinstance(tls, ssl.SSLContext):
        return tls
    return ssl.create_default_context(cafile=str(tls))


def _require_name(name: str, path: str) -> None:
    if not name or not name.isprintable() or any(c in name for c in "/+# "):
        raise ValidationError(
            [Problem(path, "bad_name", f"not a client or consumer name: {name!r}")]
        )


def _require_pattern(pattern: str) -> None:
    levels = pattern.split("/")
    bad = (
        not pattern
        or "\x00" in pattern
        or any(("+" in level or "#" in level) and len(level) > 1 for level in levels)
        or "#" in levels[:-1]
    )
    if bad:
        raise ValidationError(
            [Problem("$.pattern", "bad_pattern", f"not an MQTT topic filter: {pattern!r}")]
        )
