"""The bridge as a runtime service: every configured pipeline, started and stopped together.

Everything concrete is passed in: the field bus (for ``ingress: bus``), the raw feed (for
``ingress: raw``), the time-series store, the outbox of each pipeline's publisher, the
position store, and a factory of publishers to external brokers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from osed.bridge.config import BridgeConfig, PipelineConfig, RepublishConfig
from osed.bridge.ingress import RawAcknowledger, RawIngress
from osed.bridge.mqtt_raw import RawMqttPublisher, endpoint
from osed.bridge.pipeline import Pipeline
from osed.bridge.republish import Acknowledge, BatchingRawFeed, RawFeed, RawPublisher
from osed.bridge.session_loss import SessionLossReporter
from osed.bridge.sink import TimeSeriesSink
from osed.bus.reliable import (
    Consumer,
    InMemoryOutbox,
    InMemoryPositions,
    Outbox,
    PositionStore,
    Publisher,
    deferred_consumer,
)
from osed.domain.envelope import Envelope
from osed.domain.errors import ConfigurationError
from osed.domain.time import Clock, SystemClock
from osed.ports.bus import Bus
from osed.ports.timeseries import TimeSeriesStore

log = logging.getLogger(__name__)

OutboxFactory = Callable[[str], Outbox]
RepublisherFactory = Callable[[RepublishConfig], RawPublisher]

REMEMBER_KEYS = 10_000  # at least: output keys each pipeline's publisher remembers


def mqtt_republisher(config: RepublishConfig) -> RawPublisher:
    target = endpoint(
        config.host,
        config.port,
        username=config.username,
        password=config.password,
        tls_ca=config.tls_ca,
    )
    return RawMqttPublisher(target, client_id=config.client_id, qos=config.qos)


class BridgeService:
    """Runs the pipelines of ``config``; ``name`` also prefixes publisher and consumer names
    (``<name>.<pipeline>``)."""

    def __init__(
        self,
        config: BridgeConfig,
        bus: Bus,
        *,
        raw_feed: RawFeed | None = None,
        store: TimeSeriesStore | None = None,
        outboxes: OutboxFactory | None = None,
        positions: PositionStore | None = None,
        republishers: RepublisherFactory = mqtt_republisher,
        clock: Clock | None = None,
        name: str = "bridge",
    ) -> None:
        self.name = name
        self.config = config
        self.pipelines: dict[str, Pipeline] = {}
        self._bus = bus
        self._raw_feed = raw_feed
        self._store = store
        self._outboxes = outboxes if outboxes is not None else (lambda _source: InMemoryOutbox())
        self._positions = positions if positions is not None else InMemoryPositions()
        self._republishers = republishers
        self._clock = clock if clock is not None else SystemClock()
        self._publishers: list[Publisher] = []
        self._consumers: list[Consumer] = []
        self._external: list[RawPublisher] = []
        self._session_losses = SessionLossReporter(bus, self._positions, self._clock)
        self._ready = False
        self._check_wiring()

    def ready(self) -> bool:
        return self._ready

    async def start(self) -> None:
        try:
            if self._raw_feed is not None:
                await self._raw_feed.start()
            for pipeline_config in self.config.pipelines:
                await self._start_pipeline(pipeline_config)
        except BaseException:
            await self.stop()
            raise
        self._ready = True

    async def stop(self) -> None:
        """Stop the inputs first, then process what was accepted, then close the outputs."""
        self._ready = False
        if self._raw_feed is not None:
            await self._raw_feed.stop()
        await self._session_losses.close()
        for consumer in self._consumers:
            await consumer.close()
        for pipeline in self.pipelines.values():
            await pipeline.close()
        for publisher in self._publishers:
            await publisher.close()
            publisher.outbox.close()
        for external in self._external:
            await external.stop()
        self._consumers.clear()
        self._publishers.clear()
        self._external.clear()
        self.pipelines.clear()

    async def _start_pipeline(self, config: PipelineConfig) -> None:
        source = f"{self.name}.{config.name}"
        # Outputs are keyed by their input, and an input whose batch was not committed before
        # a crash is processed again: remembering the last keys keeps its outputs out.
        publisher = Publisher(
            self._bus,
            source,
            self._outboxes(source),
            clock=self._clock,
            remember_keys=max(REMEMBER_KEYS, 10 * self.config.batch.max_points),
        )
        await publisher.start()
        self._publishers.append(publisher)
        republisher = None
        if config.republish is not None:
            republisher = self._republishers(config.republish)
            await republisher.start()
            self._external.append(republisher)
        sink = None
        if config.store is not None:
            assert self._store is not None
            # A batch's points in one transaction: one commit per batch.
            sink = TimeSeriesSink(self._store, config.store.series)
        pipeline = Pipeline(
            config,
            publisher,
            dead_letter_prefix=self.config.dead_letter_prefix,
            batch=self.config.batch,
            sink=sink,
            republisher=republisher,
        )
        self.pipelines[config.name] = pipeline
        if config.ingress == "bus":
            for index, pattern in enumerate(config.subscribe):
                consumer = self._consumer(f"{source}.{index}", pattern, pipeline)
                await consumer.start()
                self._consumers.append(consumer)
        else:
            assert self._raw_feed is not None
            ingress = RawIngress(f"{source}.ingress", self._positions)
            clock = self._clock

            async def wrap(topic: str, payload: bytes) -> None:
                envelope: Envelope = ingress.wrap(topic, payload, clock.now())
                await pipeline.accept(envelope)

            acknowledger = RawAcknowledger()

            async def wrap_many(
                messages: Sequence[tuple[str, bytes]], acknowledge: Acknowledge
            ) -> None:
                envelopes = ingress.wrap_many(messages, clock.now())
                acknowledger.hold(envelopes, acknowledge)
                await pipeline.accept_many(envelopes, acknowledger.commit)

            feed = self._raw_feed
            for index, pattern in enumerate(config.subscribe):
                if isinstance(feed, BatchingRawFeed):  # one call per burst, not per message
                    # Named as a bus pipeline's consumer of the same pattern would be.
                    lost = self._session_losses.handler(f"{source}.{index}", pattern)
                    await feed.subscribe_batches(pattern, wrap_many, on_session_lost=lost)
                else:
                    await feed.subscribe(pattern, wrap)

    def _consumer(self, name: str, pattern: str, pipeline: Pipeline) -> Consumer:
        """A consumer whose position advances only once the pipeline has stored and published
        the batch holding a message (see :meth:`Pipeline.accept`)."""
        return deferred_consumer(
            self._bus, name, pattern, pipeline.accept, positions=self._positions, clock=self._clock
        )

    def _check_wiring(self) -> None:
        missing = []
        for pipeline in self.config.pipelines:
            if pipeline.ingress == "raw" and self._raw_feed is None:
                missing.append(f"pipeline {pipeline.name!r} has ingress raw but no raw feed")
            if pipeline.store is not None and self._store is None:
                missing.append(f"pipeline {pipeline.name!r} stores but no time-series store")
        if missing:
            raise ConfigurationError("; ".join(missing))
