"""The databus on an MQTT broker (Mosquitto 2.x tested), over MQTT 3.1.1 links.

One connection publishes (client id ``client_id``); each subscription has its own connection,
so a slow handler never holds up another subscription and a durable subscription is simply an
MQTT persistent session (client id ``<client_id>.<durable>``, clean session off) that the broker
keeps, with its queued QoS 1 messages, while we are away. Messages are acknowledged to the
broker after the handler returned. Frames are ``osed.codec.envelope`` frames; one that does not
decode goes to ``_osed/dead-letter/<topic>`` instead of a handler.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import ssl
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

from osed.bus.mqtt_link import (
    ConnectionLostError,
    MqttConnection,
    MqttEndpoint,
    MqttLink,
    MqttMessage,
    Will,
)
from osed.codec.envelope import decode_frame, encode_batch, encode_envelope
from osed.domain.envelope import Envelope
from osed.domain.errors import ConfigurationError, Problem, ValidationError
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
        max_batch_bytes: int = 256 * 1024,
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
        self.max_batch_bytes = max_batch_bytes
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
            will=Will(self.liveness_topic, OFFLINE, qos=1, retain=True),
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

    async def publish_many(self, envelopes: Sequence[Envelope]) -> None:
        """Consecutive envelopes of one topic travel as batch frames of at most
        ``max_batch_bytes`` payload bytes, all in flight at once."""
        link = self._started()
        frames = [
            (run[0].topic, encode_batch(run) if len(run) > 1 else encode_envelope(run[0]))
            for run in _runs(envelopes, self.max_batch_bytes)
        ]
        await asyncio.gather(
            *(
                link.publish(topic, frame, qos=self.qos, timeout=self._publish_timeout)
                for topic, frame in frames
            )
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

    def decoded(self, topic: str, frame: bytes) -> list[Envelope] | str:
        """The envelopes in ``frame`` (one, or a batch), or why it is not a frame."""
        try:
            envelopes = decode_frame(frame)
        except ValidationError as exc:
            return str(exc)
        for envelope in envelopes:
            if envelope.topic != topic:
                return f"frame names topic {envelope.topic!r} but came on {topic!r}"
        now = self._clock.now()
        return [envelope.received(now) for envelope in envelopes]

    async def _announce_online(self, connection: MqttConnection) -> None:
        await connection.publish(self.liveness_topic, ONLINE, qos=1, retain=True)

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

    async def on_connect(self, connection: MqttConnection) -> None:
        # Also on reconnect: a clean session forgot the subscription, a persistent one keeps it
        # and subscribing again is harmless.
        await connection.subscribe(self.pattern, qos=self._bus.qos)

    async def on_message(self, connection: MqttConnection, message: MqttMessage) -> None:
        topic, frame = message.topic, message.payload
        if topic.startswith(SYSTEM_PREFIX) and not self.pattern.startswith(SYSTEM_PREFIX):
            connection.ack(message)  # wildcards do not reach into the system namespace
            return
        decoded = self._bus.decoded(topic, frame)
        if isinstance(decoded, str):
            await self._bus.dead_letter(topic, frame, decoded)
        else:
            for envelope in decoded:
                try:
                    await self._handler(envelope)
                except Exception as exc:
                    log.exception("handler for %s failed on %s", self.pattern, envelope.key)
                    if self._durable:  # reconnecting makes the broker redeliver the frame
                        raise ConnectionLostError(f"handler failed: {exc}") from exc
        connection.ack(message)

    async def close(self) -> None:
        link, self.link = self.link, None
        self._bus.forget(self)
        if link is not None:
            await link.stop()


def _runs(envelopes: Sequence[Envelope], max_bytes: int) -> Iterator[list[Envelope]]:
    """Consecutive envelopes of one topic, cut where the payloads would pass ``max_bytes``."""
    run: list[Envelope] = []
    size = 0
    for envelope in envelopes:
        if run and (envelope.topic != run[0].topic or size + len(envelope.payload) > max_bytes):
            yield run
            run, size = [], 0
        run.append(envelope)
        size += len(envelope.payload)
    if run:
        yield run


def _ssl_context(tls: ssl.SSLContext | str | Path | None) -> ssl.SSLContext | None:
    if tls is None or isinstance(tls, ssl.SSLContext):
        return tls
    try:
        return ssl.create_default_context(cafile=str(tls))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"TLS CA {tls} unusable: {exc}") from exc


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
