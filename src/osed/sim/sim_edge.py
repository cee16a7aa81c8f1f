"""The edge of a managed run: the EDC manager with its SQLite state, the EDCs the study needs,
the households' enrolment, and the grid intelligence following the estimates.

With the study's ``edcs: areas``, every electric area with households gets an EDC
(``area-<element>``) running the study's grid functions from the start; an event at another
element gets one there (``dso-<element>``) for the households below it; these EDCs live for the
whole run. The grid intelligence creates and destroys its own EDCs (``gi-<element>``) from the
estimated state, as it does in operation, and the run records each decision. With
``edcs: intelligence`` only the events' EDCs are made at the start: the EDCs the intelligence
creates are the areas', and the households below one enrol in it when it is created
(:meth:`Edge.enrol_below`) and leave when it goes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from osed.edge.building.agent import Channel
from osed.edge.coordinator import Coordinator
from osed.edge.grid_state import Estimate
from osed.edge.intelligence import GridIntelligence, IntelligenceConfig
from osed.edge.intelligence_areas import AreaMap
from osed.edge.intelligence_inputs import Observed
from osed.edge.manager import EdcManager
from osed.ports.bus import Bus
from osed.sim.study import Event, FunctionSpec, Study
from osed.storage.edc_sqlite import SqliteEdcStateStore
from osed.storage.intelligence_sqlite import SqliteDecisionStore

EVENT_FUNCTIONS = {"capacity_limit": "capacity-limit", "xor_request": "xor"}
_NOT_IN_ID = re.compile(r"[^A-Za-z0-9_.-]")
NEVER = timedelta(days=3650)
"""The EDCs' own control-cycle timer: the run ticks them itself, step by step."""


@dataclass
class Edge:
    manager: EdcManager
    intelligence: GridIntelligence
    stores: tuple[SqliteEdcStateStore, SqliteDecisionStore]
    areas: AreaMap
    area_edcs: dict[str, Coordinator]
    """Element -> the EDC the run keeps there."""
    channels: dict[str, dict[str, Channel]]
    """Household -> function -> its channel."""
    homes_below: HouseholdsBelow
    seen_decisions: int = 0
    tokens: dict[tuple[str, int], str] = field(default_factory=dict)
    """(EDC, household index) -> the household's token there."""

    async def enrol_below(
        self, study: Study, edc_id: str, functions: list[str]
    ) -> list[tuple[int, str, Channel]]:
        """The households below EDC ``edc_id``'s element enrolled there (once, in every
        function it runs then or later): (household, function, channel) for ``functions``."""
        edc = self.manager.get(edc_id)
        below = self.homes_below(edc.element)
        new = [i for i in below if (edc_id, i) not in self.tokens]
        if new:
            tokens = await edc.enrol_many([(study.households[i].id, None) for i in new])
            self.tokens.update({(edc_id, i): t for i, t in zip(new, tokens, strict=True)})
        return [
            (i, function, Channel(edc_id, self.tokens[(edc_id, i)]))
            for i in below
            for function in functions
        ]

    def forget(self, edc_id: str) -> list[int]:
        """The households enrolled in EDC ``edc_id`` (now gone): its tokens dropped."""
        gone = sorted(i for e, i in self.tokens if e == edc_id)
        for i in gone:
            del self.tokens[(edc_id, i)]
        return gone

    async def tick(self) -> None:
        for edc in self.manager.edcs():
            await edc.tick()

    async def observe(self, at: datetime, observed: Observed) -> None:
        """One estimate: the intelligence decides, every EDC gets its area's state."""
        await self.intelligence.observe("estimate", at, observed)
        self.manager.feed_estimate(Estimate.of(at, observed))

    async def forecast(self, at: datetime, observed: Observed) -> None:
        """The grid forecast of the coming steps: the intelligence decides on it too."""
        await self.intelligence.observe("forecast", at, observed)

    def new_decisions(self) -> list[dict[str, Any]]:
        found = self.intelligence.decisions[self.seen_decisions :]
        self.seen_decisions = len(self.intelligence.decisions)
        return found

    async def stop(self) -> None:
        await self.intelligence.stop()
        await self.manager.stop()
        for store in self.stores:
            store.close()


def source_element(study: Study) -> str:
    """The node the network's first source feeds: an event without an element is there."""
    network = study.network
    return network.external_ids[int(network.table("source")["node"][0])]


def function_parameters(study: Study, spec: FunctionSpec) -> dict[str, Any]:
    """The function's parameters, with what the study decides filled in where missing."""
    derived: dict[str, Any] = {}
    if spec.name == "dac":
        derived = {
            "steps": study.steps,
            "step_h": study.step_h,
            "prices": [float(p) for p in study.tariff_per_kwh],
        }
    return {**derived, **spec.parameters}


def event_parameters(study: Study, event: Event) -> dict[str, Any]:
    duration_s = (event.end_step - event.start_step) * study.step_h * 3600.0
    if event.kind == "capacity_limit":
        return {"import_limit_kw": event.limit_kw, "duration": duration_s}
    return {
        "request_kw": event.request_kw,
        "duration_h": duration_s / 3600.0,
        "prices": list(event.prices_per_kwh),
        "bid_window_s": study.step_h * 3600.0,
    }


async def open_edge(study: Study, bus: Bus, clock: Any, folder: Path) -> Edge:
    network = study.network
    areas = AreaMap(network)
    edc_store = SqliteEdcStateStore(folder / "edc.sqlite", synchronous="NORMAL")
    decisions = SqliteDecisionStore(folder / "decisions.sqlite")
    step = timedelta(hours=study.step_h)
    manager = EdcManager(
        bus,
        edc_store,
        clock=clock,
        control_cycle=NEVER,
        response_deadline=step,
        element_exists=network.has,
        areas=areas,
        grid_state_max_age=2 * step,
    )
    await manager.start()
    config = IntelligenceConfig(
        rules=study.rules,
        feed_state=False,
        parameters={s.name: function_parameters(study, s) for s in study.functions},
    )
    intelligence = GridIntelligence(bus, manager, areas, decisions, config, clock=clock)
    await intelligence.start()

    homes_below = HouseholdsBelow(study, areas)

    # Each household's EDC per function: its area's, or an event's element above it.
    homes_at: dict[str, dict[str, list[str]]] = {}  # element -> household -> functions
    study_functions = [s.name for s in study.functions]
    for home in study.households if study.edcs == "areas" else ():
        area = areas.area_of(home.bus)
        element = area.element if area is not None else source_element(study)
        homes_at.setdefault(element, {})[home.id] = list(study_functions)
    for event in study.events:
        function = EVENT_FUNCTIONS.get(event.kind)
        if function is None:
            continue
        element = event.element or source_element(study)
        for index in homes_below(element):
            member = study.households[index].id
            if any(function in fs.get(member, ()) for fs in homes_at.values()):
                continue  # in this function already, through an earlier event's EDC
            homes_at.setdefault(element, {}).setdefault(member, []).append(function)

    area_edcs: dict[str, Coordinator] = {}
    channels: dict[str, dict[str, Channel]] = {h.id: {} for h in study.households}
    for element in sorted(homes_at):
        members = homes_at[element]
        area = areas.area(element)
        prefix = "area-" if area is not None else "dso-"
        edc_id = (prefix + _NOT_IN_ID.sub("-", element))[:128]
        edc, _ = await manager.create(edc_id, element, idempotency_key=f"study:{edc_id}")
        area_edcs[element] = edc
        ordered = sorted(members)
        tokens = await edc.enrol_many([(h, members[h]) for h in ordered])
        for member, token in zip(ordered, tokens, strict=True):
            for function in members[member]:
                channels[member][function] = Channel(edc_id, token)
    return Edge(
        manager, intelligence, (edc_store, decisions), areas, area_edcs, channels, homes_below
    )


async def assign_study_functions(study: Study, edge: Edge) -> list[tuple[str, str, str]]:
    """The study's functions in every area EDC: (EDC, function, what was decided) of each.

    A capacity limit without a limit of its own gets the area's rating times the grid
    intelligence's ``import_limit_share``, as the intelligence would set it; an area without a
    rating is left without it."""
    done = []
    share = edge.intelligence.config.import_limit_share
    for edc in edge.area_edcs.values():
        if not edc.edc_id.startswith("area-"):
            continue
        for spec in study.functions:
            parameters = function_parameters(study, spec)
            if spec.name == "capacity-limit" and not (
                {"import_limit_kw", "export_limit_kw"} & set(parameters)
            ):
                area = edge.areas.area(edc.element)
                if area is None or area.rating_kw is None:
                    done.append((edc.edc_id, spec.name, "not assigned: the area has no rating"))
                    continue
                parameters["import_limit_kw"] = round(area.rating_kw * share, 3)
            await edc.assign(spec.name, parameters)
            limit = parameters.get("import_limit_kw")
            done.append((edc.edc_id, spec.name, "" if limit is None else f"{limit} kW"))
    return done


def event_edcs(study: Study, edge: Edge, event: Event) -> list[Coordinator]:
    """The EDCs an event's function runs in: the one at its element, else the area EDCs of
    the households below it."""
    element = event.element or source_element(study)
    found = edge.area_edcs.get(element)
    if found is not None:
        return [found]
    concerned = set(edge.homes_below(element))
    return [
        edc for edc in edge.area_edcs.values() if concerned & set(edge.homes_below(edc.element))
    ]


@dataclass
class HouseholdsBelow:
    """Element -> the households (by index) at and below it, each element found once."""

    study: Study
    areas: AreaMap
    found: dict[str, list[int]] = field(default_factory=dict)

    def __call__(self, element: str) -> list[int]:
        if element not in self.found:
            self.found[element] = households_below(self.study, self.areas, element)
        return self.found[element]


def households_below(study: Study, areas: AreaMap, element: str | None) -> list[int]:
    """The households (by index) at and below ``element`` (None: the whole network)."""
    area = areas.below(element or source_element(study))
    nodes = frozenset() if area is None else area.nodes
    return [i for i, h in enumerate(study.households) if h.bus in nodes]
