"""The databus on NATS JetStream (nats-server 2.9 tested), through nats-py.

Every bus subject lives under ``<subjects_prefix>.`` in one file-backed stream, so a message is
stored before ``publish`` returns (the PubAck). Each publish carries ``Nats-Msg-Id`` = the
envelope key: a retried or replayed publish inside the stream's duplicate window is stored
once. ``durable=`` subscriptions are durable pull consumers acknowledged after the handler
returned (a failed handler means redelivery); the others are ephemeral ordered consumers that
start at the next message. Frames that do not decode go to ``_osed/dead-letter/<topic>``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import ssl
from collections.abc import Sequence

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.client import JetStreamContext

from osed.bus._nats_subjects import (
    filter_for_pattern,
    require_token,
    subject_for_pattern,
    subject_for_topic,
    topic_for_subject,
)
from osed.codec.envelope import decode_envelope, encode_envelope
from osed.domain.envelope import Envelope
from osed.domain.errors import (
    ConfigurationError,
    Problem,
    UnavailableError,
    ValidationError,
)
from osed.domain.time import Clock
from osed.ports.bus import Handler, topic_matches

log = logging.getLogger(__name__)

SYSTEM_PREFIX = "_osed/"
DEAD_LETTER_PREFIX = "_osed/dead-letter/"
MSG_ID = "Nats-Msg-Id"
FETCH_WAIT = 1.0  # seconds a durable pull waits on the server; also the most close() waits
REDELIVERY_DELAY = 1.0  # seconds before a message whose handler failed comes again

# Everything nats-py raises on purpose; translated where it crosses into OSED.
NATS_ERRORS = (nats.errors.Error, nats.js.errors.Error)


class NatsUnavailableError(UnavailableError):
    """JetStream did not store a message in time, or the bus is stopped."""


class NatsBus:
    """The Bus port on NATS JetStream; ``servers`` as nats-py takes them (``nats://h:p``)."""

    def __init__(
        self,
        servers: str | Sequence[str],
        *,
        stream: str,
        clock: Clock,
        subjects_prefix: str = "osed",
        name: str | None = None,
        user: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
        connect_timeout: float = 5.0,
        ack_timeout: float = 5.0,
        publish_timeout: float = 30.0,
        ack_wait: float = 30.0,
        duplicate_window: float = 120.0,
        fetch_batch: int = 256,
    ) -> None:
        require_token(stream, "$.stream", "stream name")
        for token in subjects_prefix.split("."):
            require_token(token, "$.subjectsPrefix", "subjects prefix")
        self._servers = [servers] if isinstance(servers, str) else list(servers)
        self.stream = stream
        self.prefix = subjects_prefix
        self._clock = clock
        self._name = name
        self._user, self._password, self._tls = user, password, tls
        self._connect_timeout = connect_timeout
        self._ack_timeout = ack_timeout
        self._publish_timeout = publish_timeout
        self.ack_wait = ack_wait
        self._duplicate_window = duplicate_window
        self.fetch_batch = fetch_batch
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._subscriptions: set[DurableSubscription | EphemeralSubscription] = set()

    async def start(self) -> None:
        nc = NatsClient()
        try:
            await asyncio.wait_for(
                nc.connect(
                    servers=self._servers,
                    name=self._name,
                    user=self._user,
                    password=self._password,
                    tls=self._tls,
                    connect_timeout=max(1, round(self._connect_timeout)),
                    reconnect_time_wait=1,
                    max_reconnect_attempts=-1,  # a broker restart must never end the bus
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                ),
                self._connect_timeout,
            )
        except (TimeoutError, OSError, *NATS_ERRORS) as exc:
            with contextlib.suppress(*NATS_ERRORS):
                await nc.close()
            raise ConfigurationError(
                f"NATS at {', '.join(self._servers)} unreachable: {exc or type(exc).__name__}"
            ) from exc
        self._nc, self._js = nc, nc.jetstream(timeout=self._ack_timeout)
        try:
            await self._ensure_stream()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.close()
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(*NATS_ERRORS, TimeoutError):
                await nc.flush(timeout=2)
                await asyncio.wait_for(nc.close(), 5)  # a half-reconnected client can stall

    async def publish(self, envelope: Envelope) -> None:
        subject = subject_for_topic(self.prefix, envelope.topic)
        await self._publish(subject, encode_envelope(envelope), {MSG_ID: envelope.key})

    async def publish_many(self, envelopes: Sequence[Envelope]) -> None:
        await asyncio.gather(*(self.publish(envelope) for envelope in envelopes))

    async def subscribe(
        self, pattern: str, handler: Handler, *, durable: str | None = None
    ) -> DurableSubscription | EphemeralSubscription:
        subject_for_pattern(self.prefix, pattern)  # validates
        subscription: DurableSubscription | EphemeralSubscription
        if durable is None:
            subscription = EphemeralSubscription(self, pattern, handler)
        else:
            require_token(durable, "$.durable", "consumer name")
            subscription = DurableSubscription(self, pattern, handler, durable)
        try:
            await subscription.open(self._started())
        except NATS_ERRORS as exc:
            raise ConfigurationError(f"cannot subscribe to {pattern!r}: {exc}") from exc
        self._subscriptions.add(subscription)
        return subscription

    async def deliver(self, msg: Msg, pattern: str, handler: Handler) -> bool:
        """Run ``handler`` on ``msg`` if it is for ``pattern``; False when the handler failed.
        Never raises: a bad frame is dead-lettered, a failing handler logged."""
        topic = topic_for_subject(self.prefix, msg.subject)
        if not topic_matches(pattern, topic):
            return True  # the consumer filter was wider than the pattern
        if topic.startswith(SYSTEM_PREFIX) and not pattern.startswith(SYSTEM_PREFIX):
            return True  # wildcards do not reach into the system namespace
        decoded = self._decoded(topic, msg.data)
        if isinstance(decoded, str):
            await self._dead_letter(topic, msg.data, decoded)
            return True
        try:
            await handler(decoded)
        except Exception:
            log.exception("handler for %s failed on %s", pattern, decoded.key)
            return False
        return True

    def forget(self, subscription: DurableSubscription | EphemeralSubscription) -> None:
        self._subscriptions.discard(subscription)

    async def _publish(self, subject: str, frame: bytes, headers: dict[str, str] | None) -> None:
        # Retrying with the same Nats-Msg-Id is safe: JetStream stores the message once.
        js = self._started()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._publish_timeout
        while True:
            try:
                await js.publish(subject, frame, timeout=self._ack_timeout, headers=headers)
                return
            except nats.js.errors.NoStreamResponseError as exc:
                if loop.time() >= deadline:
                    raise ConfigurationError(f"no JetStream stream takes {subject!r}") from exc
            except (nats.errors.TimeoutError, nats.errors.ConnectionReconnectingError) as exc:
                if loop.time() >= deadline:
                    raise NatsUnavailableError(f"JetStream did not store {subject!r}") from exc
            except NATS_ERRORS as exc:
                raise NatsUnavailableError(f"JetStream refused {subject!r}: {exc}") from exc
            await asyncio.sleep(0.05)  # reconnecting; the client buffers meanwhile

    def _decoded(self, topic: str, frame: bytes) -> Envelope | str:
        try:
            envelope = decode_envelope(frame)
        except ValidationError as exc:
            return str(exc)
        if envelope.topic != topic:
            return f"frame names topic {envelope.topic!r} but came on {topic!r}"
        return envelope.received(self._clock.now())

    async def _dead_letter(self, topic: str, frame: bytes, reason: str) -> None:
        document = {"topic": topic, "reason": reason, "frame": base64.b64encode(frame).decode()}
        try:
            subject = subject_for_topic(self.prefix, DEAD_LETTER_PREFIX + topic)
            await self._publish(subject, json.dumps(document).encode(), None)
        except Exception:
            log.exception("could not dead-letter a frame from %s (%s)", topic, reason)

    async def _ensure_stream(self) -> None:
        js = self._started()
        wanted = f"{self.prefix}.>"
        try:
            info = await js.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            config = StreamConfig(
                name=self.stream,
                subjects=[wanted],
                storage=StorageType.FILE,
                duplicate_window=self._duplicate_window,
            )
            await js.add_stream(config)
            return
        except NATS_ERRORS as exc:
            raise ConfigurationError(f"JetStream unusable: {exc}") from exc
        if wanted not in (info.config.subjects or []):
            raise ConfigurationError(
                f"stream {self.stream!r} exists without subjects {wanted!r}: {info.config.subjects}"
            )

    def _started(self) -> JetStreamContext:
        if self._js is None:
            raise ValidationError(
                [Problem("$", "not_started", "call start() before using the bus")], subject="bus"
            )
        return self._js

    async def _on_error(self, exc: Exception) -> None:
        log.warning("NATS: %s", exc or type(exc).__name__)

    async def _on_disconnected(self) -> None:
        log.info("NATS disconnected")

    async def _on_reconnected(self) -> None:
        log.info("NATS reconnected")


class DurableSubscription:
    """A durable pull consumer: its position stays in the stream while we are away."""

    def __init__(self, bus: NatsBus, pattern: str, handler: Handler, durable: str) -> None:
        self._bus = bus
        self.pattern = pattern
        self._handler = handler
        self.durable = durable
        self._pull: JetStreamContext.PullSubscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def open(self, js: JetStreamContext) -> None:
        bus = self._bus
        wanted = filter_for_pattern(bus.prefix, self.pattern)
        config = ConsumerConfig(
            durable_name=self.durable,
            description=self.pattern,  # filters can be wider than the pattern; this is exact
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.NEW,
            filter_subject=wanted,
            ack_wait=bus.ack_wait,
        )
        # Creating a consumer that exists would quietly change its filter: compare first.
        with contextlib.suppress(nats.js.errors.NotFoundError):
            found = (await js.consumer_info(bus.stream, self.durable)).config.description
            if found != self.pattern:
                raise ConfigurationError(
                    f"durable consumer {self.durable!r} filters {found!r}, not {self.pattern!r}"
                )
        pull = await js.pull_subscribe(
            wanted, durable=self.durable, stream=bus.stream, config=config
        )
        self._pull = pull
        self._task = asyncio.create_task(self._run(pull), name=f"nats-durable:{self.durable}")

    async def close(self) -> None:
        """Stop pulling and let the consumer keep its place. The pull in progress is allowed to
        end (at most ``FETCH_WAIT``): cancelled, it would leave a pull request on the server
        that takes the next messages into an inbox nobody reads, until ``ack_wait``."""
        self._bus.forget(self)
        self._closing = True
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            await task
        pull, self._pull = self._pull, None
        if pull is not None:
            with contextlib.suppress(*NATS_ERRORS):
                await pull.unsubscribe()

    async def _run(self, pull: JetStreamContext.PullSubscription) -> None:
        while not self._closing:
            try:
                # A single-message pull returns on the first message (a batch pull would wait
                # for the whole batch or the timeout); then take what is there in batches.
                batch = await pull.fetch(1, timeout=FETCH_WAIT)
                while batch:
                    for msg in batch:
                        await self._handle(msg)
                    batch = await self._waiting(pull)
            except TimeoutError:
                continue  # nothing new; nats' TimeoutError is also asyncio's
            except NATS_ERRORS as exc:
                log.warning("pulling %s failed: %s", self.durable, exc)
                await asyncio.sleep(0.5)  # the client is reconnecting

    async def _waiting(self, pull: JetStreamContext.PullSubscription) -> list[Msg]:
        if self._closing:
            return []
        try:
            return await pull.fetch(self._bus.fetch_batch, timeout=0.01)
        except TimeoutError:
            return []

    async def _handle(self, msg: Msg) -> None:
        if self._closing:  # back to the consumer for the next subscribe, without ack_wait
            await self._settle(msg, handled=False, delay=None)
            return
        handled = await self._bus.deliver(msg, self.pattern, self._handler)
        await self._settle(msg, handled=handled, delay=REDELIVERY_DELAY)

    async def _settle(self, msg: Msg, *, handled: bool, delay: float | None) -> None:
        # A lost ack is harmless: the message comes again and consumers drop it by key.
        with contextlib.suppress(*NATS_ERRORS):
            if handled:
                await msg.ack()
            else:
                await msg.nak(delay=delay)


class EphemeralSubscription:
    """An ordered push consumer from the next message on; it ends with the subscription."""

    def __init__(self, bus: NatsBus, pattern: str, handler: Handler) -> None:
        self._bus = bus
        self.pattern = pattern
        self._handler = handler
        self._sub: NatsSubscription | None = None

    async def open(self, js: JetStreamContext) -> None:
        bus = self._bus
        self._sub = await js.subscribe(
            filter_for_pattern(bus.prefix, self.pattern),
            stream=bus.stream,
            cb=self._on_msg,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.NEW,
            idle_heartbeat=2.0,  # how soon a lost consumer (broker restart) is recreated
        )

    async def close(self) -> None:
        self._bus.forget(self)
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(*NATS_ERRORS):
                await sub.unsubscribe()

    async def _on_msg(self, msg: Msg) -> None:
        await self._bus.deliver(msg, self.pattern, self._handler)
