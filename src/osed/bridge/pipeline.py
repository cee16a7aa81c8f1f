"""One pipeline: decode → steps → publish (reliable) → store → republish, in batches.

Envelopes are accepted one at a time or several at once and processed in batches, closed at
``max_points`` messages or ``max_delay_s`` after the first, whichever comes first. Nothing a message
contains can stop the pipeline: every failure becomes a dead letter with its reasons, and a
step that raises rejects the messages of its batch naming the step.

Each envelope may come with a :data:`Commit` callback (a reliable consumer's ``commit``): it
is called with ``{source: last seq}`` of that envelope's batch once the batch is stored and
published to the outbox, so the consumer's position never runs ahead of what is durable. Every
output and dead letter carries an idempotency key derived from its input
(``<input key>/<pipeline>``, ``…/dead-letter`` for a dead letter, ``…#2``, ``…#3`` for further
outputs of one input), so processing an input again after a crash publishes nothing new.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from osed.bridge.config import BatchConfig, PipelineConfig
from osed.bridge.dead_letter import dead_letter_topic, encode_dead_letter
from osed.bridge.formats import Format, make_format
from osed.bridge.republish import RawPublisher
from osed.bridge.samples import Message, Reject
from osed.bridge.sink import TimeSeriesSink
from osed.bus.reliable import Publisher
from osed.domain.envelope import Envelope
from osed.domain.errors import OsedError, Problem, ValidationError

log = logging.getLogger(__name__)

MAX_REMEMBERED_TOPICS = 10_000

Commit = Callable[[Mapping[str, int]], Awaitable[None]]
"""Told ``{source: seq}``: the envelopes through ``seq`` are durably processed."""


@dataclass(slots=True)
class Outcome:
    """What processing a batch produced: (topic, payload) to publish, and rejects."""

    outputs: list[tuple[str, bytes, Message]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


@dataclass(slots=True)
class PipelineStats:
    received: int = 0
    published: int = 0
    dead_lettered: int = 0
    republish_failures: int = 0


class Pipeline:
    def __init__(
        self,
        config: PipelineConfig,
        publisher: Publisher,
        *,
        dead_letter_prefix: str,
        batch: BatchConfig | None = None,
        sink: TimeSeriesSink | None = None,
        republisher: RawPublisher | None = None,
    ) -> None:
        self.config = config
        self.stats = PipelineStats()
        self._publisher = publisher
        self._dead_letter_prefix = dead_letter_prefix
        self._batch = batch if batch is not None else BatchConfig()
        self._sink = sink
        self._republisher = republisher
        self._format: Format = make_format(config.format, dict(config.input_units))
        # A template without placeholders names one topic: no formatting per message.
        template = config.publish
        self._fixed_topic = template if "{" not in template and "}" not in template else None
        self._publishable: set[str] = set()  # output topics found publishable
        self._pending: list[Envelope] = []
        self._commits: list[Commit | None] = []  # of each pending envelope
        self._commit_failed = False
        self._lock = asyncio.Lock()
        self._timer: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    async def accept(self, envelope: Envelope, commit: Commit | None = None) -> None:
        """Queue ``envelope``; a full batch is processed before this returns (backpressure).
        ``commit`` hears the envelope's source and seq once its batch is durable."""
        self.stats.received += 1
        self._pending.append(envelope)
        self._commits.append(commit)
        await self._queued()

    async def accept_many(
        self, envelopes: Sequence[Envelope], commit: Commit | None = None
    ) -> None:
        """Queue ``envelopes`` (in order) as :meth:`accept` would one by one; full batches are
        processed before this returns."""
        if not envelopes:
            return
        self.stats.received += len(envelopes)
        self._pending += envelopes
        self._commits += [commit] * len(envelopes)
        await self._queued()

    async def _queued(self) -> None:
        self._idle.clear()
        if len(self._pending) >= self._batch.max_points:
            await self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().create_task(self._flush_later())

    async def flush(self) -> None:
        """Process what is queued now, in batches of at most ``max_points`` messages."""
        async with self._lock:
            queued, self._pending = self._pending, []
            commits, self._commits = self._commits, []
            size = self._batch.max_points
            for first in range(0, len(queued), size):
                try:
                    await self._run(queued[first : first + size])
                except BaseException:
                    # Not durable: commit nothing from here on, so a restart processes it again.
                    self._commit_failed = True
                    raise
                await self._commit(queued[first : first + size], commits[first : first + size])
            if not self._pending:
                self._idle.set()

    async def drain(self) -> None:
        """Return once everything accepted so far was processed and handed to the broker."""
        while self._pending or not self._idle.is_set():
            await self.flush()
        await self._publisher.flush()

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        await self.drain()

    async def _commit(self, envelopes: list[Envelope], commits: list[Commit | None]) -> None:
        if self._commit_failed:
            return
        through: dict[Commit, dict[str, int]] = {}
        for envelope, commit in zip(envelopes, commits, strict=True):
            if commit is not None:
                positions = through.get(commit)
                if positions is None:
                    positions = through[commit] = {}
                source, seq = envelope.source, envelope.seq
                if positions.get(source, 0) < seq:
                    positions[source] = seq
        for commit, positions in through.items():
            await commit(positions)

    def process(self, envelopes: Sequence[Envelope]) -> Outcome:
        """The pure part: decode, run the steps, encode; no I/O."""
        outcome = Outcome()
        messages: list[Message] = []
        for envelope in envelopes:
            try:
                messages.append(self._format.decode(envelope))
            except ValidationError as exc:
                outcome.rejects.append(Reject(envelope, exc.problems, "decode"))
        for step_config in self.config.steps:
            if not messages:
                break
            try:
                result = step_config.step.process(messages)
            except Exception as exc:  # a plugin's bug must not stop the pipeline
                log.exception("step %s failed on a batch of %d", step_config.name, len(messages))
                problem = Problem("$", "step_failed", f"{type(exc).__name__}: {exc}")
                outcome.rejects += [
                    Reject(m.envelope, (problem,), step_config.name) for m in messages
                ]
                messages = []
                break
            messages = result.messages
            outcome.rejects += result.rejects
        for message in messages:
            try:
                payload = self._format.encode(message)
            except (ValidationError, ValueError) as exc:
                problems = (
                    exc.problems
                    if isinstance(exc, ValidationError)
                    else (Problem("$", "unencodable", str(exc)),)
                )
                outcome.rejects.append(Reject(message.envelope, problems, "encode"))
                continue
            topic = self._output_topic(message)
            if topic not in self._publishable and not self._is_publishable(topic):
                problem = Problem("$", "bad_topic", f"output topic {topic!r} is not publishable")
                outcome.rejects.append(Reject(message.envelope, (problem,), "encode"))
                continue
            outcome.outputs.append((topic, payload, message))
        return outcome

    async def _run(self, envelopes: list[Envelope]) -> None:
        outcome = self.process(envelopes)
        stored = [message for _, _, message in outcome.outputs]
        if self._sink is not None and stored:
            outcome.rejects += self._store(stored)
            refused = {reject.envelope.key for reject in outcome.rejects if reject.stage == "store"}
            if refused:
                outcome.outputs = [o for o in outcome.outputs if o[2].envelope.key not in refused]
        messages = [(topic, payload) for topic, payload, _ in outcome.outputs]
        keys = self._keys([message.envelope for _, _, message in outcome.outputs], "")
        messages += [
            (
                dead_letter_topic(self._dead_letter_prefix, reject.envelope.topic),
                encode_dead_letter(reject, self.config.name),
            )
            for reject in outcome.rejects
        ]
        keys += self._keys([reject.envelope for reject in outcome.rejects], "/dead-letter")
        if messages:
            await self._publisher.publish_many(messages, keys=keys, wait_for_broker=False)
        self.stats.published += len(outcome.outputs)
        self.stats.dead_lettered += len(outcome.rejects)
        if self._republisher is not None and outcome.outputs:
            await self._republish(outcome.outputs)

    def _keys(self, inputs: list[Envelope], kind: str) -> list[str]:
        """The idempotency key of each output (in order) of these inputs."""
        seen: dict[str, int] = {}
        keys = []
        for envelope in inputs:
            n = seen[envelope.key] = seen.get(envelope.key, 0) + 1
            suffix = f"#{n}" if n > 1 else ""
            keys.append(f"{envelope.key}/{self.config.name}{kind}{suffix}")
        return keys

    def _store(self, messages: list[Message]) -> list[Reject]:
        assert self._sink is not None
        try:
            return self._sink.write(messages)
        except OsedError as exc:
            log.error("pipeline %s could not store a batch: %s", self.config.name, exc)
            problem = Problem("$", "store_failed", str(exc))
            return [Reject(m.envelope, (problem,), "store") for m in messages]

    async def _republish(self, outputs: list[tuple[str, bytes, Message]]) -> None:
        assert self._republisher is not None
        republish = self.config.republish
        assert republish is not None
        sends = [
            self._republisher.publish(
                republish.topic.format(
                    topic=topic, device=message.device, source=message.envelope.source
                ),
                payload,
            )
            for topic, payload, message in outputs
        ]
        for result in await asyncio.gather(*sends, return_exceptions=True):
            if isinstance(result, BaseException):
                self.stats.republish_failures += 1
                log.warning("pipeline %s could not republish: %s", self.config.name, result)

    def _output_topic(self, message: Message) -> str:
        if self._fixed_topic is not None:
            return self._fixed_topic
        return self.config.publish.format(
            device=message.device, source=message.envelope.source, topic=message.envelope.topic
        )

    def _is_publishable(self, topic: str) -> bool:
        if not topic or any(c in topic for c in "+#\x00"):
            return False
        if len(self._publishable) >= MAX_REMEMBERED_TOPICS:
            self._publishable.clear()
        self._publishable.add(topic)
        return True

    async def _flush_later(self) -> None:
        try:
            await asyncio.sleep(self._batch.max_delay_s)
            self._timer = None
            await self.flush()
        except Exception:
            log.exception("pipeline %s failed to process a batch", self.config.name)
