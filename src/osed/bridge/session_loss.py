"""Raw messages a field broker may have lost, reported like any other gap.

Each raw subscription is a persistent session, so the broker keeps what arrives while the
bridge reconnects or restarts. A broker that restarts without having saved that session
cannot keep the promise, and no seq reveals the loss: raw messages are numbered only once they
arrive. The feed reports the time window instead, and this turns it into a gap report with
``reason: "session_lost"`` and ``lostFrom``/``lostUntil``: saved with the bridge's positions
first (what ``osed bus gaps`` prints; a record that survives a crash of the bridge), then
published on ``_osed/gaps/<consumer>`` in the background, so a bus that is reconnecting as
well does not hold up the raw feed.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from osed.bridge.ingress import raw_source
from osed.bridge.republish import SessionLostHandler
from osed.bus.reliable import GapReport, PositionStore, gap_envelope
from osed.domain.errors import OsedError
from osed.domain.time import Clock
from osed.ports.bus import Bus

log = logging.getLogger(__name__)

SESSION_LOST = "session_lost"


class SessionLossReporter:
    def __init__(self, bus: Bus, positions: PositionStore, clock: Clock) -> None:
        self._bus = bus
        self._positions = positions
        self._clock = clock
        self._publishing: set[asyncio.Task[None]] = set()

    def handler(self, consumer: str, pattern: str) -> SessionLostHandler:
        """What the raw subscription ``consumer`` to ``pattern`` calls on a lost session."""

        async def report(since: datetime, until: datetime) -> None:
            self.report(consumer, pattern, since, until)

        return report

    def report(self, consumer: str, pattern: str, since: datetime, until: datetime) -> GapReport:
        gap = GapReport(
            consumer,
            pattern,
            raw_source(pattern),
            None,
            None,
            SESSION_LOST,
            self._clock.now(),
            lost_from=since,
            lost_until=until,
        )
        self._positions.record([gap])
        task = asyncio.create_task(self._publish(gap), name=f"gap-report:{consumer}")
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)
        return gap

    async def close(self) -> None:
        """Wait for the reports still being published (each bounded by the bus's timeout)."""
        if self._publishing:
            await asyncio.gather(*self._publishing)

    async def _publish(self, gap: GapReport) -> None:
        try:
            await self._bus.publish(gap_envelope(gap))
        except OsedError as exc:  # saved all the same
            log.warning("could not publish the gap report of %s: %s", gap.consumer, exc)
