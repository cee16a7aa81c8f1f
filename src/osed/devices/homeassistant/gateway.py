"""The device gateway over Home Assistant (:class:`osed.ports.devices.DeviceGateway`).

On every (re)connection the gateway authenticates, waits until Home Assistant has finished
starting, subscribes to ``state_changed``, reads every state (the devices and a first
measurement of each) and then settles or resends the commands still pending: one whose
entity already shows its value is applied without a call, the others are called again. A
command is confirmed when its entity's state shows the new value, and refused when the
service call fails; its id is applied at most once (:class:`PendingCommands`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from osed.bus.mqtt_link import Backoff
from osed.devices.homeassistant.config import HomeAssistantConfig
from osed.devices.homeassistant.entities import (
    MISSING_STATES,
    DeviceBinding,
    Discovery,
    State,
    discover,
    updated_at,
)
from osed.devices.homeassistant.link import (
    LinkClosedError,
    ServiceError,
    TokenRefusedError,
    WebSocketLink,
    rest_get,
)
from osed.devices.pending import PendingCommands
from osed.domain.devices import (
    Command,
    CommandResult,
    DeviceInfo,
    Liveness,
    Measurement,
    Outcome,
)
from osed.domain.errors import ConfigurationError, Problem, UnavailableError
from osed.domain.time import Clock, SystemClock
from osed.ports.devices import MeasurementHandler

log = logging.getLogger(__name__)

STARTUP_WAIT_S = 300.0
"""How long a connection waits for a starting Home Assistant to report it is running."""
STARTUP_POLL_S = 0.25


class HomeAssistantGateway:
    def __init__(
        self,
        config: HomeAssistantConfig,
        *,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self._config = config
        self._clock = clock or SystemClock()
        self._backoff = backoff or Backoff(first=0.2, limit=5.0)
        self._pending = PendingCommands()
        self._handlers: list[MeasurementHandler] = []
        self._devices: dict[str, DeviceBinding] = {}
        self._by_entity: dict[str, list[DeviceBinding]] = {}
        self._states: dict[str, State] = {}
        self._last_seen: dict[str, datetime] = {}
        self._temperature_unit = "°C"
        self._link: WebSocketLink | None = None
        self._generation = 0
        self._sent_on: dict[str, int] = {}
        """Command id -> the connection it was last called on."""
        self._outbox: asyncio.Queue[list[Measurement]] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._supervisor: asyncio.Task[None] | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._started = False

    @property
    def connected(self) -> bool:
        return self._link is not None and not self._link.closed.is_set()

    async def start(self) -> None:
        """Check the token, connect and read every state; a refused token raises a
        ConfigurationError naming the URL, a server out of reach an UnavailableError."""
        if self._started:
            return
        await rest_get(self._config, "")  # a refused token is told apart from a network error
        self._dispatcher = asyncio.create_task(self._dispatch(), name="homeassistant-dispatch")
        self._started = True
        try:
            _raise_problems(self._config, await self._connect())
        except BaseException:
            await self.close()
            raise
        self._supervisor = asyncio.create_task(self._supervise(), name="homeassistant-link")

    async def discover(self) -> list[DeviceInfo]:
        """Every device, read afresh over the REST API."""
        states = await rest_get(self._config, "states")
        config = await rest_get(self._config, "config")
        unit = config.get("unit_system", {}).get("temperature", "°C")
        found = discover(states, self._config, temperature_unit=unit)
        _raise_problems(self._config, found)
        self._use(found)
        return [binding.info() for binding in found.devices.values()]

    def on_measurements(self, handler: MeasurementHandler) -> None:
        self._handlers.append(handler)

    async def send(self, command: Command, *, timeout_s: float = 10.0) -> CommandResult:
        if not self._started:
            raise UnavailableError("the Home Assistant gateway is not started")
        earlier = self._pending.admit(command)
        if earlier is not None:
            return earlier
        problem = self._problem(command)
        if problem is not None:  # known now, also while Home Assistant is away
            self._settle(command, Outcome.REJECTED, problem)
            settled = self._pending.admit(command)
            assert settled is not None
            return settled
        link = self._link
        connected = link is not None and not link.closed.is_set()
        if connected and self._sent_on.get(command.command_id) != self._generation:
            assert link is not None
            self._deliver(command, link)
        # Not connected: it stays pending and goes out once the connection is back.
        return await self._pending.wait(command.command_id, timeout_s, self._clock.now())

    def liveness(self) -> list[Liveness]:
        found: list[Liveness] = []
        for device_id, binding in self._devices.items():
            states = [self._states.get(e) for e in binding.entity_ids]
            online = self.connected and all(
                s is not None and s.get("state") != "unavailable" for s in states
            )
            found.append(Liveness(device_id, online, self._last_seen.get(device_id)))
        return found

    async def close(self) -> None:
        tasks = [t for t in (self._supervisor, self._dispatcher, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._supervisor = self._dispatcher = None
        self._started = False
        if self._link is not None:
            await self._link.close()
            self._link = None

    # -- connection ---------------------------------------------------------------------

    async def _connect(self) -> Discovery:
        link = await WebSocketLink.open(self._config)
        try:
            await self._wait_running(link)
            await link.subscribe("state_changed", self._on_state_changed)
            config = await link.request({"type": "get_config"})
            self._temperature_unit = config.get("unit_system", {}).get("temperature", "°C")
            states: list[State] = await link.request({"type": "get_states"})
        except BaseException:
            await link.close()
            raise
        found = discover(states, self._config, temperature_unit=self._temperature_unit)
        self._use(found)
        for state in states:
            self._remember(state)
        self._generation += 1
        self._link = link
        self._emit([m for s in states for m in self._measurements(s)])
        pending = self._pending.pending()
        for command in pending:
            self._deliver(command, link)
        log.info(
            "connected to Home Assistant at %s: %d devices, %d pending commands",
            self._config.url,
            len(found.devices),
            len(pending),
        )
        return found

    async def _wait_running(self, link: WebSocketLink) -> None:
        """Entities load while Home Assistant starts; commands wait until it runs."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_WAIT_S
        while True:
            config = await link.request({"type": "get_config"})
            if config.get("state", "RUNNING") == "RUNNING":
                return
            if loop.time() > deadline:
                raise UnavailableError(
                    f"Home Assistant at {self._config.url} is still {config.get('state')}"
                )
            await asyncio.sleep(STARTUP_POLL_S)

    async def _supervise(self) -> None:
        while True:
            link = self._link
            assert link is not None
            await link.closed.wait()
            log.warning("lost the connection to Home Assistant at %s", self._config.url)
            attempt = 0
            while True:
                await asyncio.sleep(self._backoff.delay(attempt))
                attempt += 1
                try:
                    found = await self._connect()
                except TokenRefusedError as error:
                    log.error("%s", error)
                except (UnavailableError, ServiceError, OSError, TimeoutError) as error:
                    log.info("Home Assistant not back yet (attempt %d): %s", attempt, error)
                except Exception:  # whatever it was, the next attempt may succeed
                    log.exception("reconnecting to Home Assistant at %s failed", self._config.url)
                else:
                    for problem in found.problems:
                        log.warning("Home Assistant mapping: %s", problem)
                    break

    # -- state ----------------------------------------------------------------------------

    def _use(self, found: Discovery) -> None:
        self._devices = found.devices
        by_entity: dict[str, list[DeviceBinding]] = {}
        for binding in found.devices.values():
            for entity_id in binding.entity_ids:
                by_entity.setdefault(entity_id, []).append(binding)
        self._by_entity = by_entity
        for entity_id in found.skipped:
            log.debug("%s is not a device: map it to one to use it", entity_id)

    def _on_state_changed(self, event: dict[str, Any]) -> None:
        state = event.get("data", {}).get("new_state")
        if not isinstance(state, dict) or not isinstance(state.get("entity_id"), str):
            return  # an entity removed
        self._remember(state)
        self._emit(self._measurements(state))
        self._confirm(state)

    def _remember(self, state: State) -> None:
        entity_id = state["entity_id"]
        self._states[entity_id] = state
        if state.get("state") in MISSING_STATES:
            return
        at = updated_at(state, self._clock.now())
        for binding in self._by_entity.get(entity_id, ()):
            seen = self._last_seen.get(binding.device_id)
            if seen is None or at > seen:
                self._last_seen[binding.device_id] = at

    def _measurements(self, state: State) -> list[Measurement]:
        return [
            m
            for binding in self._by_entity.get(state["entity_id"], ())
            for m in binding.measurements(state, now=self._clock.now())
        ]

    def _emit(self, batch: list[Measurement]) -> None:
        if batch and self._handlers:
            self._outbox.put_nowait(batch)

    async def _dispatch(self) -> None:
        """Handlers run here, not in the reader, so that one may await a command."""
        while True:
            batch = await self._outbox.get()
            for handler in list(self._handlers):
                try:
                    await handler(batch)
                except Exception:
                    log.exception("a measurement handler failed")

    # -- commands -------------------------------------------------------------------------

    def _deliver(self, command: Command, link: WebSocketLink) -> None:
        """Settle ``command`` if it cannot be applied or is in effect already, else call the
        service (in a task of its own: a sender that stops waiting leaves it running)."""
        problem = self._problem(command)
        if problem is not None:  # the devices may have changed since it was sent
            self._settle(command, Outcome.REJECTED, problem)
            return
        control = self._devices[command.device_id].controls[command.action]
        state = self._states.get(control.entity_id)
        if state is not None and control.confirmed(state, command.value, strict=True):
            self._settle(command, Outcome.APPLIED, "in effect already")
            return
        self._sent_on[command.command_id] = self._generation
        task = asyncio.create_task(self._call(command, link), name=f"ha-{command.command_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _problem(self, command: Command) -> str | None:
        binding = self._devices.get(command.device_id)
        if binding is None:
            return f"no device {command.device_id!r}"
        return binding.command_problem(command)

    async def _call(self, command: Command, link: WebSocketLink) -> None:
        control = self._devices[command.device_id].controls[command.action]
        try:
            await link.request(control.service_call(command.value))
        except ServiceError as error:
            self._settle(command, Outcome.REJECTED, f"Home Assistant refused it: {error}")
            return
        except (LinkClosedError, TimeoutError):
            return  # still pending: the next connection resends it
        except Exception:
            log.exception("calling %s for %s failed", control.service, command.command_id)
            return  # still pending, as above
        state = self._states.get(control.entity_id)
        if state is not None and control.confirmed(state, command.value):
            self._settle(command, Outcome.APPLIED)

    def _confirm(self, state: State) -> None:
        entity_id = state["entity_id"]
        for command in self._pending.pending():
            if self._sent_on.get(command.command_id) != self._generation:
                continue
            binding = self._devices.get(command.device_id)
            control = None if binding is None else binding.controls.get(command.action)
            if (
                control is not None
                and control.entity_id == entity_id
                and control.confirmed(state, command.value)
            ):
                self._settle(command, Outcome.APPLIED)

    def _settle(self, command: Command, outcome: Outcome, detail: str = "") -> None:
        now = self._clock.now()
        self._pending.settle(command.command_id, outcome, now, detail)
        self._sent_on.pop(command.command_id, None)
        if outcome is Outcome.APPLIED:
            self._last_seen[command.device_id] = now


def _raise_problems(config: HomeAssistantConfig, found: Discovery) -> None:
    if found.problems:
        lines = "\n".join(f"  - {p}" for p in found.problems)
        raise MappingError(
            f"the device mapping does not fit Home Assistant at {config.url}:\n{lines}",
            found.problems,
        )


class MappingError(ConfigurationError):
    """Mapped entities that Home Assistant does not have or whose units OSED cannot read."""

    def __init__(self, message: str, problems: Sequence[Problem]) -> None:
        super().__init__(message)
        self.problems = tuple(problems)
