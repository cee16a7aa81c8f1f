"""The EDC manager following the state estimation on the bus: each estimate the service
publishes (node and branch messages, then a summary with ``status: ok``; docs/
grid-estimation-service.md) is gathered as the grid intelligence gathers it and given to every
EDC, cut to what lies at and below its element (docs/edge.md, "Grid state")."""

from __future__ import annotations

import logging
from datetime import datetime

from osed.domain.envelope import Envelope
from osed.edge.grid_state import Estimate
from osed.edge.intelligence_areas import AreaMap
from osed.edge.intelligence_inputs import EstimateGatherer
from osed.edge.manager import EdcManager
from osed.ports.bus import Bus, Subscription

log = logging.getLogger("osed.edge")


class EstimateFollower:
    def __init__(self, bus: Bus, manager: EdcManager, areas: AreaMap, prefix: str) -> None:
        """``prefix``: the estimation service's ``output_prefix``; ``areas``: the network
        model the estimates are of (ratings and rated voltages)."""
        self._bus = bus
        self._manager = manager
        self._gatherer = EstimateGatherer(areas)
        self._prefix = prefix
        self._subscription: Subscription | None = None
        self.estimates = 0  # estimates given to the EDCs, for status and tests
        self.skipped = 0  # summaries without a usable estimate (failed, incomplete, unreadable)

    async def start(self) -> None:
        self._subscription = await self._bus.subscribe(f"{self._prefix}/#", self._on_message)
        log.info("EDC manager follows the estimates under %s/", self._prefix)

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.close()
            self._subscription = None

    def resources(self) -> dict[str, int]:
        return {"subscriptions": int(self._subscription is not None)}

    async def _on_message(self, envelope: Envelope) -> None:
        rest = envelope.topic.removeprefix(self._prefix + "/")
        summary = self._gatherer.take(rest, envelope.payload)
        if summary is None:
            return
        stamp, observed, status = summary
        at = _time(stamp)
        if observed is None or at is None:
            self.skipped += 1
            reason = status if observed is None else "its timestamp has no readable time zone"
            log.info("estimate %s not given to the EDCs: %s", stamp or "?", reason)
            return
        fed = self._manager.feed_estimate(Estimate.of(at, observed))
        self.estimates += 1
        log.debug("estimate %s given to %d EDCs", stamp, fed)


def _time(stamp: str) -> datetime | None:
    try:
        at = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return at if at.tzinfo is not None else None
