"""The consuming side of reliable delivery: sequence, repair holes by replay, deliver once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

from osed.bus import _control as control
from osed.bus._positions import InMemoryPositions, PositionStore
from osed.bus._sequencer import Gap, Hole, Ready, Sequencer
from osed.codec.envelope import decode_envelope
from osed.codec.gap import GapReport
from osed.domain.envelope import Envelope
from osed.domain.errors import OsedError, ValidationError
from osed.domain.time import Clock, SystemClock
from osed.ports.bus import Bus, Handler, Subscription, topic_matches

_log = logging.getLogger("osed.bus.reliable")

GapHandler = Callable[[Gap], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ReplayPolicy:
    """How a consumer chases a hole (times in seconds of the event loop's clock).

    A request is repeated ``first_retry`` after it was sent, then at intervals growing by
    ``backoff`` up to ``max_retry``; a hole whose start has not moved for ``give_up_after`` is
    reported as a Gap with reason ``"timeout"``. ``max_batch`` seqs are asked for at a time.
    """

    first_retry: float = 0.5
    backoff: float = 2.0
    max_retry: float = 5.0
    give_up_after: float = 60.0
    max_batch: int = 1_000


@dataclass(slots=True)
class _Chase:
    """The replay request outstanding for one source's hole."""

    first: int  # where the hole started when it last moved
    progress_at: float
    retry_at: float = 0.0
    delay: float = 0.0
    answered: bool = True  # no request in flight: the next one goes out at once


class Consumer:
    """Delivers the envelopes matching ``pattern`` to ``handler`` exactly once per source, in
    seq order, over any :class:`~osed.ports.bus.Bus`.

    ``name`` identifies the consumer to publishers (replies come on ``_osed/replayed/<name>``)
    and keys its ``positions``. Each range a source could not replay is reported, in stream
    order: published as a :class:`~osed.codec.gap.GapReport` on ``_osed/gaps/<name>``, saved
    in ``positions`` with the position that moves past it, kept in :attr:`gaps`, and handed to
    ``on_gap``. ``durable`` subscribes under ``name``, so the broker keeps what arrives while
    the consumer is away. ``late_join``: a source without a position starts at the first seq
    seen instead of 1. ``sources``: sources the consumer expects, so that a head announcement
    alone reveals messages lost before any arrived (the heads of other sources count once one
    of their messages arrives). Positions are saved after the handler returns: a crash in
    between delivers that one message again on restart.

    ``deferred_commit``: for a handler that only queues what it receives (e.g. into a batch
    written later). Positions are then saved, and acknowledged to the sources, only through
    what the owner passes to :meth:`commit` once it has durably processed those messages; a
    crash before that makes the restarted consumer resume after the last commit, so the
    messages after it come again (redelivered by the broker, or replayed from the source's
    outbox when the consumer sees the hole). Gaps are committed with the messages before them;
    a gap found again after such a crash is published again (with the same key), saved once.
    """

    def __init__(
        self,
        bus: Bus,
        name: str,
        pattern: str,
        handler: Handler,
        *,
        on_gap: GapHandler | None = None,
        positions: PositionStore | None = None,
        policy: ReplayPolicy | None = None,
        durable: bool = False,
        late_join: bool = False,
        sources: Collection[str] = (),
        max_buffered: int = 10_000,
        ack_every: int = 1_000,
        deferred_commit: bool = False,
        clock: Clock | None = None,
    ) -> None:
        self.name = control.check_name(name, path="$.name")
        self.pattern = pattern
        self.gaps: list[Gap] = []
        self._bus = bus
        self._handler = handler
        self._on_gap = on_gap
        self._positions: PositionStore = positions if positions is not None else InMemoryPositions()
        self._policy = policy if policy is not None else ReplayPolicy()
        self._durable = durable
        self._ack_every = ack_every
        self._clock = clock if clock is not None else SystemClock()
        known = dict.fromkeys(sources, 0) | self._positions.load(self.name)
        self._sequencer = Sequencer(known, max_buffered=max_buffered, late_join=late_join)
        self._deferred = deferred_commit
        # With deferred commits: per source the last seq saved, and the gaps reported after
        # messages not committed yet (committed as soon as the messages before them are).
        self._committed: dict[str, int] = dict(known)
        self._open_gaps: dict[str, list[tuple[Gap, GapReport]]] = {}
        self._closed = False
        self._lock = asyncio.Lock()
        self._wakeup = asyncio.Event()
        self._chases: dict[str, _Chase] = {}
        self._acked: dict[str, int] = {}
        self._since_ack = 0
        self._subscriptions: list[Subscription] = []
        self._repair_task: asyncio.Task[None] | None = None

    def position(self, source: str) -> int:
        """The last seq of ``source`` delivered or reported lost."""
        return self._sequencer.position(source)

    def committed(self, source: str) -> int:
        """The last seq of ``source`` saved as this consumer's position (a restart resumes
        after it); equal to :meth:`position` unless commits are deferred."""
        if not self._deferred:
            return self._sequencer.position(source)
        return self._committed.get(source, 0)

    async def commit(self, positions: Mapping[str, int]) -> None:
        """With ``deferred_commit``: the messages delivered through ``positions[source]`` are
        durably processed; save that as the position (with any gap reported right after it)
        and acknowledge it to the source in due course. A seq beyond what was delivered counts
        as what was delivered; a lower one than already committed is ignored. Without
        ``deferred_commit`` positions are saved on delivery and this does nothing."""
        if not self._deferred:
            return
        # No lock: the handler may call this while a delivery holds it (a full batch is
        # processed inside ``accept``); saving is synchronous, so nothing interleaves.
        changed = sum(self._advance(source, seq) for source, seq in positions.items())
        self._since_ack += changed
        if changed and (self._closed or self._since_ack >= self._ack_every):
            try:
                await self._ack_all()
            except OsedError as exc:  # saved already; the next ack covers it
                _log.warning("consumer %s could not acknowledge: %s", self.name, exc)

    def _advance(self, source: str, seq: int) -> bool:
        """Commit ``source`` through ``seq`` (and the gaps that follow); whether it moved."""
        before = self._committed.get(source, 0)
        through = max(before, min(seq, self._sequencer.position(source)))
        gaps = self._open_gaps.get(source, [])
        passed: list[GapReport] = []
        while gaps and gaps[0][0].first <= through + 1:
            gap, report = gaps.pop(0)
            passed.append(report)
            through = max(through, gap.last)
        if through <= before:
            return False
        self._committed[source] = through
        self._positions.save(self.name, source, through, passed)
        return True

    async def start(self) -> None:
        """Subscribe (replies and heads first, so no answer is missed) and start repairing.

        A restarted consumer that was not durable learns what it missed from the next message
        or head announcement of each source."""
        subscribe = self._bus.subscribe
        self._subscriptions.append(
            await subscribe(control.replayed_topic(self.name), self._on_replayed)
        )
        self._subscriptions.append(await subscribe(control.HEAD_PATTERN, self._on_head))
        durable = self.name if self._durable else None
        self._subscriptions.append(await subscribe(self.pattern, self._on_data, durable=durable))
        self._repair_task = asyncio.get_running_loop().create_task(self._repair())

    async def close(self) -> None:
        """Stop receiving; acknowledge what was delivered (with ``deferred_commit``: what was
        committed; later commits are acknowledged as they come)."""
        self._closed = True
        for subscription in reversed(self._subscriptions):
            await subscription.close()
        self._subscriptions.clear()
        if self._repair_task is not None:
            self._repair_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._repair_task
            self._repair_task = None
        with contextlib.suppress(OsedError):
            await self._ack_all()

    async def _on_data(self, envelope: Envelope) -> None:
        if control.is_control(envelope.topic):
            return  # a pattern like '#' also matches the control topics
        async with self._lock:
            ready = self._sequencer.offer(envelope)
            if ready:
                await self._deliver(ready)
        if self._sequencer.is_waiting(envelope.source):
            chase = self._chases.get(envelope.source)
            if chase is None or chase.answered:
                self._wakeup.set()

    async def _on_replayed(self, envelope: Envelope) -> None:
        try:
            if envelope.content_type == control.FRAME:
                original = decode_envelope(envelope.payload)
                if envelope.received_at is not None:
                    original = original.received(envelope.received_at)
                if topic_matches(self.pattern, original.topic):
                    await self._on_data(original)
                else:
                    await self._mark(original.source, [(original.seq, original.seq)], None)
                return
            summary = control.decode_summary(envelope.payload)
        except ValidationError as exc:
            _log.warning("consumer %s ignored a bad replay reply: %s", self.name, exc)
            return
        await self._mark(summary.source, summary.skipped, None)
        await self._mark(summary.source, summary.unavailable, "unavailable")
        chase = self._chases.get(summary.source)
        if chase is not None:
            chase.answered = True
        self._wakeup.set()

    async def _on_head(self, envelope: Envelope) -> None:
        try:
            head = control.decode_head(envelope.payload)
        except ValidationError as exc:
            _log.warning("consumer %s ignored a bad head: %s", self.name, exc)
            return
        self._sequencer.announce(head.source, head.last)
        if self._sequencer.is_waiting(head.source):
            self._wakeup.set()
        elif self.committed(head.source) > self._acked.get(head.source, 0):
            await self._ack(head.source)  # idle and complete: a good moment to let it trim

    async def _mark(self, source: str, ranges: Iterable[control.Range], reason: str | None) -> None:
        async with self._lock:
            for first, last in ranges:
                ready = self._sequencer.mark(source, first, last, reason)
                if ready:
                    await self._deliver(ready)

    async def _deliver(self, ready: list[Ready]) -> None:
        """Hand over in order; called with the lock held, so deliveries never overlap."""
        for item in ready:
            reports: tuple[GapReport, ...] = ()
            if type(item) is Gap:
                report = await self._report(item)
                if self._deferred:
                    self._open_gaps.setdefault(item.source, []).append((item, report))
                    if self._advance(item.source, self.committed(item.source)):
                        self._since_ack += 1
                    continue
                last, reports = item.last, (report,)
            else:
                assert isinstance(item, Envelope)
                try:
                    await self._handler(item)
                except Exception:
                    _log.exception(
                        "consumer %s: handler failed on %s#%d", self.name, item.source, item.seq
                    )
                if self._deferred:
                    continue
                last = item.seq
            self._positions.save(self.name, item.source, last, reports)
            self._since_ack += 1
        if self._since_ack >= self._ack_every:
            await self._ack_all()

    async def _report(self, gap: Gap) -> GapReport:
        """Tell the log, the gap topic and ``on_gap``; the caller saves the report with the
        position. Published first: a crash before the save finds the gap again and publishes
        it again (at least once on the topic, exactly once in the store)."""
        _log.warning(
            "consumer %s: %s#%d..%d lost (%s)",
            self.name,
            gap.source,
            gap.first,
            gap.last,
            gap.reason,
        )
        self.gaps.append(gap)
        report = GapReport(
            self.name, self.pattern, gap.source, gap.first, gap.last, gap.reason, self._clock.now()
        )
        try:
            await self._bus.publish(control.gap_envelope(report))
        except OsedError as exc:  # it is saved all the same
            _log.warning("consumer %s could not publish a gap report: %s", self.name, exc)
        if self._on_gap is not None:
            try:
                await self._on_gap(gap)
            except Exception:
                _log.exception("consumer %s: gap callback failed", self.name)
        return report

    async def _ack_all(self) -> None:
        self._since_ack = 0
        for source in self._sequencer.positions():
            if self.committed(source) > self._acked.get(source, 0):
                await self._ack(source)

    async def _ack(self, source: str) -> None:
        through = self.committed(source)
        self._acked[source] = through
        body = control.encode_ack(control.Ack(self.name, through))
        await self._bus.publish(
            control.control_envelope(control.ack_topic(source), self.name, body, self._clock.now())
        )

    async def _repair(self) -> None:
        """Ask sources for their holes; repeat unanswered requests with backoff; give up on a
        hole that stops moving. One task for all sources, asleep while nothing is missing."""
        loop = asyncio.get_running_loop()
        while True:
            wake_at: float | None = None
            try:
                await self._gaps_by_timeout(loop.time())
                wake_at = await self._chase_holes(loop.time())
            except Exception:
                _log.exception("consumer %s: repair failed; retrying", self.name)
                wake_at = loop.time() + self._policy.first_retry
            timeout = None if wake_at is None else max(0.0, wake_at - loop.time())
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a cancellation that
            # arrives as the wakeup fires, and close() would then wait for this task forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wakeup.wait()
            self._wakeup.clear()

    async def _chase_holes(self, now: float) -> float | None:
        """Send the requests due now; the time of the next thing due (None: nothing)."""
        policy = self._policy
        holes = {h.source: h for h in self._sequencer.holes(policy.max_batch)}
        for source in set(self._chases) - set(holes):
            del self._chases[source]
        wake_at: float | None = None
        for hole in holes.values():
            chase = self._chases.get(hole.source)
            if chase is None:
                chase = self._chases[hole.source] = _Chase(hole.first, progress_at=now)
            elif chase.first != hole.first:  # replayed frames are arriving: no repeat yet
                chase.first, chase.progress_at = hole.first, now
                chase.retry_at = max(chase.retry_at, now + policy.first_retry)
            if chase.answered or now >= chase.retry_at:
                chase.delay = policy.first_retry if chase.answered else chase.delay
                chase.retry_at = now + chase.delay
                chase.delay = min(chase.delay * policy.backoff, policy.max_retry)
                chase.answered = False
                await self._request(hole)
            due = min(chase.retry_at, chase.progress_at + policy.give_up_after)
            wake_at = due if wake_at is None else min(wake_at, due)
        return wake_at

    async def _gaps_by_timeout(self, now: float) -> None:
        """Report the holes that did not move for ``give_up_after`` as lost, whole."""
        expired = {
            source
            for source, chase in self._chases.items()
            if now >= chase.progress_at + self._policy.give_up_after
        }
        for hole in self._sequencer.holes():
            if hole.source in expired:
                del self._chases[hole.source]
                await self._mark(hole.source, [(hole.first, hole.last)], "timeout")

    async def _request(self, hole: Hole) -> None:
        body = control.encode_request(
            control.ReplayRequest(self.name, hole.first, hole.last, self.pattern)
        )
        envelope = control.control_envelope(
            control.replay_topic(hole.source), self.name, body, self._clock.now()
        )
        try:
            await self._bus.publish(envelope)
        except OsedError as exc:
            _log.warning("consumer %s could not ask for a replay: %s", self.name, exc)


Commit = Callable[[Mapping[str, int]], Awaitable[None]]
Accept = Callable[[Envelope, Commit], Awaitable[None]]


def deferred_consumer(
    bus: Bus,
    name: str,
    pattern: str,
    accept: Accept,
    *,
    positions: PositionStore,
    clock: Clock,
) -> Consumer:
    """A durable consumer that hands each envelope to ``accept`` with the consumer's
    ``commit``: the position advances only when the receiver says its work is durable."""
    consumer: Consumer | None = None

    async def handle(envelope: Envelope) -> None:
        assert consumer is not None
        await accept(envelope, consumer.commit)

    consumer = Consumer(
        bus,
        name,
        pattern,
        handle,
        positions=positions,
        durable=True,
        deferred_commit=True,
        clock=clock,
    )
    return consumer
