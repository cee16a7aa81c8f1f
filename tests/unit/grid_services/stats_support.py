"""Helpers of the statistics service tests: SOGNO payloads, a running service, expectations."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from osed.bus.memory import MemoryBus
from osed.domain.envelope import Envelope
from osed.grid.stats import DEFAULT_STATS, compute_stats

T0 = datetime(2023, 6, 29, 10, 0, tzinfo=UTC)
SECOND = 1_000_000_000


def measurement(
    device: str,
    at: datetime,
    readings: Iterable[tuple[str, str, str, float]],
) -> bytes:
    """A SOGNO measurement; ``readings`` are (component, measurand, phase, data)."""
    return json.dumps(
        {
            "device": device,
            "timestamp": at.isoformat(timespec="microseconds"),
            "readings": [
                {"component": c, "measurand": m, "phase": p, "data": d} for c, m, p, d in readings
            ],
        }
    ).encode()


def pmu(device: str, at: datetime, volts: float, watts: float = 1000.0) -> bytes:
    return measurement(
        device, at, [("n1", "voltmagnitude", "A", volts), ("n1", "activepower", "A", watts)]
    )


class Listener:
    """Keeps what arrives on a pattern of a memory bus."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def __call__(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)

    @property
    def documents(self) -> list[dict[str, Any]]:
        return [json.loads(e.payload) for e in self.envelopes]


async def listen(bus: MemoryBus, pattern: str) -> Listener:
    listener = Listener()
    await bus.subscribe(pattern, listener)
    return listener


def aggregates(documents: Iterable[dict[str, Any]]) -> dict[tuple[str, str, str, str], Any]:
    """{(device, window start, component/phase, measurand_stat): data} of aggregate messages."""
    out: dict[tuple[str, str, str, str], Any] = {}
    for document in documents:
        for r in document["readings"]:
            key = (
                document["device"],
                document["timestamp"],
                f"{r['component']}/{r['phase']}",
                r["measurand"],
            )
            assert key not in out, f"published twice: {key}"
            out[key] = r["data"]
    return out


_Group = tuple[str, datetime, str, str, str]  # device, window start, component, measurand, phase


def expected(
    values: Iterable[tuple[str, datetime, str, str, str, float]],
    period: timedelta,
    stats: tuple[str, ...] = DEFAULT_STATS,
) -> dict[tuple[str, str, str, str], Any]:
    """compute_stats over (device, time, component, measurand, phase, value), in the
    vocabulary of :func:`aggregates`."""
    groups: dict[_Group, list[tuple[datetime, float]]] = defaultdict(list)
    for device, at, component, measurand, phase, value in values:
        start = T0 + ((at - T0) // period) * period
        groups[(device, start, component, measurand, phase)].append((at, value))
    out: dict[tuple[str, str, str, str], Any] = {}
    for (device, start, component, measurand, phase), points in groups.items():
        v = np.array([value for _, value in sorted(points)], dtype=np.float64)
        columns = compute_stats(v, np.array([0]), np.array([v.size]), stats)
        stamp = start.isoformat(timespec="microseconds")
        where = f"{component}/{phase}"
        out[(device, stamp, where, f"{measurand}_count")] = int(v.size)
        for stat, column in columns.items():
            if not np.isnan(column[0]):
                out[(device, stamp, where, f"{measurand}_{stat}")] = float(column[0])
    return out
