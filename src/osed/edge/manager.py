"""The EDC manager: creates, resumes and destroys EDGE DERMS Coordinators at run time.

Each EDC's state is stored (``EdcStateStore``: SQLite or PostgreSQL) on every change of its
structure (creation, functions) and at every control cycle, and each enrolment on its own as
it happens, so a restarted manager resumes every EDC where it was: its functions' sessions
from their snapshots, its buildings with their hashed tokens.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from osed.domain.errors import ConflictError, NotFoundError, Problem, ValidationError
from osed.domain.time import Clock, SystemClock
from osed.edge.coordinator import Coordinator, EdcConfig, LoadFunction
from osed.edge.grid_state import Estimate
from osed.edge.grid_state_document import read_grid_state
from osed.edge.intelligence_areas import Area, AreaMap
from osed.edge.names import valid_edc_id
from osed.gridfunctions import registry
from osed.ports.bus import Bus
from osed.ports.edc import EdcStateStore

log = logging.getLogger("osed.edge")


class EdcManager:
    def __init__(
        self,
        bus: Bus,
        store: EdcStateStore,
        *,
        clock: Clock | None = None,
        control_cycle: timedelta = timedelta(seconds=5),
        response_deadline: timedelta = timedelta(seconds=60),
        dead_letter_prefix: str = "dead-letter",
        element_exists: Callable[[str], bool] | None = None,
        areas: AreaMap | None = None,
        grid_state_max_age: timedelta | None = None,
        load_function: LoadFunction = registry.load_function,
        function_names: Callable[[], list[str]] = registry.function_names,
    ) -> None:
        """``element_exists``: checks the network element an EDC is attached to (None: any);
        ``areas``: the network model's topology, what lies below each EDC's element (None: no
        model; estimates cannot be cut per area and put states are not checked against it);
        ``grid_state_max_age``: an older grid state is marked stale; ``load_function`` and
        ``function_names``: where grid functions come from (the ``osed.grid_functions`` entry
        points)."""
        self._store = store
        self._keeper = _StoreKeeper(store)
        self._config = EdcConfig(
            bus=bus,
            clock=clock or SystemClock(),
            load_function=load_function,
            control_cycle=control_cycle,
            response_deadline=response_deadline,
            dead_letter_prefix=dead_letter_prefix,
            grid_state_max_age=grid_state_max_age,
        )
        self._element_exists = element_exists
        self._areas = areas
        self._latest: Estimate | None = None  # given to an EDC created after it
        self._function_names = function_names
        self._edcs: dict[str, Coordinator] = {}
        self._running = False

    async def start(self) -> None:
        """Resume every stored EDC (one whose state cannot be read is logged and left)."""
        for edc_id, stored in self._store.load_all().items():
            try:
                enrolments = {b: json.loads(raw) for b, raw in stored.enrolments.items()}
                edc = Coordinator.resumed(
                    json.loads(stored.document), enrolments, self._config, self._keeper
                )
            except (ValueError, KeyError, TypeError):
                log.exception("EDC %s: its stored state cannot be read; not resumed", edc_id)
                continue
            await edc.start()
            self._edcs[edc_id] = edc
            log.info("EDC %s resumed with %s", edc_id, ", ".join(edc.function_names()) or "-")
        self._running = True

    async def stop(self) -> None:
        """Stop every EDC (they stay stored and resume at the next start)."""
        self._running = False
        for edc in list(self._edcs.values()):
            await edc.stop()
        self._edcs.clear()

    def ready(self) -> bool:
        return self._running

    # ------------------------------------------------------------------ EDCs

    async def create(
        self, edc_id: str, element: str, *, idempotency_key: str
    ) -> tuple[Coordinator, bool]:
        """The new EDC (True), or the one this key already created with these values
        (False); another EDC under that id is a conflict."""
        problems = []
        if not valid_edc_id(edc_id):
            problems.append(Problem("$.id", "bad_id", "letters, digits, _ . - (at most 128)"))
        if not element:
            problems.append(Problem("$.element", "missing", "the network element is required"))
        elif self._element_exists is not None and not self._element_exists(element):
            problems.append(
                Problem("$.element", "unknown_element", f"{element!r} is not in the network")
            )
        if problems:
            raise ValidationError(problems, subject="EDC")
        existing = self._edcs.get(edc_id)
        if existing is not None:
            if existing.idempotency_key == idempotency_key and existing.element == element:
                return existing, False
            raise ConflictError(f"EDC {edc_id!r} exists already")
        edc = Coordinator(
            edc_id,
            element,
            self._config,
            created_at=self._config.clock.now(),
            idempotency_key=idempotency_key,
            keeper=self._keeper,
        )
        self._edcs[edc_id] = edc  # before any await: a concurrent create sees it
        area = self.area_below(edc)
        if self._latest is not None and area is not None:
            edc.set_grid_state(self._latest.for_area(area))
        try:
            self._keeper.save(edc)
            await edc.start()
        except BaseException:
            del self._edcs[edc_id]
            raise
        log.info("EDC %s created at %s", edc_id, element)
        return edc, True

    def get(self, edc_id: str) -> Coordinator:
        edc = self._edcs.get(edc_id)
        if edc is None:
            raise NotFoundError(f"no EDC {edc_id!r}")
        return edc

    def edcs(self) -> list[Coordinator]:
        return [self._edcs[k] for k in sorted(self._edcs)]

    async def destroy(self, edc_id: str) -> None:
        """Remove its functions (restorations sent), close its channels, stop its task and
        forget it."""
        edc = self.get(edc_id)
        await edc.destroy()
        del self._edcs[edc_id]
        self._store.remove(edc_id)
        log.info("EDC %s destroyed", edc_id)

    def resources(self) -> dict[str, int]:
        """Tasks, subscriptions and channels every EDC holds, summed."""
        total = {"edcs": len(self._edcs), "tasks": 0, "subscriptions": 0, "channels": 0}
        for edc in self._edcs.values():
            for key, value in edc.resources().items():
                total[key] += value
        return total

    # ------------------------------------------------------------------ grid state

    def area_below(self, edc: Coordinator) -> Area | None:
        """The nodes and branches at and below the EDC's element (None: no network model, or
        nothing fed lies there)."""
        return None if self._areas is None else self._areas.below(edc.element)

    def feed_estimate(self, estimate: Estimate) -> int:
        """Give every EDC its area's part of ``estimate``; how many got one."""
        self._latest = estimate
        fed = 0
        for edc in self._edcs.values():
            area = self.area_below(edc)
            if area is not None:
                edc.set_grid_state(estimate.for_area(area))
                fed += 1
        return fed

    def put_grid_state(self, edc_id: str, document: object) -> dict[str, Any]:
        """A grid state put for one EDC's area, checked whole (every problem with its path,
        nothing applied); the state as its functions see it."""
        edc = self.get(edc_id)
        state = read_grid_state(
            document,
            element=edc.element,
            area=self.area_below(edc),
            checked=self._areas is not None,
            now=self._config.clock.now(),
        )
        edc.set_grid_state(state)
        return edc.grid_state()

    # ------------------------------------------------------------------ functions

    def manifests(self) -> list[dict[str, Any]]:
        """The installed grid functions' manifests (one that cannot load is left out)."""
        found = []
        for name in self._function_names():
            try:
                found.append(self._config.load_function(name).manifest.to_dict())
            except Exception:
                log.exception("grid function %s cannot be loaded", name)
        return found


class _StoreKeeper:
    """An EDC's state as JSON in the manager's store."""

    def __init__(self, store: EdcStateStore) -> None:
        self._store = store

    def save(self, edc: Coordinator) -> None:
        self._store.put(edc.edc_id, _json(edc.to_document()))

    def enrolled(self, edc: Coordinator, enrolments: Mapping[str, Mapping[str, Any]]) -> None:
        self._store.put_enrolments(edc.edc_id, [(b, _json(e)) for b, e in enrolments.items()])

    def unenrolled(self, edc: Coordinator, building_id: str) -> None:
        self._store.remove_enrolment(edc.edc_id, building_id)


def _json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
