"""Grid intelligence: follows the estimated grid state (and load forecasts) on the bus, and
creates an EDC with suitable grid functions for the electric area where a violation persists,
destroying it once the area has been clear long enough (docs/edge.md, "Grid intelligence").

The rules (hysteresis, hold-offs) are :mod:`osed.edge.intelligence_rules`; the areas and
ratings :mod:`osed.edge.intelligence_areas`. Time is the estimates' (and forecasts') own
timestamps, so a replayed or delayed stream decides as the live one did. Every decision is
stored, then published, with its reason.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from osed.domain.envelope import Envelope
from osed.domain.errors import OsedError
from osed.domain.time import Clock, SystemClock
from osed.edge.grid_state import Estimate
from osed.edge.intelligence_areas import Area, AreaMap
from osed.edge.intelligence_inputs import EstimateGatherer, Observed, forecast
from osed.edge.intelligence_rules import CONDITIONS, Change, Condition, RuleEngine, Rules
from osed.edge.manager import EdcManager
from osed.ports.bus import Bus, Subscription
from osed.ports.intelligence import DecisionStore

log = logging.getLogger("osed.edge.intelligence")

DEFAULT_FUNCTIONS: Mapping[Condition, tuple[str, ...]] = {
    "overload": ("capacity-limit",),
    "voltage_high": ("volt-var",),
    "voltage_low": ("capacity-limit",),
}
_NOT_IN_ID = re.compile(r"[^A-Za-z0-9_.-]")
WatchKey = tuple[str, str, Condition]  # source, element, condition


@dataclass(frozen=True, slots=True)
class IntelligenceConfig:
    rules: Rules = field(default_factory=Rules)
    estimation_prefix: str = "se"
    forecast_topic: str | None = None
    decision_topic: str = "osed/intelligence/decisions"
    edc_prefix: str = "gi-"
    functions: Mapping[Condition, tuple[str, ...]] = field(
        default_factory=lambda: dict(DEFAULT_FUNCTIONS)
    )
    import_limit_share: float = 0.9
    """capacity-limit's import and export limits: the area element's rating times this share."""
    parameters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Further parameters per function name (they win over the derived ones)."""
    feed_state: bool = True
    """Give the EDCs it manages their area's estimated state (off when the EDC manager follows
    the estimates itself: docs/edge.md, "Grid state")."""


class GridIntelligence:
    def __init__(
        self,
        bus: Bus,
        manager: EdcManager,
        areas: AreaMap,
        store: DecisionStore,
        config: IntelligenceConfig | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        self._bus = bus
        self._manager = manager
        self._areas = areas
        self._store = store
        self.config = config or IntelligenceConfig()
        self._clock = clock or SystemClock()
        self._engine = RuleEngine(self.config.rules)
        self._gatherer = EstimateGatherer(areas)
        self._active: dict[str, set[WatchKey]] = {}  # area → its active watches
        self._managed: dict[str, str] = {}  # area → the EDC created for it
        self._adopted: dict[str, datetime | None] = {}  # resumed area → clear since
        self._subscriptions: list[Subscription] = []
        self._lock = asyncio.Lock()
        self._source = f"intelligence-{secrets.token_hex(4)}"
        self._seq = 0
        self.decisions: list[dict[str, Any]] = []  # this run's, for status and tests

    async def start(self) -> None:
        """Adopt the EDCs an earlier run created (they stay until their area is clear for the
        clear hold-off), then follow the estimates and forecasts."""
        for edc in self._manager.edcs():
            if edc.edc_id.startswith(self.config.edc_prefix) and self._areas.area(edc.element):
                self._managed[edc.element] = edc.edc_id
                self._adopted[edc.element] = None
        prefix = self.config.estimation_prefix
        self._subscriptions.append(await self._bus.subscribe(f"{prefix}/#", self._on_estimate))
        if self.config.forecast_topic:
            self._subscriptions.append(
                await self._bus.subscribe(self.config.forecast_topic, self._on_forecast)
            )

    async def stop(self) -> None:
        for subscription in self._subscriptions:
            await subscription.close()
        self._subscriptions.clear()

    def resources(self) -> dict[str, int]:
        return {"subscriptions": len(self._subscriptions), "managed": len(self._managed)}

    # ------------------------------------------------------------------ input

    async def _on_estimate(self, envelope: Envelope) -> None:
        rest = envelope.topic.removeprefix(self.config.estimation_prefix + "/")
        summary = self._gatherer.take(rest, envelope.payload)
        if summary is None:
            return
        stamp, observed, status = summary
        if observed is None:
            log.info("estimate %s not used: %s", stamp or "?", status)
            return
        await self.observe("estimate", datetime.fromisoformat(stamp), observed)

    async def _on_forecast(self, envelope: Envelope) -> None:
        try:
            at, observed = forecast(envelope.payload)
        except OsedError as exc:
            log.warning("forecast on %s ignored: %s", envelope.topic, exc)
            return
        await self.observe("forecast", at, observed)

    async def observe(self, source: str, at: datetime, observed: Observed) -> None:
        """One estimate's (or forecast's) values: the rules run, and the EDCs follow."""
        at = at.astimezone(UTC)
        async with self._lock:
            changes = [
                change
                for condition, values in observed.by_condition().items()
                for change in self._engine.observe(source, _condition(condition), values, at)
            ]
            # violations that act go first: an area where one clears as another acts keeps
            # its EDC rather than losing and regaining it
            changes.sort(key=lambda change: change.event != "triggered")
            for change in changes:
                await self._act(change)
            if source == "estimate":
                await self._release_adopted(at)
                self._feed_state(at, observed)

    # ------------------------------------------------------------------ decisions

    async def _act(self, change: Change) -> None:
        area = self._areas.area_of(change.element)
        if area is None:
            await self._decide(
                "ignore", change.element, change, f"{change.reason}; it lies in no electric area"
            )
            return
        key: WatchKey = (change.source, change.element, change.condition)
        if change.event in ("appeared", "vanished"):
            await self._decide("ignore", area.element, change, change.reason)
        elif change.event == "triggered":
            self._active.setdefault(area.element, set()).add(key)
            self._adopted.pop(area.element, None)
            if not self._exists(area.element):
                self._managed.pop(area.element, None)  # destroyed meanwhile through the API
            if area.element in self._managed:
                added, errors = await self._assign(area, change.condition)
                await self._decide(
                    "keep", area.element, change, change.reason, functions=added, errors=errors
                )
            else:
                await self._create(area, change)
        else:  # cleared
            active = self._active.get(area.element, set())
            active.discard(key)
            if area.element not in self._managed:
                await self._decide("ignore", area.element, change, f"{change.reason}; no EDC")
            elif active:
                still = ", ".join(sorted(f"{c} at {e}" for _, e, c in active))
                await self._decide("keep", area.element, change, f"{change.reason}; still {still}")
            else:
                await self._destroy(area.element, change, change.reason)

    def _exists(self, area: str) -> bool:
        edc_id = self._managed.get(area)
        return edc_id is not None and any(e.edc_id == edc_id for e in self._manager.edcs())

    async def _create(self, area: Area, change: Change) -> None:
        edc_id = self._edc_id(area.element)
        try:
            await self._manager.create(
                edc_id, area.element, idempotency_key=f"intelligence:{edc_id}"
            )
        except OsedError as exc:
            await self._decide(
                "ignore", area.element, change, f"{change.reason}; EDC not created: {exc}"
            )
            return
        self._managed[area.element] = edc_id
        added, errors = await self._assign(area, change.condition)
        await self._decide(
            "create", area.element, change, change.reason, functions=added, errors=errors
        )

    async def _assign(self, area: Area, condition: Condition) -> tuple[list[str], list[str]]:
        edc = self._manager.get(self._managed[area.element])
        added, errors = [], []
        for name in self.config.functions.get(condition, ()):
            if name in edc.function_names():
                continue
            try:
                await edc.assign(name, self._parameters(name, area))
                added.append(name)
            except OsedError as exc:
                errors.append(f"{name}: {exc}")
        return added, errors

    def _parameters(self, name: str, area: Area) -> dict[str, Any]:
        derived: dict[str, Any] = {}
        if name == "capacity-limit" and area.rating_kw is not None:
            # a rating holds both ways: PV at noon overloads a transformer as the evening does
            limit = round(area.rating_kw * self.config.import_limit_share, 3)
            derived["import_limit_kw"] = limit
            derived["export_limit_kw"] = limit
        return {**derived, **self.config.parameters.get(name, {})}

    async def _destroy(self, area: str, change: Change | None, reason: str) -> None:
        edc_id = self._managed.pop(area)
        self._active.pop(area, None)
        self._adopted.pop(area, None)
        errors = []
        try:
            await self._manager.destroy(edc_id)
        except OsedError as exc:  # destroyed meanwhile through the API
            errors.append(str(exc))
        await self._decide("destroy", area, change, reason, edc=edc_id, errors=errors)

    async def _release_adopted(self, at: datetime) -> None:
        """A resumed EDC with nothing active or pending in its area goes after the clear
        hold-off."""
        busy = {
            found.element
            for _, element, _, _ in self._engine.watching()
            if (found := self._areas.area_of(element)) is not None
        }
        hold = timedelta(seconds=self.config.rules.clear_hold_off_s)
        for area, since in list(self._adopted.items()):
            if area in busy:
                self._adopted[area] = None
            elif since is None and hold > timedelta(0):
                self._adopted[area] = at
            elif since is None or at - since >= hold:
                await self._destroy(area, None, f"resumed EDC: {area} clear for {hold}")

    def _feed_state(self, at: datetime, observed: Observed) -> None:
        """Each managed EDC gets its area's estimated state, unless the EDC manager follows
        the estimates itself (``feed_state`` off)."""
        if not self.config.feed_state:
            return
        estimate = Estimate.of(at, observed)
        for area_id, edc_id in self._managed.items():
            area = self._areas.below(area_id)
            if area is None:
                continue
            try:
                edc = self._manager.get(edc_id)
            except OsedError:
                continue
            edc.set_grid_state(estimate.for_area(area))

    async def _decide(
        self,
        action: str,
        area: str,
        change: Change | None,
        reason: str,
        *,
        edc: str | None = None,
        functions: list[str] | None = None,
        errors: list[str] | None = None,
    ) -> None:
        decision: dict[str, Any] = {
            "action": action,
            "area": area,
            "edc": edc or self._managed.get(area),
            "reason": reason,
            "decided_at": self._clock.now().isoformat(),
        }
        if change is not None:
            decision |= {
                "at": change.at.isoformat(),
                "since": change.since.isoformat(),
                "source": change.source,
                "element": change.element,
                "condition": change.condition,
                "event": change.event,
                "value": round(change.value, 6),
            }
        if functions:
            decision["functions"] = functions
        if errors:
            decision["errors"] = errors
        payload = json.dumps(decision, separators=(",", ":"), allow_nan=False).encode()
        at = change.at if change is not None else self._clock.now()
        decision["seq"] = self._store.append(at, area, action, payload)
        self.decisions.append(decision)
        self._seq += 1
        await self._bus.publish(
            Envelope(self.config.decision_topic, self._source, self._seq, payload, at)
        )
        log.info("intelligence: %s %s: %s", action, area, reason)

    def _edc_id(self, element: str) -> str:
        return (self.config.edc_prefix + _NOT_IN_ID.sub("-", element))[:128]


def _condition(name: str) -> Condition:
    for condition in CONDITIONS:
        if condition == name:
            return condition
    raise ValueError(name)
