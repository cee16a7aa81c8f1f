"""The composition root: settings in, concrete backends and services out. Only this module
chooses backends; everything else sees ports."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from osed.agents.bus_service import MarketAgentService
from osed.agents.market_agent import MarketAgent
from osed.agents.units import MarketUnits
from osed.bus.memory import MemoryBus
from osed.bus.reliable import SqliteOutbox, SqlitePositions
from osed.domain.errors import ConfigurationError, OsedError, Problem, ValidationError
from osed.domain.time import Clock, SystemClock
from osed.grid.imports.files import load_network
from osed.grid.network import Network
from osed.grid_services.estimation_config import EstimationConfig
from osed.grid_services.estimation_service import EstimationService
from osed.grid_services.stats_service import StatsConfig, StatsService
from osed.markets.registry import create_market
from osed.ports.bus import Bus
from osed.ports.edc import EdcStateStore
from osed.ports.intelligence import DecisionStore
from osed.ports.jobs import JobStore
from osed.ports.ledger import LedgerStore
from osed.ports.timeseries import TimeSeriesStore
from osed.runtime.cts_bus import CtsBusLink
from osed.runtime.lifecycle import Service
from osed.runtime.settings import EstimationSettings, ServiceName, Settings, StatsSettings
from osed.storage.sqlite import SqliteLedgerStore
from osed.storage.timeseries_sqlite import SqliteTimeSeriesStore

if TYPE_CHECKING:
    from osed.edge.estimate_follower import EstimateFollower
    from osed.edge.intelligence import GridIntelligence
    from osed.edge.intelligence_areas import AreaMap
    from osed.edge.manager import EdcManager
    from osed.runtime.api_access import ApiAccess

log = logging.getLogger("osed.runtime")

POSITIONS_FILES: dict[ServiceName, str] = {
    "market-agent": "consumer-positions.sqlite",
    "bridge": "bridge-positions.sqlite",
    "stats": "stats-positions.sqlite",
    "estimation": "estimation-positions.sqlite",
}
"""Per service that consumes from the bus, the file in the state folder holding its consumers'
positions and gap reports (the balancer has none)."""


def positions_path(state_dir: Path, service: ServiceName) -> Path:
    return state_dir / POSITIONS_FILES[service]


def build_bus(settings: Settings, clock: Clock, *, client_id: str) -> Bus:
    config = settings.bus
    if config.backend == "memory":
        return MemoryBus(clock=clock)
    if config.backend == "mqtt":
        from osed.bus.mqtt import MqttBus  # the client library is an optional extra

        mqtt = config.mqtt
        return MqttBus(
            mqtt.host,
            mqtt.port,
            client_id=f"{mqtt.client_id}-{client_id}",
            clock=clock,
            username=mqtt.username,
            password=mqtt.password.get_secret_value() if mqtt.password else None,
            tls=mqtt.tls_ca_file,
        )
    from osed.bus.nats import NatsBus

    return NatsBus(config.nats.servers, stream=config.nats.stream, clock=clock, name=client_id)


def build_ledger(settings: Settings) -> LedgerStore:
    storage = settings.storage
    if storage.backend == "sqlite":
        return SqliteLedgerStore(storage.sqlite_path)
    if storage.postgres_dsn is None:
        raise ConfigurationError("storage.postgres_dsn is required for the postgres backend")
    from osed.storage.postgres import PostgresLedgerStore

    return PostgresLedgerStore(storage.postgres_dsn.get_secret_value())


class BusService:
    """Connects the bus first and disconnects it last."""

    name = "bus"

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._up = False

    async def start(self) -> None:
        await self.bus.start()
        self._up = True

    async def stop(self) -> None:
        self._up = False
        await self.bus.stop()

    def ready(self) -> bool:
        return self._up


class MarketAgentRunner:
    """The Market Agent service with its ledger and its reliable transaction channel."""

    name = "market-agent"

    def __init__(self, settings: Settings, bus: Bus, clock: Clock, state_dir: Path) -> None:
        market = settings.market
        options: dict[str, object] = {}
        if market.mechanism == "double-auction":
            options = {"pricing": market.pricing, "price_cap": market.price_cap}
        if market.self_trade is not None:
            options["self_trade"] = market.self_trade
        self.ledger = build_ledger(settings)
        slot = timedelta(minutes=market.interval_minutes)
        agent = MarketAgent(
            market_id=market.market_id,
            market=create_market(market.mechanism, **options),
            ledger=self.ledger,
            clock=clock,
            units=MarketUnits(market.price_scale, market.quantity_scale, market.currency, slot),
        )
        state_dir.mkdir(parents=True, exist_ok=True)
        self.link = CtsBusLink(
            bus,
            source=f"{market.market_id}-agent",
            clock=clock,
            outbox_for=lambda source: SqliteOutbox(state_dir / f"outbox-{source}.sqlite", source),
            positions=SqlitePositions(positions_path(state_dir, "market-agent")),
        )
        self.service = MarketAgentService(
            agent=agent, publish=self.link.publish, subscribe=self.link.subscribe, interval=slot
        )

    async def start(self) -> None:
        await self.service.start()

    async def stop(self) -> None:
        try:
            await self.service.stop()
            await self.link.close()
        finally:
            self.ledger.close()

    def ready(self) -> bool:
        return self.service.ready()


def build_jobs(settings: Settings) -> JobStore:
    """A connection to the configured job store (one per thread that uses it)."""
    jobs = settings.jobs
    if jobs.backend == "sqlite":
        from osed.storage.jobs_sqlite import SqliteJobStore

        return SqliteJobStore(jobs.sqlite_path)
    if jobs.backend == "redis":
        if jobs.redis_url is None:
            raise ConfigurationError("jobs.redis_url is required for the redis backend")
        from osed.storage.jobs_redis import RedisJobStore

        return RedisJobStore(jobs.redis_url.get_secret_value(), prefix=jobs.redis_prefix)
    if settings.storage.postgres_dsn is None:
        raise ConfigurationError("storage.postgres_dsn is required for the postgres job store")
    from osed.storage.postgres import PostgresJobStore

    return PostgresJobStore(settings.storage.postgres_dsn.get_secret_value())


class BalancerRunner:
    """The balancer's REST API (uvicorn in this event loop, behind the process' token check)
    and its worker pool."""

    name = "balancer"

    def __init__(self, settings: Settings, clock: Clock, access: ApiAccess) -> None:
        from osed.optimizer_service.app import create_app
        from osed.optimizer_service.workers import WorkerPool

        config = settings.balancer
        build_jobs(settings).close()  # fail fast on a bad job store setting
        self.settings = settings
        queue_timeout = (
            None if config.queue_timeout_s is None else timedelta(seconds=config.queue_timeout_s)
        )
        self.app = create_app(
            lambda: build_jobs(settings),
            clock=clock,
            max_time_limit_s=config.max_time_limit_s,
            queue_timeout=queue_timeout,
            max_request_bytes=config.max_request_bytes,
            caller=access.caller,
        )
        self.pool = WorkerPool(
            lambda: build_jobs(settings),
            workers=config.workers,
            lease=timedelta(seconds=config.lease_s),
            processes=config.processes,
            clock=clock,
        )
        from osed.runtime.embedded_api import EmbeddedApi

        self._api = EmbeddedApi(
            access.guard(self.app), config.host, config.port, what="balancer API"
        )
        self._access = access

    async def start(self) -> None:
        self._access.prepare()
        self.pool.start()
        try:
            await self._api.start()
        except BaseException:
            await asyncio.to_thread(self.pool.stop)
            raise

    async def stop(self) -> None:
        await self._api.stop()
        await asyncio.to_thread(self.pool.stop)

    def ready(self) -> bool:
        return self._api.ready() and self.pool.alive()


def build_edc_store(settings: Settings) -> EdcStateStore:
    """Where the EDC manager keeps its EDCs: an SQLite file or PostgreSQL."""
    if settings.edc.backend == "sqlite":
        from osed.storage.edc_sqlite import SqliteEdcStateStore

        return SqliteEdcStateStore(
            settings.edc.sqlite_path, synchronous=settings.edc.sqlite_synchronous
        )
    if settings.storage.postgres_dsn is None:
        raise ConfigurationError("storage.postgres_dsn is required for the postgres EDC store")
    from osed.storage.postgres import PostgresEdcStateStore

    return PostgresEdcStateStore(settings.storage.postgres_dsn.get_secret_value())


class EdcManagerRunner:
    """The EDC manager (resuming its stored EDCs), its REST API (behind the process' token
    check), and what it follows on the bus: the estimated grid state (with a network model)
    and, when enabled, the grid intelligence."""

    name = "edc-manager"

    def __init__(self, settings: Settings, bus: Bus, clock: Clock, access: ApiAccess) -> None:
        from osed.edge.api import create_app
        from osed.edge.estimate_follower import EstimateFollower
        from osed.edge.intelligence_areas import AreaMap
        from osed.edge.manager import EdcManager
        from osed.runtime.embedded_api import EmbeddedApi

        config = settings.edc
        network = None
        if config.network:
            network = _load_network(config.network, at="$.edc.network")
        edc_areas = None if network is None else AreaMap(network)
        areas = None
        if settings.intelligence.enabled:
            areas = _intelligence_areas(settings, edc_areas)
        self.store = build_edc_store(settings)
        self.manager = EdcManager(
            bus,
            self.store,
            clock=clock,
            control_cycle=timedelta(seconds=config.control_cycle_s),
            response_deadline=timedelta(seconds=config.response_deadline_s),
            dead_letter_prefix=config.dead_letter_prefix,
            element_exists=None if network is None else network.has,
            areas=edc_areas or areas,
            grid_state_max_age=timedelta(seconds=config.grid_state_max_age_s),
        )
        self.follower: EstimateFollower | None = None
        follow_areas = edc_areas or areas
        if config.estimation_prefix and follow_areas is not None:
            self.follower = EstimateFollower(
                bus, self.manager, follow_areas, config.estimation_prefix
            )
        self.intelligence: GridIntelligence | None = None
        self.decisions: DecisionStore | None = None
        if areas is not None:
            self.decisions = build_decision_store(settings)
            self.intelligence = _intelligence(
                settings,
                bus,
                clock,
                self.manager,
                areas=areas,
                store=self.decisions,
                feed_state=self.follower is None,
            )
        app = create_app(
            self.manager,
            max_request_bytes=config.max_request_bytes,
            decisions=self.decisions,
            caller=access.caller,
        )
        self.api = EmbeddedApi(access.guard(app), config.host, config.port, what="EDC manager API")
        self._access = access

    async def start(self) -> None:
        self._access.prepare()
        await self.manager.start()
        try:
            if self.follower is not None:
                await self.follower.start()
            else:
                log.info(
                    "the EDC manager follows no estimates (edc.estimation_prefix, edc.network)"
                )
            if self.intelligence is not None:
                await self.intelligence.start()
            await self.api.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        try:
            await self.api.stop()
            if self.intelligence is not None:
                await self.intelligence.stop()
            if self.follower is not None:
                await self.follower.stop()
            await self.manager.stop()
        finally:
            self.store.close()
            if self.decisions is not None:
                self.decisions.close()

    def ready(self) -> bool:
        return self.manager.ready() and self.api.ready()


def build_decision_store(settings: Settings) -> DecisionStore:
    """The grid intelligence's decision log, beside the EDC state (same file or database)."""
    if settings.edc.backend == "sqlite":
        from osed.storage.intelligence_sqlite import SqliteDecisionStore

        return SqliteDecisionStore(settings.edc.sqlite_path)
    if settings.storage.postgres_dsn is None:
        raise ConfigurationError("storage.postgres_dsn is required for the postgres EDC store")
    from osed.storage.postgres import PostgresDecisionStore

    return PostgresDecisionStore(settings.storage.postgres_dsn.get_secret_value())


def _intelligence_areas(settings: Settings, edc_areas: AreaMap | None) -> AreaMap:
    """The areas of the intelligence's network (``intelligence.network``, else
    ``edc.network``, loaded once): checked before anything is opened or written."""
    from osed.edge.intelligence_areas import AreaMap

    config = settings.intelligence
    spec = config.network or settings.edc.network
    if not spec:
        raise ValidationError(
            [
                Problem(
                    "$.intelligence.network",
                    "required",
                    "the grid intelligence needs a network (intelligence.network or edc.network)",
                )
            ],
            subject="settings",
        )
    if edc_areas is not None and spec == settings.edc.network:
        return edc_areas
    return AreaMap(_load_network(spec, at="$.intelligence.network"))


def _intelligence(
    settings: Settings,
    bus: Bus,
    clock: Clock,
    manager: EdcManager,
    *,
    areas: AreaMap,
    store: DecisionStore,
    feed_state: bool,
) -> GridIntelligence:
    from osed.edge.intelligence import GridIntelligence, IntelligenceConfig

    config = settings.intelligence
    return GridIntelligence(
        bus,
        manager,
        areas,
        store,
        IntelligenceConfig(
            rules=config.rules(),
            estimation_prefix=config.estimation_prefix,
            forecast_topic=config.forecast_topic,
            decision_topic=config.decision_topic,
            edc_prefix=config.edc_prefix,
            functions={k: tuple(v) for k, v in config.functions.items()},
            import_limit_share=config.import_limit_share,
            parameters=config.parameters,
            feed_state=feed_state,
        ),
        clock=clock,
    )


def build_timeseries(settings: Settings) -> TimeSeriesStore:
    storage = settings.storage
    if storage.backend == "sqlite":
        return SqliteTimeSeriesStore(storage.sqlite_path)
    if storage.postgres_dsn is None:
        raise ConfigurationError("storage.postgres_dsn is required for the postgres backend")
    from osed.storage.postgres import PostgresTimeSeriesStore

    return PostgresTimeSeriesStore(storage.postgres_dsn.get_secret_value())


class BridgeRunner:
    """The MQTT bridge with its field-broker feed, outboxes, positions and time-series store."""

    name = "bridge"

    def __init__(self, settings: Settings, bus: Bus, clock: Clock, state_dir: Path) -> None:
        pipelines = settings.bridge.pipelines_file
        if pipelines is None:
            raise ConfigurationError("bridge.pipelines_file is required to run the bridge")
        from osed.bridge.config import load_config_file
        from osed.bridge.mqtt_raw import RawMqttFeed, endpoint
        from osed.bridge.service import BridgeService

        field = settings.bridge.field
        state_dir.mkdir(parents=True, exist_ok=True)
        self.store = build_timeseries(settings)
        feed = RawMqttFeed(
            endpoint(
                field.host,
                field.port,
                username=field.username,
                password=field.password.get_secret_value() if field.password else None,
                tls_ca=field.tls_ca_file,
            ),
            client_id=field.client_id,
        )
        self.service = BridgeService(
            load_config_file(pipelines),
            bus,
            raw_feed=feed,
            store=self.store,
            outboxes=lambda source: SqliteOutbox(state_dir / f"outbox-{source}.sqlite", source),
            positions=SqlitePositions(positions_path(state_dir, "bridge")),
            clock=clock,
        )

    async def start(self) -> None:
        await self.service.start()

    async def stop(self) -> None:
        try:
            await self.service.stop()
        finally:
            self.store.close()

    def ready(self) -> bool:
        return self.service.ready()


def stats_config(settings: StatsSettings) -> StatsConfig:
    return StatsConfig(
        inputs=tuple(settings.inputs),
        period=timedelta(seconds=settings.period_s),
        lateness=timedelta(seconds=settings.lateness_s),
        idle=None if settings.idle_s is None else timedelta(seconds=settings.idle_s),
        output_topic=settings.output_topic,
        fields=tuple(settings.fields),
        series=settings.series if settings.store else None,
        name=settings.name,
        dead_letter_prefix=settings.dead_letter_prefix,
    )


class StatsRunner:
    """The statistics service with its outbox, positions (and horizon) and time-series store."""

    name = "stats"

    def __init__(self, settings: Settings, bus: Bus, clock: Clock, state_dir: Path) -> None:
        config = stats_config(settings.stats)
        state_dir.mkdir(parents=True, exist_ok=True)
        self.store = build_timeseries(settings) if config.series is not None else None
        self.outbox = SqliteOutbox(state_dir / f"outbox-{config.name}.sqlite", config.name)
        self.positions = SqlitePositions(positions_path(state_dir, "stats"))
        self.service = StatsService(
            config,
            bus,
            store=self.store,
            outbox=self.outbox,
            positions=self.positions,
            clock=clock,
        )

    async def start(self) -> None:
        await self.service.start()

    async def stop(self) -> None:
        try:
            await self.service.stop()
        finally:
            self.outbox.close()
            self.positions.close()
            if self.store is not None:
                self.store.close()

    def ready(self) -> bool:
        return self.service.ready()


def estimation_config(settings: EstimationSettings) -> EstimationConfig:
    if not settings.network:
        raise ValidationError(
            [Problem("$.estimation.network", "required", "a network file or pandapower:<name>")],
            subject="settings",
        )
    return settings.to_config()


class EstimationRunner:
    """The state-estimation service with its network, outbox, positions (and horizon),
    time-series store and graph file (``<state_dir>/<name>-graph.json``)."""

    name = "estimation"

    def __init__(self, settings: Settings, bus: Bus, clock: Clock, state_dir: Path) -> None:
        config = estimation_config(settings.estimation)
        network = _load_network(config.network)
        state_dir.mkdir(parents=True, exist_ok=True)
        self.store = build_timeseries(settings) if config.store else None
        self.outbox = SqliteOutbox(state_dir / f"outbox-{config.name}.sqlite", config.name)
        self.positions = SqlitePositions(positions_path(state_dir, "estimation"))
        try:
            self.service = EstimationService(
                config,
                network,
                bus,
                store=self.store,
                outbox=self.outbox,
                positions=self.positions,
                clock=clock,
                graph_path=state_dir / f"{config.name}-graph.json",
            )
        except ValidationError as exc:  # sensors the network cannot take
            self._close()
            raise ValidationError(
                [Problem("$.estimation" + p.path[1:], p.code, p.message) for p in exc.problems],
                subject="settings",
            ) from None
        except BaseException:
            self._close()
            raise

    async def start(self) -> None:
        await self.service.start()

    async def stop(self) -> None:
        try:
            await self.service.stop()
        finally:
            self._close()

    def _close(self) -> None:
        self.outbox.close()
        self.positions.close()
        if self.store is not None:
            self.store.close()

    def ready(self) -> bool:
        return self.service.ready()


def load_network_setting(spec: str, *, at: str) -> Network:
    """A network named by the setting at ``at`` (its problems reported at that path)."""
    return _load_network(spec, at=at)


def _load_network(spec: str, *, at: str = "$.estimation.network") -> Network:
    """A network from settings; a problem reads as one of the setting ``at``."""
    try:
        return load_network(spec)
    except ValidationError as exc:
        raise ValidationError(
            [Problem(at, p.code, f"{p.path}: {p.message}") for p in exc.problems],
            subject="settings",
        ) from None
    except OsedError as exc:  # an optional importer missing, say
        raise ValidationError(
            [Problem(at, "unloadable", f"{spec}: {exc}")], subject="settings"
        ) from None


def build_services(
    settings: Settings,
    names: list[ServiceName],
    *,
    clock: Clock | None = None,
    state_dir: Path = Path("osed-state"),
) -> list[Service]:
    """The bus, then each named service, ready to start in that order."""
    clock = clock or SystemClock()
    access = None
    if {"api", "edc-manager", "balancer"} & set(names):
        from osed.runtime.api_access import api_access  # REST services need the api extra

        access = api_access(settings, state_dir)
    bus = build_bus(settings, clock, client_id="-".join(names) or "osed")
    services: list[Service] = [BusService(bus)]
    for name in names:
        if name == "api":
            continue  # built last: it serves the others
        if name == "market-agent":
            services.append(MarketAgentRunner(settings, bus, clock, state_dir))
        elif name == "bridge":
            services.append(BridgeRunner(settings, bus, clock, state_dir))
        elif name == "stats":
            services.append(StatsRunner(settings, bus, clock, state_dir))
        elif name == "estimation":
            services.append(EstimationRunner(settings, bus, clock, state_dir))
        elif name == "balancer":
            assert access is not None
            services.append(BalancerRunner(settings, clock, access))
        elif name == "edc-manager":
            assert access is not None
            services.append(EdcManagerRunner(settings, bus, clock, access))
        elif name == "studies":
            from osed.runtime.studies import StudiesRunner  # the simulation extra

            services.append(StudiesRunner(settings, clock, state_dir))
        elif name in ("building", "buildings"):
            from osed.runtime.buildings import BuildingAgentsRunner

            single = name == "building"
            services.append(BuildingAgentsRunner(settings.buildings, bus, clock, single=single))
    if "api" in names:
        from osed.runtime.platform_api import PlatformApiRunner

        assert access is not None
        services.append(PlatformApiRunner(settings, bus, clock, list(services), access))
    return services
