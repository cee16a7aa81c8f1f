"""The state-estimation service: SOGNO measurements in, the estimated grid state out.

It subscribes to measurement topics (SOGNO messages, as the bridge publishes them), maps each
reading onto a measurement of the network (:mod:`osed.grid_services.estimation_sensors`), and
estimates the state (:class:`~osed.grid.estimation.Estimator`, one per sensor layout, rebuilt
only when the set of available sensors changes) when a *snapshot* is complete or on a
*cadence*. Each estimate is published through a reliable :class:`~osed.bus.reliable.Publisher`
— one message per node and per branch and a summary (:mod:`osed.grid_services.estimation_output`)
— written to the time-series store, and drawn into the dashboard's graph document
(``<state_dir>/<name>-graph.json``). An estimate that fails (unobservable, diverging) publishes
its summary with the error and the observability report; the service goes on.

Restarts publish no estimate twice (see docs/grid-estimation-service.md, "Guarantees"): inputs
are committed only once they can no longer change an estimate to come, every message carries
an idempotency key derived from (timestamp, component), and the instant up to which estimates
are done (the *horizon*) is saved with the consumers' positions.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import logging
import os
import tempfile
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from osed.bridge.samples import Reject
from osed.bridge.sogno import decode_message, format_timestamp
from osed.bus.reliable import Commit, Outbox, PositionStore
from osed.domain.envelope import Envelope
from osed.domain.errors import OsedError, Problem, ValidationError
from osed.domain.time import Clock
from osed.grid.estimation import (
    EstimationResult,
    Estimator,
    PseudoOptions,
    UnobservableError,
)
from osed.grid.graph import graph_document, layout, refresh_state
from osed.grid.network import BRANCHES, Network
from osed.grid_services._batching import BatchingService, from_ns, to_ns
from osed.grid_services.estimation_config import EstimationConfig, ns_of
from osed.grid_services.estimation_output import Output, StateEncoder, finite
from osed.grid_services.estimation_sensors import SensorMap
from osed.ports.bus import Bus
from osed.ports.timeseries import TimeSeriesStore

log = logging.getLogger(__name__)

#: Idempotency keys the publisher remembers (across restarts): a 1,000-node feeder publishes
#: about 2,000 messages per estimate, so this covers its last 100 estimates.
REMEMBER_KEYS = 200_000
#: Event times must lie within ±2**62 ns of the epoch (years 1824 to 2116).
MAX_ABS_NS = 2**62
#: Readings kept per sensor for snapshots (the newest; older ones are dropped).
MAX_HISTORY = 256
#: Names listed in a summary (missing sensors, dropped readings) at most.
MAX_NAMES = 50


# -- the service --------------------------------------------------------------------------------


@dataclass(slots=True)
class EstimationCounters:
    received: int = 0  # envelopes handed to the service
    readings: int = 0  # readings mapped onto a sensor
    unmapped: int = 0  # readings of no sensor (not listed, no default sigma, unknown component)
    late: int = 0  # readings too old for any estimate to come
    dead_lettered: int = 0  # inputs that are no usable measurement
    ignored: int = 0  # the service's own messages seen on an input pattern
    estimates: int = 0  # estimates attempted (successful or not)
    failed: int = 0  # of which unobservable or failing
    abandoned: int = 0  # snapshots given up, incomplete
    skipped: int = 0  # cadence instants without any fresh reading
    layouts: int = 0  # estimators built (a new sensor layout)
    published: int = 0  # messages put in the outbox
    duplicates: int = 0  # messages left out: their key was published already
    stored: int = 0  # new points in the store
    store_failures: int = 0  # batches the store refused
    graph_writes: int = 0  # graph documents written


@dataclass(slots=True)
class Estimate:
    """What one estimate gave: the summary document and, when it succeeded, the result."""

    timestamp: datetime
    summary: dict[str, Any]
    result: EstimationResult | None = None


_Entry = tuple[int, int, int]  # slot, event time ns, arrival number
_Reading = tuple[int, float, int]  # event time ns, value, arrival number


class EstimationService(BatchingService[EstimationConfig, EstimationCounters, list[_Entry]]):
    """Runs state estimation of ``config`` on ``network`` over ``bus``.

    ``outbox`` (owned by the caller) holds the published messages and, read back at start,
    their idempotency keys; ``positions`` holds the consumers' positions and the horizon. Both
    must survive a restart for the guarantees of docs/grid-estimation-service.md (SQLite in the
    runtime). ``graph_path``: where the dashboard's graph document goes (None: nowhere).
    """

    _kind = "estimation service"
    _horizon_suffix = "estimates"  # the saved horizon: a pseudo-consumer <name>.estimates
    _remember_keys = REMEMBER_KEYS
    _log = log

    def __init__(
        self,
        config: EstimationConfig,
        network: Network,
        bus: Bus,
        *,
        store: TimeSeriesStore | None = None,
        outbox: Outbox | None = None,
        positions: PositionStore | None = None,
        clock: Clock | None = None,
        graph_path: Path | None = None,
        heartbeat: float | None = 5.0,
    ) -> None:
        super().__init__(
            config,
            EstimationCounters(),
            bus,
            outbox=outbox,
            positions=positions,
            clock=clock,
            heartbeat=heartbeat,
        )
        self.network = network
        self.sensors = SensorMap(
            network,
            config.sensors,
            default_sigma=config.default_sigma,
            min_sigma=config.min_sigma,
        )
        self._store = store if config.store else None
        self._graph_path = graph_path if config.graph else None
        self._snapshot = config.trigger == "snapshot"
        self._max_age = config.max_age_ns
        self._wait = ns_of(config.wait)
        self._period = ns_of(config.period)
        self._encoder = StateEncoder(
            name=self.name,
            prefix=config.output_prefix,
            node_ids=network.ids("node"),
            branch_ids=[b for kind in BRANCHES for b in network.ids(kind)],
            store=self._store is not None,
        )
        self._pseudo = PseudoOptions(enabled=config.pseudo)
        self._graph: dict[str, Any] | None = None
        self._undrawn: Estimate | None = None
        self._drawing: asyncio.Task[None] | None = None
        self.last: Estimate | None = None
        self._reset()

    def _reset(self) -> None:
        """Forget everything in memory: what a new process would start from."""
        super()._reset()
        self._history: dict[int, list[_Reading]] = {}
        self._times: set[int] = set()  # snapshot: reading times after the horizon
        self._hints: dict[int, int] = {}  # snapshot time -> index of a listed sensor missing
        self._pruned: int | None = None  # the horizon the readings were last pruned at
        self._layouts: dict[tuple[int, ...], tuple[list[int], list[int]]] = {}
        self._newest: int | None = None  # the newest reading time seen
        self._arrivals = 0
        self._estimators: OrderedDict[tuple[int, ...], Estimator | Exception] = OrderedDict()

    # -- lifecycle

    async def start(self) -> None:
        if self._graph_path is not None and self._graph is None:
            self._graph = graph_document(self.network, layout(self.network))
        await super().start()

    async def _closed(self) -> None:
        await self._flush_graph()

    # -- input

    async def drain(self) -> None:
        """Process what is queued now (snapshots estimate as the data says)."""
        await super().drain()
        await self._flush_graph()

    async def tick(self) -> bool:
        """The timer: process what is queued; with the cadence trigger, estimate once the
        clock has reached a new multiple of the period. Returns whether it estimated."""
        async with self._lock:
            await self._process_queue()
            if self._snapshot or self._broken:
                return False
            now = to_ns(self._clock.now())
            instant = now // self._period * self._period
            if self._horizon is not None and instant <= self._horizon:
                return False
            try:
                estimated = await self._cadence(instant)
                await self._finish([])
            except BaseException:
                self._broken = True
                raise
            return estimated

    # -- processing (the lock is held)

    async def _run(self, queued: list[tuple[Envelope, Commit | None]]) -> None:
        rejects: list[Reject] = []
        for envelope, commit in queued:
            self._hold(envelope, commit, self._take(envelope, rejects))
        if self._snapshot:
            await self._snapshots()
        await self._finish(rejects)

    def _take(self, envelope: Envelope, rejects: list[Reject]) -> list[_Entry]:
        """Decode one envelope and keep its readings; the entries that may still feed an
        estimate (none when rejected, late, unmapped, or our own output)."""
        if envelope.source == self.name:
            self.counters.ignored += 1
            return []
        try:
            message = decode_message(envelope)
        except ValidationError as exc:
            rejects.append(Reject(envelope, exc.problems, "decode"))
            return []
        except Exception as exc:  # the decoder's bug must not stop the service
            problem = Problem("$", "undecodable", f"{type(exc).__name__}: {exc}")
            rejects.append(Reject(envelope, (problem,), "decode"))
            return []
        time = to_ns(message.time)
        if abs(time) >= MAX_ABS_NS:
            problem = Problem("$.timestamp", "out_of_range", "must lie between 1824 and 2116")
            rejects.append(Reject(envelope, (problem,), "decode"))
            return []
        entries: list[_Entry] = []
        for sample in message.samples:
            slot = self.sensors.slot(sample.component, sample.measurand, sample.phase)
            if slot is None:
                self.counters.unmapped += 1
                continue
            if self._late(time):
                self.counters.late += 1
                continue
            self._arrivals += 1
            reading = (time, sample.value, self._arrivals)
            self._remember(slot, reading)
            entries.append((slot, time, self._arrivals))
            self.counters.readings += 1
        return entries

    def _late(self, time: int) -> bool:
        """Whether a reading at ``time`` is too old for every estimate to come: at or before
        the last snapshot, or more than max_age before the last cadence instant."""
        if self._horizon is None:
            return False
        return time <= self._horizon - (0 if self._snapshot else self._max_age)

    def _remember(self, slot: int, reading: _Reading) -> None:
        history = self._history.setdefault(slot, [])
        time = reading[0]
        at = bisect.bisect_left(history, time, key=lambda r: r[0])
        if at < len(history) and history[at][0] == time:
            history[at] = reading  # the same sensor and instant again: the later one counts
        else:
            history.insert(at, reading)
            if len(history) > MAX_HISTORY:
                del history[0]
        if self._snapshot and self.sensors.slots[slot].listed:  # they make the snapshots
            if self._horizon is None or time > self._horizon:
                self._times.add(time)
            if self._newest is None or time > self._newest:
                self._newest = time

    def _at(self, slot: int, instant: int) -> _Reading | None:
        """The newest reading of ``slot`` at or before ``instant``, no older than max_age and
        (snapshot) newer than the last estimate: each snapshot takes a fresh round."""
        history = self._history.get(slot)
        if not history:
            return None
        at = bisect.bisect_right(history, instant, key=lambda r: r[0]) - 1
        if at < 0 or history[at][0] < instant - self._max_age:
            return None
        if self._snapshot and self._horizon is not None and history[at][0] <= self._horizon:
            return None
        return history[at]

    async def _snapshots(self) -> None:
        """Estimate every complete snapshot after the horizon, oldest first.

        With ``max_age`` 0 each timestamp is a snapshot of its own: one passed over by a later
        estimate, or left more than ``wait`` behind the newest listed reading, is given up
        with an ``incomplete`` summary naming the missing sensors. With ``max_age`` > 0 the
        timestamps are only the instants a round of readings may complete at: the ones passed
        over are dropped silently, and only a wait beyond ``wait`` gives one summary."""
        required = self.sensors.required
        passed: list[int] = []
        for instant in sorted(self._times):
            if self._horizon is not None and instant <= self._horizon:
                continue
            if not self._complete(instant, required):
                passed.append(instant)
                continue
            if self._max_age == 0:
                for earlier in passed:
                    await self._publish(self._incomplete(earlier))
            passed = []
            readings = {}
            for slot in self._history:
                found = self._at(slot, instant)
                if found is not None:
                    readings[slot] = found[1]
            await self._publish(self._estimate(instant, readings))
            self._advance(instant)
        if self._newest is not None:
            given_up = [t for t in passed if t <= self._newest - self._wait]
            for instant in given_up if self._max_age == 0 else given_up[-1:]:
                await self._publish(self._incomplete(instant))
            if given_up:
                self._advance(given_up[-1])
        self._prune()

    def _complete(self, instant: int, required: tuple[int, ...]) -> bool:
        """Whether every listed sensor has a reading for ``instant``. The first one missing is
        remembered and looked at first next time, so a snapshot filling up over many batches
        costs one pass over the sensors in all, not one per batch."""
        start = self._hints.get(instant, 0)
        if start < len(required) and self._at(required[start], instant) is None:
            return False
        for position in range(len(required)):
            index = (start + position) % len(required)
            if self._at(required[index], instant) is None:
                self._hints[instant] = index
                return False
        return True

    def _incomplete(self, instant: int) -> Estimate:
        missing = [s for s in self.sensors.required if self._at(s, instant) is None]
        self.counters.abandoned += 1
        at = from_ns(instant)
        summary = self._summary_head(at, "incomplete")
        summary["missing"] = [self.sensors.name(s) for s in missing[:MAX_NAMES]]
        summary["missing_count"] = len(missing)
        return Estimate(at, summary)

    async def _cadence(self, instant: int) -> bool:
        """Estimate at ``instant`` with the newest reading of each sensor at or before it, no
        older than max_age (later readings wait for the next instant: the estimate depends on
        the data, not on when the timer ran)."""
        readings = {}
        for slot in self._history:
            found = self._at(slot, instant)
            if found is not None:
                readings[slot] = found[1]
        self._advance(instant)
        if not readings:
            self.counters.skipped += 1
            self._prune()
            return False
        await self._publish(self._estimate(instant, readings))
        self._prune()
        return True

    def _advance(self, instant: int) -> None:
        if self._horizon is None or instant > self._horizon:
            self._horizon = instant

    def _prune(self) -> None:
        """Forget the readings no estimate to come can use."""
        if self._horizon is None or self._horizon == self._pruned:
            return
        horizon = self._pruned = self._horizon
        self._times = {t for t in self._times if t > horizon}
        self._hints = {t: i for t, i in self._hints.items() if t > horizon}
        oldest = horizon - self._max_age
        for slot, history in list(self._history.items()):
            keep = bisect.bisect_right(history, oldest, key=lambda r: r[0])
            if keep == len(history):
                del self._history[slot]
            elif keep:
                del history[:keep]

    # -- estimating

    def _estimate(self, instant: int, readings: Mapping[int, float]) -> Estimate:
        at = from_ns(instant)
        self.counters.estimates += 1
        slots = tuple(sorted(readings))
        layout = self._layouts.get(slots)
        if layout is None:
            if len(self._layouts) >= 4 * self.config.max_layouts:
                self._layouts.clear()
            layout = self._layouts[slots] = self.sensors.complete(slots)
        kept, dropped = layout
        summary = self._summary_head(at, "ok")
        summary["readings"] = len(kept)
        summary["incomplete"] = [self.sensors.name(s) for s in dropped[:MAX_NAMES]]
        summary["incomplete_count"] = len(dropped)
        layout_key = tuple(kept)
        estimator = self._estimators.get(layout_key)
        built = estimator is None
        if estimator is None:
            measurements = [self.sensors.measurement(s, readings[s]) for s in kept]
            try:
                if not measurements:
                    raise ValueError("no complete sensor among the readings")
                estimator = Estimator(
                    self.network,
                    measurements,
                    symmetric=self.config.symmetric,
                    method=self.config.method,
                    bad_data=self.config.bad_data,
                    pseudo=self._pseudo,
                )
            except Exception as exc:  # unobservable, or nothing the engine can take
                estimator = exc
            self.counters.layouts += 1
            self._estimators[layout_key] = estimator
            while len(self._estimators) > self.config.max_layouts:
                self._estimators.popitem(last=False)
        else:
            self._estimators.move_to_end(layout_key)
        summary["layout"] = {"sensors": len(kept), "built": built}
        try:
            if isinstance(estimator, Exception):
                raise estimator
            if built:
                result = estimator.run()
            else:
                result = estimator.run(np.array([readings[s] for s in kept], dtype=np.float64))
        except UnobservableError as exc:
            self.counters.failed += 1
            summary |= {
                "status": "unobservable",
                "error": str(exc),
                "observability": exc.report.to_dict(),
            }
            return Estimate(at, summary)
        except Exception as exc:
            self.counters.failed += 1
            log.warning("estimation service %s: estimate at %s failed: %s", self.name, at, exc)
            summary |= {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
            return Estimate(at, summary)
        labels = self._labels(kept) if result.removed else {}
        summary |= {
            "method": result.method,
            "symmetric": result.state.symmetric,
            "objective": finite(result.objective),
            "degrees_of_freedom": result.degrees_of_freedom,
            "chi2_threshold": finite(result.chi2_threshold),
            "chi2_passed": result.chi2_passed,
            "bad_data_removed": [
                {
                    "measurements": removal.measurements,
                    "readings": [r for m in removal.measurements for r in labels.get(m, [])],
                    "normalised_residual": finite(removal.normalised_residual),
                    "residual": finite(removal.residual),
                    "iteration": removal.iteration,
                }
                for removal in result.removed
            ],
            "suspects": result.suspects,
            "largest_normalised": result.largest,
            "pseudo_measurements": len(result.pseudo),
            "observability": {
                "observable": result.observability.observable,
                "islands": len(result.observability.islands),
                "messages": result.observability.messages,
            },
        }
        return Estimate(at, summary, result)

    def _labels(self, slots: list[int]) -> dict[str, list[str]]:
        """The engine's measurement label (``voltmagnitude[ABC] n7``) -> readings named so."""
        labels: dict[str, list[str]] = {}
        for slot in slots:
            label = self.sensors.slots[slot].template.label()
            labels.setdefault(label, []).append(self.sensors.name(slot))
        return labels

    def _summary_head(self, at: datetime, status: str) -> dict[str, Any]:
        return {
            "timestamp": format_timestamp(at),
            "network": self.network.name,
            "status": status,
            "trigger": self.config.trigger,
        }

    async def _publish(self, estimate: Estimate) -> None:
        """Store, publish (nodes, branches, then the summary, in one batch) and draw."""
        assert self._publisher is not None
        instant = to_ns(estimate.timestamp)
        outputs: list[Output] = []
        if estimate.result is not None:
            stamp = estimate.summary["timestamp"]
            outputs = self._encoder.state(estimate.result.state, estimate.timestamp, stamp, instant)
            if self._store is not None:
                points = [p for o in outputs for p in o.points]
                try:
                    self.counters.stored += self._store.write(points)
                except OsedError as exc:
                    self.counters.store_failures += 1
                    estimate.summary["store_error"] = str(exc).splitlines()[0]
                    log.error("estimation service %s could not store: %s", self.name, exc)
        outputs.append(self._encoder.summary(estimate.summary, instant))
        sent = await self._publisher.publish_many(
            [(o.topic, o.payload) for o in outputs],
            keys=[o.key for o in outputs],
            event_time=estimate.timestamp,
            wait_for_broker=False,
        )
        self.counters.published += len(sent)
        self.counters.duplicates += len(outputs) - len(sent)
        self.last = estimate
        if estimate.result is not None:
            self._draw(estimate)

    def _draw(self, estimate: Estimate) -> None:
        """Have the graph document drawn with this estimate's state, once the messages are on
        their way: the write runs as its own task, and estimates that come faster than it are
        drawn only as the newest of them."""
        if self._graph is None or self._graph_path is None or estimate.result is None:
            return
        self._undrawn = estimate
        if self._drawing is None:
            self._drawing = asyncio.get_running_loop().create_task(self._draw_soon())

    async def _draw_soon(self) -> None:
        try:
            await asyncio.sleep(0)
        finally:
            self._drawing = None
            self._write_graph()

    def _write_graph(self) -> None:
        estimate, self._undrawn = self._undrawn, None
        if estimate is None or estimate.result is None:
            return
        assert self._graph is not None
        assert self._graph_path is not None
        refresh_state(self._graph, self.network, estimate.result.state)
        self._graph["timestamp"] = estimate.summary["timestamp"]
        try:
            write_json_atomically(self._graph_path, self._graph)
            self.counters.graph_writes += 1
        except OSError as exc:
            log.error("estimation service %s could not write the graph: %s", self.name, exc)

    async def _flush_graph(self) -> None:
        if self._drawing is not None:
            self._drawing.cancel()  # the task writes what is pending as it ends
            with contextlib.suppress(asyncio.CancelledError):
                await self._drawing
        self._write_graph()

    @property
    def graph(self) -> dict[str, Any] | None:
        """The dashboard's graph document with the latest state (None when off)."""
        return self._graph

    async def _finish(self, rejects: list[Reject]) -> None:
        """Dead-letter the rejects, save the horizon, commit every input that is done."""
        assert self._publisher is not None
        if rejects:
            messages, keys = self._dead_letters(rejects)
            sent = await self._publisher.publish_many(messages, keys=keys, wait_for_broker=False)
            self.counters.dead_lettered += len(sent)
        await self._settle()

    def _done(self, entries: list[_Entry]) -> bool:
        """Whether no estimate to come can use these readings: too old for the horizon, or
        (cadence) no longer their sensor's newest."""
        horizon = self._horizon
        if horizon is None:
            return not entries
        for slot, time, _ in entries:
            if self._late(time):
                continue  # too old for any instant after the horizon
            history = self._history.get(slot)
            if not history or time < history[0][0]:
                continue  # forgotten
            at = bisect.bisect_right(history, horizon, key=lambda r: r[0]) - 1
            if at >= 0 and history[at][0] > time:
                continue  # a newer reading at or before the horizon wins for every later instant
            return False
        return True


def write_json_atomically(path: Path, document: Mapping[str, Any]) -> None:
    """Write ``document`` to ``path`` through a temporary file in the same folder and a
    rename, so a reader sees the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        text = json.dumps(document, separators=(",", ":"), allow_nan=False)  # C encoder: fast
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
