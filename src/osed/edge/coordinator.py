"""One EDGE DERMS Coordinator: an electric area, its enrolled buildings, and the grid functions
running in it, each with its user manager and channels.

The EDC owns its asyncio work: one task that ticks every control cycle, one bus
subscription per function's inbound channel, and, while enrolment changes wait for their
commit, one task that stores them (``enrolment_queue``). Every call into a function's session
happens under one lock, so a session sees one event at a time. A failing session is logged
and its error kept in its status; it does not stop the EDC.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from osed.domain.errors import ConflictError, NotFoundError, Problem, ValidationError
from osed.domain.time import Clock
from osed.edge.area import AreaReports, AreaState
from osed.edge.enrolment_queue import Change, EnrolmentQueue
from osed.edge.grid_state import empty_grid_state, freshness, stamp_of
from osed.edge.names import (
    dead_letter_topic,
    inbound_topic,
    outbound_topic,
    valid_building_id,
    valid_function_name,
)
from osed.edge.publisher import Publisher
from osed.edge.tokens import TokenHash, issue_token
from osed.edge.user_manager import Accepted, UserManager
from osed.edge.wire import REPORT, dead_letter_payload, outbound_payload
from osed.gridfunctions.spec import AreaView, GridFunction, Inbound, Outbound, Session
from osed.ports.bus import Bus, Subscription

log = logging.getLogger("osed.edge")

LoadFunction = Callable[[str], GridFunction]


class StateKeeper(Protocol):
    """Where an EDC's state goes: the whole document on a change of its structure and at
    every control cycle, an enrolment on its own (it never rewrites the document)."""

    def save(self, edc: Coordinator) -> None: ...

    def enrolled(self, edc: Coordinator, enrolments: Mapping[str, Mapping[str, Any]]) -> None:
        """Keep these enrolments (building id → what :meth:`_Enrolled.to_dict` gives)."""
        ...

    def unenrolled(self, edc: Coordinator, building_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class EdcConfig:
    """What every EDC of a manager shares."""

    bus: Bus
    clock: Clock
    load_function: LoadFunction
    control_cycle: timedelta
    response_deadline: timedelta
    dead_letter_prefix: str = "dead-letter"
    grid_state_max_age: timedelta | None = None
    """An estimated grid state older than this is marked stale (None: never)."""


@dataclass(slots=True)
class _Running:
    function: GridFunction
    parameters: dict[str, Any]
    session: Session
    users: UserManager
    subscription: Subscription | None = None
    counts: dict[str, int] = field(default_factory=lambda: {"accepted": 0, "rejected": 0})
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class _Enrolled:
    token: TokenHash
    functions: tuple[str, ...] | None  # None: every function, also those assigned later

    def takes_part_in(self, name: str) -> bool:
        return self.functions is None or name in self.functions

    def to_dict(self) -> dict[str, Any]:
        functions = None if self.functions is None else list(self.functions)
        return {"token": self.token.to_dict(), "functions": functions}

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> _Enrolled:
        functions = stored.get("functions")
        return cls(
            TokenHash.from_dict(stored["token"]), None if functions is None else tuple(functions)
        )


class Coordinator:
    def __init__(
        self,
        edc_id: str,
        element: str,
        config: EdcConfig,
        *,
        created_at: datetime,
        idempotency_key: str,
        keeper: StateKeeper,
    ) -> None:
        self.edc_id = edc_id
        self.element = element
        self.created_at = created_at
        self.idempotency_key = idempotency_key
        self._config = config
        self._keeper = keeper
        self._publisher = Publisher(config.bus, edc_id)
        self._functions: dict[str, _Running] = {}
        self._enrolled: dict[str, _Enrolled] = {}
        self._reports = AreaReports()
        self._grid_state: dict[str, Any] = {}
        self._grid_state_at: datetime | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._dirty = False
        self._enrolments = EnrolmentQueue(
            f"edc:{edc_id}:enrolments",
            store_enrolled=lambda rows: keeper.enrolled(
                self, {b: e.to_dict() for b, e in rows.items()}
            ),
            store_removed=lambda building_id: keeper.unenrolled(self, building_id),
            applied=self._locked,
            apply=self._apply_enrolment,
        )

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open every function's inbound channel and start ticking."""
        for name, running in self._functions.items():
            running.subscription = await self._subscribe(name, running)
        self._task = asyncio.get_running_loop().create_task(
            self._ticking(), name=f"edc:{self.edc_id}"
        )

    async def stop(self) -> None:
        """Stop ticking and close every channel; the state stays stored."""
        await self._enrolments.drained()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for running in self._functions.values():
            if running.subscription is not None:
                await running.subscription.close()
                running.subscription = None
        if self._dirty:
            self._dirty = False
            self._keeper.save(self)

    async def destroy(self) -> None:
        """Remove every function (sending its restorations), then stop."""
        for name in list(self._functions):
            await self.remove_function(name, save=False)
        await self.stop()

    def resources(self) -> dict[str, int]:
        """What this EDC holds open: for checks that a destroyed EDC left nothing."""
        return {
            "tasks": int(self._task is not None and not self._task.done()),
            "subscriptions": sum(r.subscription is not None for r in self._functions.values()),
            "channels": len(self._functions),
        }

    # ------------------------------------------------------------------ functions

    async def assign(self, name: str, parameters: object) -> dict[str, Any]:
        """Check ``parameters`` against the function's manifest (every problem at
        ``$.parameters.…``, nothing applied), open its session and send its first requests."""
        if name in self._functions:
            raise ConflictError(f"{name!r} already runs in EDC {self.edc_id!r}; remove it first")
        function = self._config.load_function(name)
        checked = function.manifest.check_parameters(parameters, path="$.parameters")
        users = self._user_manager(name, function)
        area = self._area(users)
        session = function.open(checked, area)
        running = _Running(function, checked, session, users)
        async with self._lock:
            if name in self._functions:  # assigned meanwhile by a concurrent request
                raise ConflictError(f"{name!r} already runs in EDC {self.edc_id!r}")
            self._functions[name] = running
            running.subscription = await self._subscribe(name, running)
            await self._send(name, running, self._call(running, session.start, area))
        self._keeper.save(self)
        return self.function_status(name)

    async def remove_function(self, name: str, *, save: bool = True) -> None:
        running = self._running(name)
        async with self._lock:
            area = self._area(running.users)
            await self._send(name, running, self._call(running, running.session.close, area))
            del self._functions[name]
        if running.subscription is not None:
            await running.subscription.close()
        if save:
            self._keeper.save(self)

    def function_status(self, name: str) -> dict[str, Any]:
        running = self._running(name)
        manifest = running.function.manifest
        try:
            status: dict[str, Any] = running.session.status()
        except Exception as exc:  # a faulty plugin: said in the status, not raised
            status = {"error": f"status failed: {exc}"}
        return {
            "name": name,
            "version": manifest.version,
            "parameters": running.parameters,
            "buildings": list(running.users.buildings),
            "messages": dict(running.counts),
            "last_error": running.last_error,
            "status": status,
            "channels": {
                "inbound": inbound_topic(self.edc_id, name),
                "outbound": outbound_topic(self.edc_id, name, "{building}"),
            },
        }

    def _user_manager(self, name: str, function: GridFunction) -> UserManager:
        users = UserManager(function.manifest, deadline=self._config.response_deadline)
        for building, enrolled in self._enrolled.items():
            if enrolled.takes_part_in(name):
                users.admit(building, enrolled.token)
        return users

    def function_names(self) -> list[str]:
        return list(self._functions)

    def _running(self, name: str) -> _Running:
        running = self._functions.get(name)
        if running is None:
            raise NotFoundError(f"{name!r} does not run in EDC {self.edc_id!r}")
        return running

    # ------------------------------------------------------------------ buildings

    async def enrol(self, building_id: str, functions: list[str] | None) -> str:
        """Enrol ``building_id`` in ``functions`` (None: every function, also those assigned
        later); its token, returned only now (enrolling again replaces token and functions)."""
        return (await self.enrol_many([(building_id, functions)]))[0]

    async def enrol_many(self, enrolments: list[tuple[str, list[str] | None]]) -> list[str]:
        """Several enrolments in one change (one transaction): their tokens, in order, once
        stored. Every problem is named (``$.buildings[3].functions[0]``) and then none is
        enrolled."""
        single = len(enrolments) == 1
        problems = []
        for index, (building_id, functions) in enumerate(enrolments):
            at = "$" if single else f"$.buildings[{index}]"
            if not valid_building_id(building_id):
                problems.append(Problem(f"{at}.building_id", "bad_id", "not a building id"))
            problems += [
                Problem(f"{at}.functions[{k}]", "bad_name", "not a grid function name")
                for k, name in enumerate(functions or ())
                if not valid_function_name(name)
            ]
        if problems:
            raise ValidationError(problems, subject="enrolment")
        tokens = []
        issued: dict[str, _Enrolled] = {}
        for building_id, functions in enrolments:
            token, hashed = issue_token()
            tokens.append(token)
            issued[building_id] = _Enrolled(hashed, None if functions is None else tuple(functions))
        await self._enrolments.submit(Change(enrolled=issued))  # stored, then applied
        return tokens

    async def unenrol(self, building_id: str) -> None:
        """``building_id`` leaves every function; its token no longer holds."""
        if building_id not in self._enrolled:
            raise NotFoundError(f"{building_id!r} is not enrolled in EDC {self.edc_id!r}")
        await self._enrolments.submit(Change(removed=building_id))

    async def _locked(self, run: Callable[[], None]) -> None:
        async with self._lock:
            run()

    def _apply_enrolment(self, change: Change) -> None:
        """A stored enrolment change, applied (under the lock)."""
        if change.removed is not None:
            building_id = change.removed
            if self._enrolled.pop(building_id, None) is None:  # gone by a concurrent request
                raise NotFoundError(f"{building_id!r} is not enrolled in EDC {self.edc_id!r}")
            for running in self._functions.values():
                running.users.withdraw(building_id)
            self._reports.forget(building_id)
            self._dirty = True
            return
        for building_id, enrolled in change.enrolled.items():
            if building_id in self._enrolled:
                self._dirty = True  # a function it leaves forgets its deadlines
            self._enrolled[building_id] = enrolled
            for name, running in self._functions.items():
                if enrolled.takes_part_in(name):
                    running.users.admit(building_id, enrolled.token)
                else:
                    running.users.withdraw(building_id)

    def enrolment(self) -> dict[str, Any]:
        """Who is enrolled in what (never the tokens)."""
        return {
            b: None if e.functions is None else list(e.functions)
            for b, e in sorted(self._enrolled.items())
        }

    def set_grid_state(self, state: Mapping[str, Any]) -> None:
        """The area's latest estimated state (voltages, loadings, …: osed.edge.grid_state) for
        the functions; its ``estimated_at`` dates it."""
        self._grid_state = dict(state)
        self._grid_state_at = stamp_of(state)
        self._dirty = True

    def grid_state(self) -> dict[str, Any]:
        """The grid state the functions see now, with its age."""
        now = self._config.clock.now()
        return {
            "edc": self.edc_id,
            "element": self.element,
            **empty_grid_state(),
            **self._grid_state,
            **freshness(self._grid_state_at, now, self._config.grid_state_max_age),
        }

    def aggregate(self) -> dict[str, Any]:
        """The area's demand, production and flexibility, from what its buildings reported."""
        totals = self._reports.totals
        return {
            "edc": self.edc_id,
            "element": self.element,
            "buildings": len(self._enrolled),
            "reporting": len(self._reports),
            **totals,
            "net_kw": totals["demand_kw"] - totals["production_kw"],
            "updated_at": self._reports.latest,
        }

    # ------------------------------------------------------------------ events

    async def tick(self) -> None:
        """One control cycle: every session sees the area's latest state."""
        self._reports.resum()
        async with self._lock:
            for name, running in list(self._functions.items()):
                area = self._area(running.users)
                await self._send(name, running, self._call(running, running.session.on_tick, area))
        self._dirty = False
        self._keeper.save(self)

    async def _ticking(self) -> None:
        period = self._config.control_cycle.total_seconds()
        while True:
            await asyncio.sleep(period)
            try:
                await self.tick()
            except Exception:
                log.exception("EDC %s: control cycle failed", self.edc_id)

    async def _subscribe(self, name: str, running: _Running) -> Subscription:
        topic = inbound_topic(self.edc_id, name)

        async def handle(envelope: Any) -> None:
            accepted, problems = running.users.check(envelope.payload)
            if accepted is None:
                running.counts["rejected"] += 1
                await self._dead_letter(topic, envelope.source, envelope.payload, problems)
                return
            running.counts["accepted"] += 1
            await self._deliver(name, running, accepted)

        return await self._config.bus.subscribe(topic, handle)

    async def _deliver(self, name: str, running: _Running, accepted: Accepted) -> None:
        now = self._config.clock.now()
        self._dirty = True
        if accepted.message_type == REPORT:
            self._reports.record(accepted.building_id, accepted.body, now.isoformat())
            if running.function.manifest.message(REPORT, "inbound") is None:
                return
        else:
            running.users.answered(accepted.building_id, now)
        message = Inbound(accepted.building_id, accepted.message_type, accepted.body, now)
        async with self._lock:
            if self._functions.get(name) is not running:
                return  # removed while the message waited
            area = self._area(running.users)
            await self._send(
                name,
                running,
                self._call(running, running.session.on_message, message, area),
            )

    async def _dead_letter(
        self, topic: str, source: str, payload: bytes, problems: list[Problem]
    ) -> None:
        log.warning(
            "EDC %s: rejected a message on %s: %s",
            self.edc_id,
            topic,
            "; ".join(f"{p.path} {p.code}" for p in problems),
        )
        letter = dead_letter_payload(topic, source, payload, problems)
        where = dead_letter_topic(self._config.dead_letter_prefix, topic)
        await self._publisher.publish([(where, letter)], self._config.clock.now())

    def _call(
        self, running: _Running, method: Callable[..., list[Outbound]], *args: Any
    ) -> list[Outbound]:
        try:
            return list(method(*args))
        except Exception as exc:
            log.exception("EDC %s: %s failed", self.edc_id, running.function.manifest.name)
            running.last_error = f"{type(exc).__name__}: {exc}"
            return []

    async def _send(self, name: str, running: _Running, outbound: list[Outbound]) -> None:
        now = self._config.clock.now()
        messages: list[tuple[str, bytes]] = []
        for item in outbound:
            if not running.users.declares_outbound(item.message_type):
                running.last_error = f"sent undeclared message type {item.message_type!r}"
                log.error("EDC %s: %s %s", self.edc_id, name, running.last_error)
                continue
            payload = outbound_payload(self.edc_id, name, item.message_type, item.body, now)
            targets = running.users.buildings if item.building_id is None else (item.building_id,)
            for building in targets:
                if not running.users.is_enrolled(building):
                    log.warning("EDC %s: %s addressed unenrolled %s", self.edc_id, name, building)
                    continue
                running.users.requested(building, now)
                messages.append((outbound_topic(self.edc_id, name, building), payload))
        await self._publisher.publish(messages, now)

    def _area(self, users: UserManager) -> AreaView:
        now = self._config.clock.now()
        values: dict[str, Any] = {
            **self._grid_state,
            **self._reports.totals,
            "building_kw": self._reports.building_kw,
            "building_reported_at": self._reports.reported_at,
        }
        if self._grid_state:
            values |= freshness(self._grid_state_at, now, self._config.grid_state_max_age)
        state = AreaState(values, lambda: users.responses(now))
        return AreaView(self.edc_id, now, users.buildings, state)

    # ------------------------------------------------------------------ state

    def to_document(self) -> dict[str, Any]:
        functions: dict[str, Any] = {}
        for name, running in self._functions.items():
            try:
                snapshot = running.session.snapshot()
            except Exception as exc:
                log.exception("EDC %s: snapshot of %s failed", self.edc_id, name)
                running.last_error = f"snapshot failed: {exc}"
                snapshot = None
            functions[name] = {
                "parameters": running.parameters,
                "snapshot": snapshot,
                "users": running.users.to_dict(),
            }
        return {
            "id": self.edc_id,
            "element": self.element,
            "created_at": self.created_at.isoformat(),
            "idempotency_key": self.idempotency_key,
            "reports": self._reports.to_dict(),
            "grid_state": self._grid_state,
            "functions": functions,
        }

    @classmethod
    def resumed(
        cls,
        document: Mapping[str, Any],
        enrolments: Mapping[str, Mapping[str, Any]],
        config: EdcConfig,
        keeper: StateKeeper,
    ) -> Coordinator:
        """The EDC as it was stored, with its enrolments (as :meth:`StateKeeper.enrolled` got
        them; one that cannot be read is logged and left out); each function's session resumes
        from its snapshot (one that cannot be loaded any more is logged and left out)."""
        edc = cls(
            document["id"],
            document["element"],
            config,
            created_at=datetime.fromisoformat(document["created_at"]),
            idempotency_key=document["idempotency_key"],
            keeper=keeper,
        )
        for building_id, stored_enrolment in enrolments.items():
            try:
                edc._enrolled[building_id] = _Enrolled.from_dict(stored_enrolment)
            except (ValueError, KeyError, TypeError, AttributeError):
                log.exception("EDC %s: enrolment of %s unreadable", edc.edc_id, building_id)
        edc._reports = AreaReports.restored(document.get("reports", {}))
        edc._grid_state = dict(document.get("grid_state", {}))
        edc._grid_state_at = stamp_of(edc._grid_state)
        for name, stored in document.get("functions", {}).items():
            try:
                function = config.load_function(name)
                users = edc._user_manager(name, function)
                users.restore(stored["users"])
                session = function.open(
                    stored["parameters"], edc._area(users), resume=stored.get("snapshot")
                )
            except Exception:
                log.exception("EDC %s: function %s cannot resume; left out", edc.edc_id, name)
                continue
            edc._functions[name] = _Running(function, dict(stored["parameters"]), session, users)
        return edc
