"""The platform API as a service of the runtime: one app (``osed.api``) over the services the
same process runs (the Market Agent and its ledger, the EDC manager, the balancer's job
store, the building agents with their parties, the scenario runs), Market Agents of other
processes reached over the bus (``api.markets``) with the shared ledger store, the
time-series store, the network model and the bus, served by uvicorn in the runtime's event
loop. Started after them, stopped before them. Tokens are checked by the process'
:class:`ApiAccess` (``identity.*``); OSED's local issuer is published under ``/.well-known``."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from osed.agents.bus_service import MarketAgentService
from osed.agents.remote_market import RemoteMarket
from osed.api.app import Balancer, Parts, Studies, create_app, event_feeds
from osed.api.buildings import OwnedBuilding
from osed.api.dashboard import Dashboard
from osed.api.market_access import MarketAccess
from osed.domain.envelope import Envelope
from osed.domain.errors import ConfigurationError
from osed.domain.time import Clock
from osed.ports.bus import Bus, Subscription
from osed.ports.ledger import LedgerStore
from osed.runtime import container
from osed.runtime.api_access import ApiAccess
from osed.runtime.buildings import BuildingAgentsRunner
from osed.runtime.embedded_api import EmbeddedApi
from osed.runtime.lifecycle import Service
from osed.runtime.markets import open_shared_ledger
from osed.runtime.settings import Settings
from osed.storage.idempotency_sqlite import SqliteIdempotencyStore


class PlatformApiRunner:
    name = "api"

    def __init__(
        self,
        settings: Settings,
        bus: Bus,
        clock: Clock,
        services: Sequence[Service],
        access: ApiAccess,
    ) -> None:
        config = settings.api
        self._access = access
        markets: dict[str, MarketAgentService | MarketAccess] = {}
        ledger = edc = balancer = studies = None
        buildings: tuple[OwnedBuilding, ...] = ()
        for service in services:
            if isinstance(service, container.MarketAgentRunner):
                markets[service.service.agent.market_id] = service.service
                ledger = service.ledger
            elif isinstance(service, container.EdcManagerRunner):
                edc = service
            elif service.name == "studies":
                from osed.runtime.studies import StudiesRunner  # noqa: PLC0415 - sim extra

                assert isinstance(service, StudiesRunner)
                studies = Studies(service.open_runs, bundled=service.bundled)
            elif isinstance(service, container.BalancerRunner):
                options = settings.balancer
                queue = options.queue_timeout_s
                balancer = Balancer(
                    lambda: container.build_jobs(settings),
                    max_time_limit_s=options.max_time_limit_s,
                    queue_timeout=None if queue is None else timedelta(seconds=queue),
                    max_request_bytes=options.max_request_bytes,
                )
            elif isinstance(service, BuildingAgentsRunner):
                buildings += service.owned()
        self._remote: list[RemoteMarket] = []
        self._own_ledger: LedgerStore | None = None
        if config.markets:
            if ledger is None:
                ledger = self._own_ledger = open_shared_ledger(settings)
            endpoint = _Endpoint(bus, f"api-{uuid.uuid4().hex[:12]}", clock)
            for remote in config.markets:
                if remote.market_id in markets:
                    raise ConfigurationError(
                        f"api.markets: {remote.market_id!r} is served by this process' "
                        "market-agent service already"
                    )
                client = RemoteMarket(
                    market_id=remote.market_id,
                    ledger=ledger,
                    source=endpoint.source,
                    publish=endpoint.publish,
                    subscribe=endpoint.subscribe,
                    timeout_s=remote.timeout_s,
                )
                markets[remote.market_id] = client
                self._remote.append(client)
        spec = settings.edc.network or settings.intelligence.network or settings.estimation.network
        network = None if not spec else container.load_network_setting(spec, at="$.edc.network")
        decision_topic = settings.intelligence.decision_topic if edc and edc.intelligence else None
        estimation_prefix = settings.estimation.output_prefix
        self._services = list(services)
        parts = Parts(
            edc_manager=None if edc is None else edc.manager,
            decisions=None if edc is None else edc.decisions,
            balancer=balancer,
            studies=studies,
            markets=markets,
            ledger=ledger,
            series=lambda: container.build_timeseries(settings),
            network=network,
            bus=bus,
            estimation_prefix=estimation_prefix,
            feeds=event_feeds(
                markets, estimation_prefix=estimation_prefix, decision_topic=decision_topic
            ),
            buildings=buildings,
            readiness=self._readiness,
        )
        self.app = create_app(
            parts,
            validator=access.authenticator.validator,
            open=access.authenticator.open,
            issuer=access.issuer,
            idempotency=lambda: SqliteIdempotencyStore(config.idempotency_path),
            idempotency_ttl=timedelta(seconds=config.idempotency_ttl_s),
            clock=clock,
            max_request_bytes=config.max_request_bytes,
            dashboard=Dashboard(
                issuer=settings.identity.issuer,
                client_id=config.dashboard_client_id,
                estimation_prefix=estimation_prefix,
            )
            if config.dashboard
            else None,
        )
        self._api = EmbeddedApi(self.app, config.host, config.port, what="platform API")

    def _readiness(self) -> dict[str, bool]:
        ready = {service.name: service.ready() for service in self._services}
        ready.update({f"market:{m.market_id}": m.ready() for m in self._remote})
        return ready

    async def start(self) -> None:
        self._access.prepare()
        for remote in self._remote:
            await remote.start()
        await self._api.start()

    async def stop(self) -> None:
        try:
            await self._api.stop()
            for remote in self._remote:
                await remote.stop()
        finally:
            if self._own_ledger is not None:
                self._own_ledger.close()

    def ready(self) -> bool:
        return self._api.ready()


class _Endpoint:
    """This process' address on the bus for requests and queries to remote Market Agents:
    plain (not durable) subscriptions, as an answer to an earlier process is of no use."""

    def __init__(self, bus: Bus, source: str, clock: Clock) -> None:
        self.bus = bus
        self.source = source
        self.clock = clock
        self._seq = itertools.count(1)

    async def publish(self, topic: str, payload: bytes) -> None:
        envelope = Envelope(topic, self.source, next(self._seq), payload, self.clock.now())
        await self.bus.publish(envelope)

    async def subscribe(
        self, pattern: str, handler: Callable[[Envelope], Awaitable[None]], _name: str
    ) -> Subscription:
        return await self.bus.subscribe(pattern, handler)
