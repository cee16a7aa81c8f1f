"""The latest estimated grid state, followed on the bus: the state estimation's node and branch
messages gathered per estimate as the grid intelligence gathers them, kept once the
estimate's summary arrives (docs/grid-estimation-service.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from osed.domain.envelope import Envelope
from osed.edge.intelligence_areas import AreaMap
from osed.edge.intelligence_inputs import EstimateGatherer, Observed
from osed.ports.bus import Bus, Subscription


@dataclass(frozen=True, slots=True)
class Estimate:
    estimated_at: str
    status: str
    observed: Observed | None

    def document(self) -> dict[str, Any]:
        """Per node the highest and lowest phase voltage in pu of its rated voltage, per
        branch the loading as a share of its rating (the larger end)."""
        observed = self.observed or Observed()
        nodes = sorted(observed.voltage_high.keys() | observed.voltage_low.keys())
        return {
            "estimated_at": self.estimated_at,
            "status": self.status,
            "nodes": {
                node: {
                    "voltage_max_pu": observed.voltage_high.get(node),
                    "voltage_min_pu": observed.voltage_low.get(node),
                }
                for node in nodes
            },
            "branches": {
                branch: {"loading": observed.loading[branch]} for branch in sorted(observed.loading)
            },
        }


class EstimateFollower:
    """Keeps the latest estimate published under ``prefix`` (the estimation's
    ``output_prefix``), also one whose summary says it failed (then without values)."""

    def __init__(self, bus: Bus, areas: AreaMap, prefix: str) -> None:
        self._bus = bus
        self._gatherer = EstimateGatherer(areas)
        self._prefix = prefix
        self._subscription: Subscription | None = None
        self.latest: Estimate | None = None

    async def start(self) -> None:
        self._subscription = await self._bus.subscribe(f"{self._prefix}/#", self._on_message)

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.close()
            self._subscription = None

    async def _on_message(self, envelope: Envelope) -> None:
        rest = envelope.topic.removeprefix(self._prefix + "/")
        summary = self._gatherer.take(rest, envelope.payload)
        if summary is not None:
            stamp, observed, status = summary
            self.latest = Estimate(stamp, status, observed)
