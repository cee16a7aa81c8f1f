"""The statistics service: windowed basicstats of SOGNO measurements, published and stored.

It subscribes to measurement topics (SOGNO messages, as the bridge publishes them), feeds every
reading into :class:`~osed.grid.stats.WindowedStats` per series (device, component, measurand,
phase), and for each closed window publishes one message per device through a reliable
:class:`~osed.bus.reliable.Publisher` and writes one point per aggregate to the time-series
store. The reporting period is configured; the measuring resolution is whatever arrives.

Windows close when later data moves the watermark past them, and on a timer (injected
:class:`~osed.domain.time.Clock`) once the input has been idle for ``idle`` and the clock has
passed the last open window, so a source that falls quiet still gets its last window out.

Restarts publish no window twice and lose none (see docs/grid-stats.md, "Guarantee"): inputs
are committed to the consumers' positions only once every window they fed is published and
stored, each aggregate message carries an idempotency key derived from (device, window), and
the end of the windows already closed (the *horizon*) is saved with the positions, so a
replayed value of a published window counts as late instead of opening that window again.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from string import Formatter

import numpy as np

from osed.bridge.dead_letter import dead_letter_topic, encode_dead_letter
from osed.bridge.samples import Message, Reject
from osed.bridge.sogno import decode_message, format_timestamp
from osed.bus.reliable import Commit, Outbox, PositionStore
from osed.domain.envelope import Envelope
from osed.domain.errors import OsedError, Problem, ValidationError
from osed.domain.time import Clock
from osed.grid.stats import DEFAULT_STATS, STATS, WindowedStats, WindowStats
from osed.grid_services._batching import BatchingService, from_ns, to_ns
from osed.ports.bus import Bus
from osed.ports.timeseries import TimeSeriesPoint, TimeSeriesStore

log = logging.getLogger(__name__)

#: Stat names a configuration may select (``count`` is always produced).
FIELD_NAMES: tuple[str, ...] = ("count", *STATS)
#: Idempotency keys of aggregate messages the publisher remembers (across restarts).
REMEMBER_KEYS = 100_000
#: Event times must lie within ±2**62 ns of the epoch (years 1824 to 2116).
MAX_ABS_NS = 2**62
_US = timedelta(microseconds=1)
_SERIES_FIELDS = frozenset({"device", "component", "measurand", "phase"})


# -- configuration ------------------------------------------------------------------------------


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` is no MQTT-style subscription pattern, or None."""
    levels = pattern.split("/")
    if (
        not pattern
        or "\x00" in pattern
        or any(("+" in lv and lv != "+") or ("#" in lv and lv != "#") for lv in levels)
        or "#" in levels[:-1]
    ):
        return f"not a topic pattern: {pattern!r}"
    return None


def topic_template_problem(template: str) -> str | None:
    """Why ``template`` (which may use ``{device}``) makes no publish topic, or None."""
    problem = _template_problem(template, frozenset({"device"}))
    if problem is not None:
        return problem
    topic = template.format(device="device")
    if not topic or any(c in topic for c in "+#\x00"):
        return f"not a publish topic: {template!r}"
    return None


def series_template_problem(template: str) -> str | None:
    """Why ``template`` (``{device}``, ``{component}``, ``{measurand}``, ``{phase}``) makes no
    series id, or None."""
    problem = _template_problem(template, _SERIES_FIELDS)
    if problem is not None:
        return problem
    if not template.format(device="d", component="c", measurand="m", phase="p").isprintable():
        return f"series ids must be printable: {template!r}"
    return None


def field_problem(name: str) -> str | None:
    if name not in FIELD_NAMES:
        return f"unknown stat {name!r}; choose from {', '.join(FIELD_NAMES)}"
    return None


def _template_problem(template: str, allowed: frozenset[str]) -> str | None:
    try:
        names = {name for _, name, _, _ in Formatter().parse(template) if name is not None}
    except ValueError as exc:
        return f"bad template {template!r}: {exc}"
    unknown = sorted(names - allowed)
    if unknown:
        return f"unknown placeholders {unknown} in {template!r}; use {sorted(allowed)}"
    return None


@dataclass(frozen=True, slots=True)
class StatsConfig:
    """What the statistics service aggregates and where the aggregates go.

    ``inputs``: topic patterns of SOGNO measurements (they should not overlap: a message
    matching two is counted twice). ``period``: the reporting resolution, whole microseconds.
    ``lateness``: how long after its end a window waits for stragglers. ``idle``: how long the
    input must be silent before the timer closes the open windows (default: one period).
    ``output_topic``: where each device's aggregates go (``{device}``). ``fields``: the stats
    (``count`` always). ``series``: the store's series id of each aggregate (``{measurand}`` is
    ``<measurand>_<stat>``), or None not to store. ``name``: the publishing source, and the
    prefix of the consumer names (``<name>.<index of the input>``).
    """

    inputs: tuple[str, ...]
    period: timedelta = timedelta(minutes=1)
    lateness: timedelta = timedelta(0)
    idle: timedelta | None = None
    output_topic: str = "bal/stats/{device}"
    fields: tuple[str, ...] = DEFAULT_STATS
    series: str | None = "{device}/{component}/{measurand}/{phase}"
    name: str = "stats"
    dead_letter_prefix: str = "dead-letter"
    max_values: int = 10_000
    max_delay_s: float = 0.05
    tick_s: float = 1.0

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValidationError(problems, subject="stats config")

    def problems(self) -> list[Problem]:
        found: list[Problem] = []

        def bad(path: str, code: str, message: str | None) -> None:
            if message is not None:
                found.append(Problem(path, code, message))

        if not self.inputs:
            bad("$.inputs", "empty", "needs at least one topic pattern")
        for index, pattern in enumerate(self.inputs):
            bad(f"$.inputs[{index}]", "bad_pattern", pattern_problem(pattern))
        if self.period <= timedelta(0) or self.period % _US:
            bad("$.period_s", "bad_period", "must be a positive whole number of microseconds")
        elif self.period > timedelta(days=366):
            bad("$.period_s", "out_of_range", "must be at most 366 days")
        if self.lateness < timedelta(0) or self.lateness % _US:
            bad("$.lateness_s", "bad_lateness", "must be a whole number of microseconds >= 0")
        elif self.lateness > timedelta(days=366):
            bad("$.lateness_s", "out_of_range", "must be at most 366 days")
        if self.idle is not None and self.idle <= timedelta(0):
            bad("$.idle_s", "bad_idle", "must be positive")
        bad("$.output_topic", "bad_topic", topic_template_problem(self.output_topic))
        for index, name in enumerate(self.fields):
            bad(f"$.fields[{index}]", "unknown_stat", field_problem(name))
        if self.series is not None:
            bad("$.series", "bad_series", series_template_problem(self.series))
        if not self.name or any(c in self.name for c in "/+#\x00") or not self.name.isprintable():
            bad("$.name", "bad_name", f"not a topic level: {self.name!r}")
        if not self.dead_letter_prefix or any(c in self.dead_letter_prefix for c in "+#\x00"):
            bad("$.dead_letter_prefix", "bad_topic", "not a topic prefix")
        if self.max_values < 1:
            bad("$.max_values", "out_of_range", "must be at least 1")
        if not (self.max_delay_s > 0 and self.tick_s > 0):
            bad("$.tick_s", "out_of_range", "delays must be positive")
        return found

    @property
    def period_ns(self) -> int:
        return self.period // _US * 1000

    @property
    def lateness_ns(self) -> int:
        return self.lateness // _US * 1000

    @property
    def idle_after(self) -> timedelta:
        return self.idle if self.idle is not None else self.period


# -- the service --------------------------------------------------------------------------------


@dataclass(slots=True)
class StatsCounters:
    received: int = 0  # envelopes handed to the service
    values: int = 0  # readings aggregated into a window
    late: int = 0  # readings for a window already closed (or, after a restart, published)
    dead_lettered: int = 0  # inputs that are no usable measurement, windows the store refused
    ignored: int = 0  # the service's own messages seen on an input pattern
    windows: int = 0  # (series, window) aggregates closed
    published: int = 0  # aggregate messages put in the outbox
    duplicates: int = 0  # aggregate messages left out: their key was published already
    stored: int = 0  # new points in the store
    timer_closes: int = 0  # times the timer closed the open windows


@dataclass(frozen=True, slots=True)
class _Series:
    device: str
    component: str
    measurand: str
    phase: str
    unit: str
    # Per output stat (count first): (stat, measurand of the aggregate, series id or None, unit)
    fields: tuple[tuple[str, str, str | None, str], ...]


@dataclass(slots=True)
class _Output:
    """One aggregate message: a device's readings of one window."""

    topic: str
    key: str
    payload: bytes
    start: datetime
    points: list[TimeSeriesPoint] = field(default_factory=list)


class StatsService(BatchingService[StatsConfig, StatsCounters, int | None]):
    """Runs the aggregation of ``config`` on ``bus``.

    ``outbox`` (owned by the caller) holds the aggregate messages and, read back at start,
    their idempotency keys; ``positions`` holds the consumers' positions and the horizon. Both
    must survive a restart for the guarantee of docs/grid-stats.md (SQLite in the runtime).
    """

    _kind = "stats service"
    _horizon_suffix = "windows"  # the saved horizon: a pseudo-consumer <name>.windows
    _remember_keys = REMEMBER_KEYS
    _log = log

    def __init__(
        self,
        config: StatsConfig,
        bus: Bus,
        *,
        store: TimeSeriesStore | None = None,
        outbox: Outbox | None = None,
        positions: PositionStore | None = None,
        clock: Clock | None = None,
        heartbeat: float | None = 5.0,
    ) -> None:
        super().__init__(
            config,
            StatsCounters(),
            bus,
            outbox=outbox,
            positions=positions,
            clock=clock,
            heartbeat=heartbeat,
        )
        self._store = store if config.series is not None else None
        self._period = config.period_ns
        self._lateness = config.lateness_ns
        self._stats = tuple(s for s in STATS if s in config.fields)
        self._reset()

    def _reset(self) -> None:
        """Forget everything in memory: what a new process would start from."""
        super()._reset()
        self._engine = WindowedStats(self._period, lateness=self._lateness, stats=self._stats)
        self._series_ids: dict[tuple[str, str, str, str], int] = {}
        self._series: list[_Series] = []
        self._topics: dict[str, str | None] = {}
        self._last_input: datetime | None = None

    @property
    def pending(self) -> int:
        """Readings buffered in open windows."""
        return self._engine.pending

    # -- input

    async def accept(self, envelope: Envelope, commit: Commit | None = None) -> None:
        """Queue ``envelope``; a full batch is processed before this returns. ``commit`` hears
        ``{source: seq}`` once every window the envelope fed is published and stored."""
        self._last_input = self._clock.now()
        await super().accept(envelope, commit)

    async def tick(self) -> bool:
        """The timer: process what is queued; then, if the input has been idle for ``idle``
        and the clock has passed the end (plus lateness) of the newest open window, close every
        open window. Returns whether it closed any."""
        async with self._lock:
            await self._process_queue()
            watermark = self._engine.watermark
            if self._engine.pending == 0 or watermark is None or self._broken:
                return False
            now = self._clock.now()
            if self._last_input is not None and now - self._last_input < self.config.idle_after:
                return False
            newest_end = (watermark // self._period + 1) * self._period
            if to_ns(now) < newest_end + self._lateness:
                return False
            try:
                with np.errstate(over="ignore", invalid="ignore"):
                    closed = self._engine.flush()
                self._advance_horizon(newest_end)
                self.counters.timer_closes += 1
                await self._finish(closed, [])
            except BaseException:
                self._broken = True
                raise
            return True

    # -- processing (the lock is held)

    async def _run(self, queued: list[tuple[Envelope, Commit | None]]) -> None:
        series: list[int] = []
        times: list[int] = []
        values: list[float] = []
        rejects: list[Reject] = []
        for envelope, commit in queued:
            window_end = self._take(envelope, series, times, values, rejects)
            self._hold(envelope, commit, window_end)
        closed = None
        if series:
            with np.errstate(over="ignore", invalid="ignore"):  # beyond float: left out
                closed = self._engine.feed(
                    np.asarray(series, dtype=np.int64),
                    np.asarray(times, dtype=np.int64),
                    np.asarray(values, dtype=np.float64),
                )
            self.counters.late += closed.late  # none: the horizon check is at least as strict
            watermark = self._engine.watermark
            assert watermark is not None
            self._advance_horizon((watermark - self._lateness) // self._period * self._period)
        await self._finish(closed, rejects)

    def _take(
        self,
        envelope: Envelope,
        series: list[int],
        times: list[int],
        values: list[float],
        rejects: list[Reject],
    ) -> int | None:
        """Decode one envelope into the batch; the end of the window it feeds, or None when it
        feeds none (rejected, late, or our own output)."""
        if envelope.source == self.name:
            self.counters.ignored += 1
            return None
        try:
            message = decode_message(envelope)
        except ValidationError as exc:
            rejects.append(Reject(envelope, exc.problems, "decode"))
            return None
        except Exception as exc:  # the decoder's bug must not stop the service
            problem = Problem("$", "undecodable", f"{type(exc).__name__}: {exc}")
            rejects.append(Reject(envelope, (problem,), "decode"))
            return None
        problems = self._problems(message)
        if problems:
            rejects.append(Reject(envelope, tuple(problems), "decode"))
            return None
        time = to_ns(message.time)
        window_end = (time // self._period + 1) * self._period
        if self._horizon is not None and window_end <= self._horizon:
            self.counters.late += len(message.samples)
            return None
        for sample in message.samples:
            key = (sample.device, sample.component, sample.measurand, sample.phase)
            sid = self._series_ids.get(key)
            if sid is None:
                sid = self._series_ids[key] = len(self._series)
                self._series.append(self._new_series(*key, sample.unit))
            series.append(sid)
            times.append(time)
            values.append(sample.value)
        self.counters.values += len(message.samples)
        return window_end

    def _new_series(
        self, device: str, component: str, measurand: str, phase: str, unit: str
    ) -> _Series:
        fields = []
        for stat in ("count", *self._stats):
            name = f"{measurand}_{stat}"
            series_id = None
            if self._store is not None:
                assert self.config.series is not None
                series_id = self.config.series.format(
                    device=device, component=component, measurand=name, phase=phase
                )
            fields.append((stat, name, series_id, stat_unit(unit, stat)))
        return _Series(device, component, measurand, phase, unit, tuple(fields))

    def _problems(self, message: Message) -> list[Problem]:
        problems = []
        if abs(to_ns(message.time)) >= MAX_ABS_NS:
            problems.append(
                Problem("$.timestamp", "out_of_range", "must lie between the years 1824 and 2116")
            )
        if self._topic(message.device) is None:
            problems.append(
                Problem("$.device", "bad_topic", f"{message.device!r} makes no publish topic")
            )
        return problems

    def _topic(self, device: str) -> str | None:
        if device not in self._topics:
            topic: str | None = self.config.output_topic.format(device=device)
            if not topic or any(c in topic for c in "+#\x00"):
                topic = None
            if len(self._topics) >= REMEMBER_KEYS:
                self._topics.clear()
            self._topics[device] = topic
        return self._topics[device]

    def _advance_horizon(self, end: int) -> None:
        if self._horizon is None or end > self._horizon:
            self._horizon = end

    async def _finish(self, closed: WindowStats | None, rejects: list[Reject]) -> None:
        """Store and publish the closed windows and the dead letters, save the horizon, and
        commit every input whose windows are all out."""
        assert self._publisher is not None
        outputs = self._outputs(closed) if closed is not None and len(closed) else []
        refused = self._write(outputs) if outputs else {}
        messages: list[tuple[str, bytes]] = []
        keys: list[str] = []
        for output in outputs:
            messages.append((output.topic, output.payload))
            keys.append(output.key)
        letters, letter_keys = self._dead_letters(rejects)
        messages += letters
        keys += letter_keys
        for output in outputs:
            problems = refused.get(output.key)
            if problems is not None:
                letter = Envelope(
                    output.topic, self.name, 1, output.payload, output.start, key=output.key
                )
                messages.append(
                    (
                        dead_letter_topic(self.config.dead_letter_prefix, output.topic),
                        encode_dead_letter(Reject(letter, problems, "store"), self.name),
                    )
                )
                keys.append(f"{output.key}/dead-letter")
        if messages:
            sent = await self._publisher.publish_many(messages, keys=keys, wait_for_broker=False)
            windows = sum(1 for e in sent if not e.key.endswith("/dead-letter"))
            self.counters.published += windows
            self.counters.duplicates += len(outputs) - windows
            self.counters.dead_lettered += len(sent) - windows
        await self._settle()

    def _outputs(self, closed: WindowStats) -> list[_Output]:
        """One message per (window, device), readings sorted by component, measurand, phase."""
        self.counters.windows += len(closed)
        sids = closed.series.tolist()
        starts = closed.start.tolist()
        counts = closed.count.tolist()
        columns = {stat: closed.stats[stat].tolist() for stat in self._stats}
        groups: dict[tuple[int, str], list[int]] = {}
        for row, sid in enumerate(sids):
            groups.setdefault((starts[row], self._series[sid].device), []).append(row)
        outputs = []
        for (start_ns, device), rows in sorted(groups.items()):
            rows.sort(key=lambda r: _order(self._series[sids[r]]))
            start, end = from_ns(start_ns), from_ns(start_ns + self._period)
            topic = self._topic(device)
            assert topic is not None  # checked when the input was taken
            output = _Output(topic, f"{self.name}:{device}:{start_ns}:{self._period}", b"", start)
            readings = []
            for row in rows:
                series = self._series[sids[row]]
                for stat, measurand, series_id, unit in series.fields:
                    value: float | int
                    if stat == "count":
                        value = counts[row]
                    else:
                        value = columns[stat][row]
                        if not math.isfinite(value):  # NaN: not emitted; inf: beyond float
                            continue
                    readings.append(
                        {
                            "component": series.component,
                            "measurand": measurand,
                            "phase": series.phase,
                            "data": value,
                        }
                    )
                    if series_id is not None:
                        output.points.append(
                            TimeSeriesPoint(series_id, start, float(value), unit, end, self.name)
                        )
            document = {
                "device": device,
                "timestamp": format_timestamp(start),
                "end": format_timestamp(end),
                "readings": readings,
            }
            output.payload = json.dumps(document, separators=(",", ":"), allow_nan=False).encode()
            outputs.append(output)
        return outputs

    def _write(self, outputs: list[_Output]) -> dict[str, tuple[Problem, ...]]:
        """Store every output's points; the keys of the outputs the store refused, with why.
        A batch the store refuses is retried message by message."""
        if self._store is None:
            return {}
        try:
            self.counters.stored += self._store.write([p for o in outputs for p in o.points])
            return {}
        except ValidationError:
            pass  # find the culprits one by one below
        except OsedError as exc:
            log.error("stats service %s could not store a batch: %s", self.name, exc)
        refused: dict[str, tuple[Problem, ...]] = {}
        for output in outputs:
            try:
                self.counters.stored += self._store.write(output.points)
            except ValidationError as exc:
                refused[output.key] = exc.problems
            except OsedError as exc:
                refused[output.key] = (Problem("$", "store_failed", str(exc)),)
        return refused

    def _done(self, held: int | None) -> bool:
        """Whether the window an input fed (None: none) is closed, so it may be committed."""
        return held is None or (self._horizon is not None and held <= self._horizon)


def stat_unit(unit: str, stat: str) -> str:
    """The unit of an aggregate: ``1`` for a count, the square for ``s2``, else the unit."""
    if stat == "count":
        return "1"
    if stat == "s2":
        return f"{unit}^2"
    return unit


def _order(series: _Series) -> tuple[str, str, str]:
    return (series.component, series.measurand, series.phase)
