"""The shell the grid services share: batched input, a timer, a saved horizon, deferred commits.

A :class:`BatchingService` consumes its input patterns through durable, deferred-commit
consumers (:func:`~osed.bus.reliable.deferred_consumer`), queues each envelope with its commit
callback, and processes the queue in batches (``max_values`` envelopes, or ``max_delay_s``
after the first) under one lock; a ticker calls :meth:`~BatchingService.tick` every
``tick_s``. It publishes through a reliable :class:`~osed.bus.reliable.Publisher`, saves its
*horizon* (the instant up to which its work is done) as a pseudo-consumer ``<name>.<suffix>``
in the position store, and commits an input only once the subclass says the work it fed is
done (:meth:`~BatchingService._done`). A batch that fails marks the service broken: nothing
is committed from then on, so a restart processes it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Generic, Protocol, TypeVar

from osed.bridge.dead_letter import dead_letter_topic, encode_dead_letter
from osed.bridge.samples import Reject
from osed.bus.reliable import (
    Commit,
    Consumer,
    InMemoryOutbox,
    InMemoryPositions,
    Outbox,
    PositionStore,
    Publisher,
    deferred_consumer,
)
from osed.domain.envelope import Envelope
from osed.domain.time import Clock, SystemClock
from osed.ports.bus import Bus

#: The saved horizon's source in the pseudo-consumer ``<name>.<suffix>`` of the position store.
HORIZON_SOURCE = "closed-through"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


class BatchingConfig(Protocol):
    """What the shell reads of a service's configuration."""

    @property
    def name(self) -> str: ...
    @property
    def inputs(self) -> tuple[str, ...]: ...
    @property
    def dead_letter_prefix(self) -> str: ...
    @property
    def max_values(self) -> int: ...
    @property
    def max_delay_s(self) -> float: ...
    @property
    def tick_s(self) -> float: ...


class Counters(Protocol):
    received: int  # envelopes handed to the service


C = TypeVar("C", bound=BatchingConfig)
N = TypeVar("N", bound=Counters)
H = TypeVar("H")  # what an envelope held open gave: done once _done says so


class BatchingService(ABC, Generic[C, N, H]):
    """The shell of a grid service; subclasses process the batches (:meth:`_run`, which ends
    with :meth:`_settle`), run the timer (:meth:`tick`) and say when an input is done
    (:meth:`_done`). ``_kind`` names the service in log messages, ``_horizon_suffix`` the
    pseudo-consumer of the horizon, ``_remember_keys`` the publisher's idempotency keys."""

    _kind: ClassVar[str]
    _horizon_suffix: ClassVar[str]
    _remember_keys: ClassVar[int]
    _log: ClassVar[logging.Logger]

    def __init__(
        self,
        config: C,
        counters: N,
        bus: Bus,
        *,
        outbox: Outbox | None,
        positions: PositionStore | None,
        clock: Clock | None,
        heartbeat: float | None,
    ) -> None:
        self.name = config.name
        self.config = config
        self.counters = counters
        self._bus = bus
        self._outbox: Outbox = outbox if outbox is not None else InMemoryOutbox()
        self._positions: PositionStore = positions if positions is not None else InMemoryPositions()
        self._clock = clock if clock is not None else SystemClock()
        self._heartbeat = heartbeat
        self._lock = asyncio.Lock()
        self._publisher: Publisher | None = None
        self._consumers: list[Consumer] = []
        self._batch_timer: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._ready = False

    def _reset(self) -> None:
        """Forget everything in memory: what a new process would start from."""
        self._horizon: int | None = self._load_horizon()
        self._saved_horizon = self._horizon
        self._queue: list[tuple[Envelope, Commit | None]] = []
        # Per commit callback and source: (seq, what the envelope gave) not yet committed.
        self._open: dict[Commit, dict[str, deque[tuple[int, H]]]] = {}
        self._broken = False

    @property
    def horizon(self) -> datetime | None:
        """The instant up to which the service's work is done (windows closed, estimates
        made): nothing at or before it is made again."""
        return None if self._horizon is None else from_ns(self._horizon)

    def ready(self) -> bool:
        return self._ready and not self._broken

    # -- lifecycle

    async def start(self) -> None:
        self._reset()
        publisher = Publisher(
            self._bus,
            self.name,
            self._outbox,
            clock=self._clock,
            heartbeat=self._heartbeat,
            remember_keys=self._remember_keys,
        )
        try:
            await publisher.start()
            self._publisher = publisher
            for index, pattern in enumerate(self.config.inputs):
                consumer = self._consumer(f"{self.name}.{index}", pattern)
                await consumer.start()
                self._consumers.append(consumer)
        except BaseException:
            await self.stop()
            raise
        self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())
        self._ready = True

    async def stop(self) -> None:
        """Stop receiving, process what was received, and commit what is done. Work that is
        not done (open windows, incomplete snapshots) is not forced: its inputs stay
        uncommitted and come again after a restart."""
        self._ready = False
        async with self._lock:  # the timers wait for the lock or sleep: safe to cancel
            await self._cancel_timers()
        for consumer in self._consumers:
            await consumer.close()
        self._consumers.clear()
        if self._publisher is not None:
            try:
                async with self._lock:
                    await self._cancel_timers()
                    await self._process_queue()
            finally:
                await self._publisher.close()
                self._publisher = None
                await self._closed()

    async def _closed(self) -> None:
        """Called once the publisher is closed by :meth:`stop`."""

    async def _cancel_timers(self) -> None:
        for task in (self._ticker, self._batch_timer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._ticker = self._batch_timer = None

    def _consumer(self, name: str, pattern: str) -> Consumer:
        return deferred_consumer(
            self._bus, name, pattern, self.accept, positions=self._positions, clock=self._clock
        )

    # -- input

    async def accept(self, envelope: Envelope, commit: Commit | None = None) -> None:
        """Queue ``envelope``; a full batch is processed before this returns. ``commit`` hears
        ``{source: seq}`` once the work the envelope fed is done (published and stored)."""
        self.counters.received += 1
        self._queue.append((envelope, commit))
        if len(self._queue) >= self.config.max_values:
            async with self._lock:
                await self._process_queue()
        elif self._batch_timer is None:
            self._batch_timer = asyncio.get_running_loop().create_task(self._process_later())

    async def drain(self) -> None:
        """Process what is queued now (as the data says, not by the timer)."""
        async with self._lock:
            await self._process_queue()
        if self._publisher is not None:
            await self._publisher.flush()

    @abstractmethod
    async def tick(self) -> bool:
        """The timer: process what is queued, then what the clock says is due."""

    async def _process_later(self) -> None:
        try:
            await asyncio.sleep(self.config.max_delay_s)
            self._batch_timer = None
            async with self._lock:
                await self._process_queue()
        except Exception:
            self._log.exception("%s %s failed to process a batch", self._kind, self.name)

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick_s)
            try:
                await self.tick()
            except Exception:
                self._log.exception("%s %s: the timer failed", self._kind, self.name)

    # -- processing (the lock is held)

    async def _process_queue(self) -> None:
        queued, self._queue = self._queue, []
        if not queued:
            return
        try:
            await self._run(queued)
        except BaseException:
            # Not durable: commit nothing from here on, so a restart processes it again.
            self._broken = True
            raise

    @abstractmethod
    async def _run(self, queued: list[tuple[Envelope, Commit | None]]) -> None:
        """Process a batch (the lock is held); end with :meth:`_settle`."""

    def _hold(self, envelope: Envelope, commit: Commit | None, held: H) -> None:
        """Keep ``envelope`` uncommitted (when it came with ``commit``) until ``held`` is done."""
        if commit is not None:
            sources = self._open.setdefault(commit, {})
            sources.setdefault(envelope.source, deque()).append((envelope.seq, held))

    @abstractmethod
    def _done(self, held: H) -> bool:
        """Whether the work an envelope gave ``held`` for is done: it may be committed."""

    def _dead_letters(self, rejects: Sequence[Reject]) -> tuple[list[tuple[str, bytes]], list[str]]:
        """The dead-letter messages of ``rejects`` and their idempotency keys."""
        messages = [
            (
                dead_letter_topic(self.config.dead_letter_prefix, r.envelope.topic),
                encode_dead_letter(r, self.name),
            )
            for r in rejects
        ]
        keys = [f"{r.envelope.key}/{self.name}/dead-letter" for r in rejects]
        return messages, keys

    async def _settle(self) -> None:
        """Save the horizon if it moved, and commit every input that is done."""
        if self._horizon != self._saved_horizon and self._horizon is not None:
            self._positions.save(self._horizon_consumer, HORIZON_SOURCE, self._horizon)
            self._saved_horizon = self._horizon
        await self._commit_done()

    async def _commit_done(self) -> None:
        if self._broken:
            return
        for commit, sources in self._open.items():
            through: dict[str, int] = {}
            for source, entries in sources.items():
                while entries and self._done(entries[0][1]):
                    through[source] = entries.popleft()[0]
            if through:
                await commit(through)

    @property
    def _horizon_consumer(self) -> str:
        return f"{self.name}.{self._horizon_suffix}"

    def _load_horizon(self) -> int | None:
        return self._positions.load(self._horizon_consumer).get(HORIZON_SOURCE)


def to_ns(instant: datetime) -> int:
    """Nanoseconds since the epoch (whole microseconds)."""
    return (instant - _EPOCH) // _US * 1000


def from_ns(nanoseconds: int) -> datetime:
    """The instant ``nanoseconds`` after the epoch (to the microsecond below)."""
    return _EPOCH + timedelta(microseconds=nanoseconds // 1000)
