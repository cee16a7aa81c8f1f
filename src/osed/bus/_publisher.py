"""The publishing side of reliable delivery: number, write to the outbox, send, serve replays."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta

from osed.bus import _control as control
from osed.bus._outbox import InMemoryOutbox, Outbox
from osed.codec.envelope import encode_envelope
from osed.domain.envelope import JSON, Envelope
from osed.domain.errors import OsedError, Problem, ValidationError
from osed.domain.time import Clock, SystemClock
from osed.ports.bus import Bus, Subscription, topic_matches

_log = logging.getLogger("osed.bus.reliable")

_TRIM_EVERY = 1_024  # publishes between retention checks


class Publisher:
    """Publishes for one ``source``: seq 1, 2, 3, … without gaps, each envelope written to the
    ``outbox`` before it goes on the wire, so a consumer can always ask for it again.

    ``consumers``: the names whose acknowledgements allow trimming (all must have acknowledged
    a seq before it is trimmed); ``keep_for`` / ``keep_at_most``: retention, which trims
    regardless of acknowledgements. ``heartbeat``: seconds between announcements of the last
    seq, which let consumers notice lost messages at the end of a stream (None: only at start
    and close). ``max_replay``: seqs answered per replay request. The caller owns the outbox
    (and closes it).

    ``remember_keys``: how many of the last published idempotency keys to remember (read back
    from the outbox on construction, so this survives a restart); a message given a key among
    them is not published again by :meth:`publish_many`. For a publisher whose input may be
    processed twice (after a crash) and that derives each output's key from its input.
    0 (default): no such check.
    """

    def __init__(
        self,
        bus: Bus,
        source: str,
        outbox: Outbox | None = None,
        *,
        clock: Clock | None = None,
        consumers: Collection[str] = (),
        keep_for: timedelta | None = None,
        keep_at_most: int | None = None,
        heartbeat: float | None = 5.0,
        max_replay: int = 1_000,
        remember_keys: int = 0,
        max_unsent: int = 10_000,
    ) -> None:
        self.source = control.check_name(source, path="$.source")
        self.outbox: Outbox = outbox if outbox is not None else InMemoryOutbox()
        self._bus = bus
        self._clock = clock if clock is not None else SystemClock()
        self._consumers = frozenset(consumers)
        self._keep_for = keep_for
        self._keep_at_most = keep_at_most
        self._heartbeat = heartbeat
        self._max_replay = max_replay
        self._last = self.outbox.last_seq()
        self._trimmed = self.outbox.first_seq() - 1
        self._acks: dict[str, int] = {}
        self._subscriptions: list[Subscription] = []
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._remember_keys = max(0, remember_keys)
        self._max_unsent = max_unsent
        self._unsent: deque[tuple[asyncio.Task[None], int]] = deque()
        self._unsent_count = 0
        self._keys: set[str] = set()
        self._key_order: deque[str] = deque()
        if self._remember_keys and self._last > 0:
            first = max(self.outbox.first_seq(), self._last - self._remember_keys + 1)
            self._remember(e.key for e in self.outbox.read(first, self._last))

    @property
    def last_seq(self) -> int:
        return self._last

    def acknowledged(self) -> dict[str, int]:
        """The last seq each consumer acknowledged."""
        return dict(self._acks)

    async def start(self) -> None:
        """Serve replays and acknowledgements; announce the last seq (a restarted publisher
        thereby lets consumers ask for what the broker lost while it was down)."""
        self._subscriptions.append(
            await self._bus.subscribe(control.replay_topic(self.source), self._on_replay)
        )
        self._subscriptions.append(
            await self._bus.subscribe(control.ack_topic(self.source), self._on_ack)
        )
        await self.announce()
        if self._heartbeat is not None:
            self._heartbeat_task = asyncio.get_running_loop().create_task(
                self._beat(self._heartbeat)
            )

    async def close(self) -> None:
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task
            self._heartbeat_task = None
        await self.flush()
        with contextlib.suppress(OsedError):
            await self.announce()
        for subscription in self._subscriptions:
            await subscription.close()
        self._subscriptions.clear()

    async def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        event_time: datetime | None = None,
        content_type: str = JSON,
        key: str = "",
    ) -> Envelope:
        """Number ``payload``, write it to the outbox, send it; returns the envelope.

        Once the outbox holds it, the message reaches every consumer: a failed send is only
        logged, since consumers replay what they miss. (Unlike :meth:`publish_many`, this
        publishes a remembered key again; consumers drop the repeat by its key.)
        """
        now = self._clock.now()
        envelope = Envelope(
            topic,
            self.source,
            self._last + 1,
            payload,
            event_time if event_time is not None else now,
            content_type,
            key,
        )
        self.outbox.append((envelope,), now)
        self._last = envelope.seq
        if self._remember_keys:
            self._remember((envelope.key,))
        await self._send(envelope)
        if self._last % _TRIM_EVERY == 0:
            self.trim()
        return envelope

    async def publish_many(
        self,
        messages: Iterable[tuple[str, bytes]],
        *,
        event_time: datetime | None = None,
        content_type: str = JSON,
        keys: Sequence[str] | None = None,
        wait_for_broker: bool = True,
    ) -> list[Envelope]:
        """Like :meth:`publish` for ``(topic, payload)`` pairs, written in one outbox append
        (one transaction, one fsync for the SQLite outbox) and handed to the bus in one
        ``publish_many``. ``keys``: the idempotency key of each message ("" for the default
        ``<source>:<seq>``); the messages whose key is remembered (see ``remember_keys``), or
        repeated within the call, are left out. Returns the envelopes published.

        ``wait_for_broker=False`` returns once the outbox holds the batch and lets the broker
        round trip overlap the caller's next batch (at most ``max_unsent`` envelopes wait for
        the broker at a time; :meth:`close` waits for them)."""
        pairs = list(messages)
        if keys is None:
            keys = [""] * len(pairs)
        elif len(keys) != len(pairs):
            raise ValidationError(
                [Problem("$.keys", "length", f"{len(keys)} keys for {len(pairs)} messages")]
            )
        now = self._clock.now()
        at = event_time if event_time is not None else now
        envelopes: list[Envelope] = []
        fresh: set[str] = set()
        for (topic, payload), key in zip(pairs, keys, strict=True):
            if key:
                if key in self._keys or key in fresh:
                    continue
                fresh.add(key)
            seq = self._last + len(envelopes) + 1
            envelopes.append(Envelope(topic, self.source, seq, payload, at, content_type, key))
        if not envelopes:
            return envelopes
        self.outbox.append(envelopes, now)
        self._last = envelopes[-1].seq
        if self._remember_keys:
            self._remember(e.key for e in envelopes)
        sending = asyncio.get_running_loop().create_task(self._send_many(envelopes))
        if wait_for_broker:
            await sending
        else:
            # The outbox holds the batch: consumers get it even if this send fails.
            self._unsent.append((sending, len(envelopes)))
            self._unsent_count += len(envelopes)
            while self._unsent_count > self._max_unsent:
                await self._oldest_sent()
        self.trim()
        return envelopes

    async def flush(self) -> None:
        """Wait until every envelope published without waiting went to the broker (or failed
        to, which leaves it to replay)."""
        while self._unsent:
            await self._oldest_sent()

    async def _oldest_sent(self) -> None:
        task, count = self._unsent[0]
        await asyncio.shield(task)  # a cancelled caller must not cancel the send
        if self._unsent and self._unsent[0][0] is task:
            self._unsent.popleft()
            self._unsent_count -= count

    def _remember(self, keys: Iterable[str]) -> None:
        for key in keys:
            if key not in self._keys:
                self._keys.add(key)
                self._key_order.append(key)
        while len(self._key_order) > self._remember_keys:
            self._keys.discard(self._key_order.popleft())

    async def announce(self) -> None:
        """Tell consumers the last seq, on ``_osed/head/<source>``."""
        if self._last > 0:
            head = control.encode_head(control.Head(self.source, self._last))
            await self._bus.publish(
                control.control_envelope(
                    control.head_topic(self.source), self.source, head, self._clock.now()
                )
            )

    def trim(self) -> None:
        """Forget what every known consumer acknowledged, and what retention lets go."""
        through = min((self._acks.get(c, 0) for c in self._consumers), default=0)
        if self._keep_at_most is not None:
            through = max(through, self._last - self._keep_at_most)
        if self._keep_for is not None:
            cutoff = self._clock.now() - self._keep_for
            through = max(through, self.outbox.last_written_before(cutoff))
        through = min(through, self._last)
        if through > self._trimmed:
            self.outbox.trim_through(through)
            self._trimmed = through

    async def _send(self, envelope: Envelope) -> None:
        try:
            await self._bus.publish(envelope)
        except OsedError as exc:
            _log.warning("%s#%d kept in the outbox, not sent: %s", self.source, envelope.seq, exc)

    async def _send_many(self, envelopes: list[Envelope]) -> None:
        try:
            await self._bus.publish_many(envelopes)
        except OsedError as exc:
            first, last = envelopes[0].seq, envelopes[-1].seq
            _log.warning("%s#%d-%d kept in the outbox, not sent: %s", self.source, first, last, exc)

    async def _beat(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                self.trim()
                await self.announce()
            except OsedError as exc:
                _log.warning("heartbeat of %s failed: %s", self.source, exc)

    async def _on_ack(self, envelope: Envelope) -> None:
        try:
            ack = control.decode_ack(envelope.payload)
        except ValidationError as exc:
            _log.warning("ignored a bad ack for %s: %s", self.source, exc)
            return
        if ack.through > self._acks.get(ack.consumer, 0):
            self._acks[ack.consumer] = ack.through
            if ack.consumer in self._consumers:
                self.trim()

    async def _on_replay(self, envelope: Envelope) -> None:
        try:
            request = control.decode_request(envelope.payload)
            control.check_name(request.consumer, path="$.consumer")
        except ValidationError as exc:
            _log.warning("ignored a bad replay request for %s: %s", self.source, exc)
            return
        await self._serve(request)

    async def _serve(self, request: control.ReplayRequest) -> None:
        """Send the held envelopes of the range that match the consumer's pattern, as original
        frames, then a summary of what will not come."""
        first = request.first
        last = min(request.last, first + self._max_replay - 1)
        held = {e.seq: e for e in self.outbox.read(first, last)}
        reply_to = control.replayed_topic(request.consumer)
        skipped: list[int] = []
        unavailable: list[int] = []
        for seq in range(first, last + 1):
            original = held.get(seq)
            if original is None:
                unavailable.append(seq)
            elif topic_matches(request.pattern, original.topic):
                frame = encode_envelope(original)
                await self._bus.publish(
                    control.frame_envelope(reply_to, self.source, frame, self._clock.now())
                )
            else:
                skipped.append(seq)
        summary = control.ReplaySummary(
            self.source, first, last, _ranges(skipped), _ranges(unavailable)
        )
        await self._bus.publish(
            control.control_envelope(
                reply_to, self.source, control.encode_summary(summary), self._clock.now()
            )
        )


def _ranges(seqs: list[int]) -> tuple[control.Range, ...]:
    """Ascending seqs as runs: [1, 2, 3, 7] -> ((1, 3), (7, 7))."""
    runs: list[control.Range] = []
    for seq in seqs:
        if runs and runs[-1][1] == seq - 1:
            runs[-1] = (runs[-1][0], seq)
        else:
            runs.append((seq, seq))
    return tuple(runs)
