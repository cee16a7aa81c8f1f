"""Processed samples into the time-series store: batched and idempotent.

Each sample becomes one point whose key is deterministic: series from the configured
template, the sample's own time as event time *and* belief time, and the envelope's source.
A replayed or redelivered message therefore writes nothing new.
"""

from __future__ import annotations

from collections.abc import Sequence

from osed.bridge.samples import Message, Reject
from osed.domain.errors import OsedError, Problem, ValidationError
from osed.ports.timeseries import TimeSeriesPoint, TimeSeriesStore

MAX_REMEMBERED_SERIES = 100_000


class TimeSeriesSink:
    """Writes the samples of processed messages: those of one :meth:`write` in one
    transaction, or (``max_points``) at most that many points per transaction."""

    def __init__(
        self, store: TimeSeriesStore, series: str, *, max_points: int | None = None
    ) -> None:
        self._store = store
        self._series = series
        self._max_points = max_points
        self._names: dict[tuple[str, str, str, str, str], str] = {}
        self.written = 0

    def points(self, message: Message) -> list[TimeSeriesPoint]:
        source = message.envelope.source
        names = self._names
        points = []
        for s in message.samples:
            key = (s.device, s.component, s.measurand, s.phase, source)
            series_id = names.get(key)
            if series_id is None:
                series_id = self._series_id(*key)
            points.append(TimeSeriesPoint(series_id, s.time, s.value, s.unit, s.time, source))
        return points

    def _series_id(
        self, device: str, component: str, measurand: str, phase: str, source: str
    ) -> str:
        # A feed names the same few series over and over; formatting each time costs more.
        key = (device, component, measurand, phase, source)
        series_id = self._names.get(key)
        if series_id is None:
            series_id = self._series.format(
                device=device, component=component, measurand=measurand, phase=phase, source=source
            )
            if len(self._names) >= MAX_REMEMBERED_SERIES:
                self._names.clear()
            self._names[key] = series_id
        return series_id

    def write(self, messages: Sequence[Message]) -> list[Reject]:
        """Store every sample; a chunk the store refuses is retried message by message, and
        the messages it still refuses come back as rejects (the others are stored)."""
        if self._max_points is None:
            return self._write_chunk(list(messages)) if messages else []
        rejects: list[Reject] = []
        chunk: list[Message] = []
        size = 0
        for message in messages:
            chunk.append(message)
            size += len(message.samples)
            if size >= self._max_points:
                rejects += self._write_chunk(chunk)
                chunk, size = [], 0
        if chunk:
            rejects += self._write_chunk(chunk)
        return rejects

    def _write_chunk(self, messages: list[Message]) -> list[Reject]:
        try:
            self.written += self._store.write([p for m in messages for p in self.points(m)])
            return []
        except ValidationError:
            pass  # find the culprits one by one below
        rejects = []
        for message in messages:
            try:
                self.written += self._store.write(self.points(message))
            except ValidationError as exc:
                rejects.append(Reject(message.envelope, exc.problems, "store"))
            except OsedError as exc:
                problem = Problem("$", "store_failed", str(exc))
                rejects.append(Reject(message.envelope, (problem,), "store"))
        return rejects
