"""The databus on NATS JetStream (nats-server 2.9 tested), through nats-py.

Every bus subject lives under ``<subjects_prefix>.`` in one file-backed stream, so a message is
stored before ``publish`` returns (the PubAck). Each publish carries ``Nats-Msg-Id`` = the
envelope key: a retried or replayed publish inside the stream's duplicate window is stored
once. ``durable=`` subscriptions are durable pull consumers acknowledged after the handler
returned (a failed handler means redelivery); the others are ephemeral ordered consumers that
start at the next message. Frames that do not decode go to ``_osed/dead-letter/<topic>``.

Throughput comes from keeping many messages in flight without per-message timers or tasks:
publishes wait for their PubAcks together on one inbox (``_nats_pubacks``), and a durable
subscription pulls its next batch while the handler works on the current one (``_nats_pull``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import json
import logging
import ssl
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.client import JetStreamContext

from osed.bus._nats_pubacks import (
    NoStreamError,
    PubAcks,
    PubAckTimeoutError,
    verify,
)
from osed.bus._nats_pull import PullFeed
from osed.bus._nats_subjects import (
    filter_for_pattern,
    require_token,
    subject_for_pattern,
    subject_for_topic,
    topic_for_subject,
)
from osed.codec.envelope import decode_frame, encode_envelope
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
FETCH_WAIT = 1.0  # seconds a durable pull request waits on the server before it is renewed
REDELIVERY_DELAY = 1.0  # seconds before a message whose handler failed comes again
STOP_WAIT = 2.0  # seconds stop() waits for the PubAcks of publishes still in flight
SUBJECT_CACHE = 4096  # topics (per bus) and subjects (per subscription) remembered

# The slot's setter: stamps received_at on a frozen envelope without constructing a new one.
_set_received_at: Callable[[Envelope, datetime], None] = vars(Envelope)["received_at"].__set__

# Everything nats-py raises on purpose; translated where it crosses into OSED.
NATS_ERRORS = (nats.errors.Error, nats.js.errors.Error)
# Every subject this bus sends is checked by _nats_subjects (tokens without whitespace, so no
# CR/LF either) or comes from the broker; nats-py's second check costs a regex per publish and
# ack. Older nats-py have no such check and no option.
_SKIP_VALIDATION: dict[str, Any] = (
    {"skip_subject_validation": True}
    if "skip_subject_validation" in inspect.signature(NatsClient.connect).parameters
    else {}
)
# Worth publishing again with the same Nats-Msg-Id until publish_timeout: the broker is away.
RETRYABLE = (
    PubAckTimeoutError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.OutboundBufferLimitError,
)


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
        self._acks: PubAcks | None = None
        self._subjects: dict[str, str] = {}
        self._subscriptions: set[DurableSubscription | EphemeralSubscription] = set()

    async def start(self) -> None:
        nc = NatsClient()
        try:
            await asyncio.wait_for(
                nc.connect(
                    **_SKIP_VALIDATION,
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
            acks = PubAcks(nc, self._ack_timeout)
            await acks.open()
            self._acks = acks
            await self._ensure_stream()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        # Together: each durable subscription may wait up to FETCH_WAIT for its pulls to end.
        await asyncio.gather(*(subscription.close() for subscription in list(self._subscriptions)))
        nc, acks = self._nc, self._acks
        self._nc, self._js, self._acks = None, None, None
        if acks is not None:
            await acks.settled(STOP_WAIT)
            acks.close()  # publishes still waiting get NatsUnavailableError
        if nc is not None and not nc.is_closed:
            # OSError: closing a client whose broker is gone fails on the dead socket.
            with contextlib.suppress(*NATS_ERRORS, TimeoutError, OSError):
                await nc.flush(timeout=2)
                await asyncio.wait_for(nc.close(), 5)  # a half-reconnected client can stall

    async def publish(self, envelope: Envelope) -> None:
        subject = self._subject(envelope.topic)
        frame, headers = encode_envelope(envelope), {MSG_ID: envelope.key}
        acks = self._pubacks()
        started = asyncio.get_running_loop().time()
        try:  # the common case without the retry loop's frame
            verify(await (await acks.send(subject, frame, headers)))
            return
        except (NoStreamError, *RETRYABLE):
            pass
        except NATS_ERRORS as exc:
            raise NatsUnavailableError(f"JetStream refused {subject!r}: {exc}") from exc
        await asyncio.sleep(0.05)
        await self._publish(subject, frame, headers, started=started)

    async def publish_many(self, envelopes: Sequence[Envelope]) -> None:
        """Every envelope in flight at once, in order, each with its own ``Nats-Msg-Id``;
        returns when all are stored (a retry may store one out of order)."""
        acks = self._pubacks()
        started = asyncio.get_running_loop().time()
        messages = [
            (self._subject(e.topic), encode_envelope(e), {MSG_ID: e.key}) for e in envelopes
        ]
        sent: list[asyncio.Future[Msg] | None] = []
        for subject, frame, headers in messages:
            try:
                sent.append(await acks.send(subject, frame, headers))
            except NATS_ERRORS:
                sent.append(None)  # _publish tries again below, or reports
        failed: BaseException | None = None
        for (subject, frame, headers), first in zip(messages, sent, strict=True):
            try:
                await self._publish(subject, frame, headers, first, started=started)
            except (NatsUnavailableError, ConfigurationError) as exc:
                failed = failed or exc  # the others still get their chance
        if failed is not None:
            raise failed

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

    def forget(self, subscription: DurableSubscription | EphemeralSubscription) -> None:
        self._subscriptions.discard(subscription)

    async def _publish(
        self,
        subject: str,
        frame: bytes,
        headers: dict[str, str] | None,
        sent: asyncio.Future[Msg] | None = None,
        started: float | None = None,
    ) -> None:
        """Send (unless ``sent`` is the PubAck of a first try) and wait until stored.
        Retrying with the same Nats-Msg-Id is safe: JetStream stores the message once."""
        acks = self._pubacks()
        loop = asyncio.get_running_loop()
        deadline = (loop.time() if started is None else started) + self._publish_timeout
        while True:
            try:
                if sent is None:
                    sent = await acks.send(subject, frame, headers)
                verify(await sent)
                return
            except NoStreamError as exc:
                if loop.time() >= deadline:
                    raise ConfigurationError(f"no JetStream stream takes {subject!r}") from exc
            except RETRYABLE as exc:
                if loop.time() >= deadline:
                    raise NatsUnavailableError(f"JetStream did not store {subject!r}") from exc
            except NATS_ERRORS as exc:
                raise NatsUnavailableError(f"JetStream refused {subject!r}: {exc}") from exc
            sent = None
            await asyncio.sleep(0.05)  # reconnecting; the client buffers meanwhile

    def _subject(self, topic: str) -> str:
        subject = self._subjects.get(topic)
        if subject is None:
            subject = subject_for_topic(self.prefix, topic)  # validates
            if len(self._subjects) >= SUBJECT_CACHE:
                self._subjects.clear()
            self._subjects[topic] = subject
        return subject

    async def dead_letter(self, topic: str, frame: bytes, reason: str) -> None:
        """Publish an undecodable ``frame`` that came on ``topic`` to the dead-letter topic."""
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
            raise _not_started()
        return self._js

    def _pubacks(self) -> PubAcks:
        if self._acks is None:
            raise _not_started()
        return self._acks

    def _client(self) -> NatsClient:
        if self._nc is None:
            raise _not_started()
        return self._nc

    async def _on_error(self, exc: Exception) -> None:
        log.warning("NATS: %s", exc or type(exc).__name__)

    async def _on_disconnected(self) -> None:
        log.info("NATS disconnected")

    async def _on_reconnected(self) -> None:
        log.info("NATS reconnected")
        if self._acks is not None:
            self._acks.resend_all()
        for subscription in self._subscriptions:
            if isinstance(subscription, DurableSubscription):
                subscription.reconnected()


def _not_started() -> ValidationError:
    return ValidationError(
        [Problem("$", "not_started", "call start() before using the bus")], subject="bus"
    )


class _Delivery:
    """Hands a subscription's messages to its handler (both kinds of subscription)."""

    def __init__(self, bus: NatsBus, pattern: str, handler: Handler) -> None:
        self._bus = bus
        self._pattern = pattern
        self._handler = handler
        self._topics: dict[str, str | None] = {}  # per subject: the topic, None if not ours
        self.now = bus._clock.now

    async def __call__(self, msg: Msg, at: datetime) -> bool:
        """Run the handler on ``msg`` (received ``at``) if it is for the pattern; False when
        the handler failed. Never raises: a bad frame is dead-lettered, a failing handler
        logged."""
        subject = msg.subject
        try:
            topic = self._topics[subject]
        except KeyError:
            topic = self._topic(subject)
        if topic is None:
            return True
        try:
            envelopes = decode_frame(msg.data)  # one envelope, or a batch frame's
        except ValidationError as exc:
            await self._bus.dead_letter(topic, msg.data, str(exc))
            return True
        for envelope in envelopes:
            if envelope.topic != topic:
                reason = f"frame names topic {envelope.topic!r} but came on {topic!r}"
                await self._bus.dead_letter(topic, msg.data, reason)
                return True
        for envelope in envelopes:
            # envelope.received(at) without validating again: it is new and ours alone.
            _set_received_at(envelope, at)
            try:
                await self._handler(envelope)
            except Exception:
                # The whole message comes again; the ones already handled are repeats that
                # the reliable layer drops by key.
                log.exception("handler for %s failed on %s", self._pattern, envelope.key)
                return False
        return True

    def _topic(self, subject: str) -> str | None:
        topic, pattern = topic_for_subject(self._bus.prefix, subject), self._pattern
        # The consumer filter can be wider than the pattern, and wildcards do not reach into
        # the system namespace.
        ours = topic_matches(pattern, topic) and (
            not topic.startswith(SYSTEM_PREFIX) or pattern.startswith(SYSTEM_PREFIX)
        )
        if len(self._topics) >= SUBJECT_CACHE:
            self._topics.clear()
        self._topics[subject] = topic if ours else None
        return topic if ours else None


class DurableSubscription:
    """A durable pull consumer: its position stays in the stream while we are away."""

    def __init__(self, bus: NatsBus, pattern: str, handler: Handler, durable: str) -> None:
        self._bus = bus
        self.pattern = pattern
        self._handler = handler
        self.durable = durable
        self._feed: PullFeed | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def open(self, js: JetStreamContext) -> None:
        bus = self._bus
        wanted = filter_for_pattern(bus.prefix, self.pattern)
        # Creating a consumer that exists would quietly change its filter: compare first.
        try:
            found = (await js.consumer_info(bus.stream, self.durable)).config.description
        except nats.js.errors.NotFoundError:
            config = ConsumerConfig(
                durable_name=self.durable,
                description=self.pattern,  # filters can be wider than the pattern; this is exact
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.NEW,
                filter_subject=wanted,
                ack_wait=bus.ack_wait,
            )
            await js.add_consumer(bus.stream, config)
        else:
            if found != self.pattern:
                raise ConfigurationError(
                    f"durable consumer {self.durable!r} filters {found!r}, not {self.pattern!r}"
                )
        feed = PullFeed(
            bus._client(), bus.stream, self.durable, batch=bus.fetch_batch, expires=FETCH_WAIT
        )
        await feed.open()
        self._feed = feed
        self._task = asyncio.create_task(self._run(feed), name=f"nats-durable:{self.durable}")

    async def close(self) -> None:
        """Stop pulling and let the consumer keep its place. The handler call in progress
        ends first; messages pulled and not handled go back to the consumer at once (left in
        an inbox nobody reads, they would come again only after ``ack_wait``)."""
        self._bus.forget(self)
        self._closing = True
        task, self._task = self._task, None
        if self._feed is not None:
            self._feed.wake()
        if task is not None and task is not asyncio.current_task():
            await task

    def reconnected(self) -> None:
        if self._feed is not None:
            self._feed.reset()

    async def _run(self, feed: PullFeed) -> None:
        deliver = _Delivery(self._bus, self.pattern, self._handler)
        batch: deque[Msg] = deque()
        try:
            while not self._closing:
                try:
                    batch = await feed.take()
                except NATS_ERRORS as exc:
                    log.warning("pulling %s failed: %s", self.durable, exc)
                    await asyncio.sleep(0.5)  # the client is reconnecting
                    continue
                at = deliver.now()  # the batch arrived together
                # After close() the rest goes back to the consumer for the next subscriber.
                while batch and not self._closing:
                    msg = batch.popleft()
                    handled = await deliver(msg, at)
                    await _settle(msg, handled=handled)
        finally:
            self._feed = None
            await feed.close(batch)


async def _settle(msg: Msg, *, handled: bool) -> None:
    # A lost ack is harmless: the message comes again and consumers drop it by key.
    try:
        if handled:
            await msg.ack()
        else:
            await msg.nak(delay=REDELIVERY_DELAY)
    except NATS_ERRORS:
        pass


class EphemeralSubscription:
    """An ordered push consumer from the next message on; it ends with the subscription."""

    def __init__(self, bus: NatsBus, pattern: str, handler: Handler) -> None:
        self._bus = bus
        self.pattern = pattern
        self._handler = handler
        self._deliver = _Delivery(bus, pattern, handler)
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
        await self._deliver(msg, self._deliver.now())
