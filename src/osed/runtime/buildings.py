"""The building agents as a service: ``osed run building`` (one agent, its own process) and
``osed run buildings`` (every agent of the ``buildings`` settings section in one process, for a
neighbourhood); the same agents either way, sharing the process' bus connection."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from osed.api.buildings import OwnedBuilding
from osed.devices.configured import configured_gateway
from osed.domain.errors import ConfigurationError, Problem, ValidationError
from osed.domain.time import Clock
from osed.edge.building.agent import BuildingAgent
from osed.edge.building.config import read_agents
from osed.ports.bus import Bus
from osed.ports.devices import DeviceGateway

log = logging.getLogger(__name__)


class BuildingAgentsRunner:
    def __init__(self, document: Any, bus: Bus, clock: Clock, *, single: bool) -> None:
        self.name = "building" if single else "buildings"
        configs = read_agents(document)
        if single and len(configs) != 1:
            raise ConfigurationError(
                f"osed run building runs one agent; buildings.agents has {len(configs)} "
                "(osed run buildings runs many)"
            )
        problems: list[Problem] = []
        self.gateways: list[DeviceGateway] = []
        for config in configs:
            try:
                self.gateways.append(configured_gateway(config.gateway, clock=clock))
            except ValidationError as exc:
                at = f"$.buildings{config.where[1:]}.gateway"
                problems += [Problem(at + p.path[1:], p.code, p.message) for p in exc.problems]
        if problems:
            raise ValidationError(problems, subject="building agents configuration")
        self.parties = {c.building.id: c.party for c in configs}
        """Building id -> the market party it belongs to (None: operators' only)."""
        self.agents = [
            BuildingAgent(c.building, g, bus, c.channels, c.settings, clock=clock)
            for c, g in zip(configs, self.gateways, strict=True)
        ]
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._up = False

    async def start(self) -> None:
        self._stop.clear()
        for agent in self.agents:
            await agent.start()
        self._tasks = [asyncio.create_task(agent.run(self._stop)) for agent in self.agents]
        self._up = True
        log.info("%d building agent(s) running", len(self.agents))

    async def stop(self) -> None:
        self._up = False
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for agent, gateway in zip(self.agents, self.gateways, strict=True):
            await agent.stop()
            await gateway.close()

    def ready(self) -> bool:
        return self._up

    def owned(self) -> tuple[OwnedBuilding, ...]:
        """The agents as the platform API serves them, each with its building's party."""
        return tuple(OwnedBuilding(a, self.parties[a.building.id]) for a in self.agents)
