"""The platform API as a service of the runtime: one app (``osed.api``) over the services the
same process runs (the Market Agent and its ledger, the EDC manager, the balancer's job
store, the building agents with their parties, the scenario runs), the time-series store,
the network model and the bus, served by uvicorn in the runtime's event loop. Started after
them, stopped before them. Tokens are checked by the process' :class:`ApiAccess`
(``identity.*``); OSED's local issuer is published under ``/.well-known``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from osed.agents.bus_service import MarketAgentService
from osed.api.app import Balancer, Parts, Studies, create_app, event_feeds
from osed.api.buildings import OwnedBuilding
from osed.api.dashboard import Dashboard
from osed.domain.time import Clock
from osed.ports.bus import Bus
from osed.runtime import container
from osed.runtime.api_access import ApiAccess
from osed.runtime.buildings import BuildingAgentsRunner
from osed.runtime.embedded_api import EmbeddedApi
from osed.runtime.lifecycle import Service
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
        markets: dict[str, MarketAgentService] = {}
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
        return {service.name: service.ready() for service in self._services}

    async def start(self) -> None:
        self._access.prepare()
        await self._api.start()

    async def stop(self) -> None:
        await self._api.stop()

    def ready(self) -> bool:
        return self._api.ready()
