"""The platform API over real parts: an EDC manager on a memory bus with an SQLite state store,
an SQLite job store, scenario runs on it (checked and queued; no worker plays them here:
tests/unit/api/test_studies.py runs them), a bilateral market's Market Agent with an SQLite
ledger, an SQLite time-series store, the CIGRE MV network, building agents on simulated
devices (one of alice's, one of bob's, one of no party), and a token validator that knows a
few fixed opaque tokens (a real implementation of the port, for tests)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from fastapi import FastAPI

from osed.agents.bus_service import MarketAgentService
from osed.agents.market_agent import MarketAgent
from osed.agents.units import MarketUnits
from osed.api.app import Balancer, Parts, Studies, create_app, event_feeds
from osed.api.buildings import OwnedBuilding
from osed.bus.memory import MemoryBus
from osed.domain.envelope import Envelope
from osed.domain.errors import AuthenticationError
from osed.domain.identity import Principal, Role
from osed.domain.time import ManualClock
from osed.edge.building.agent import AgentSettings, BuildingAgent
from osed.edge.manager import EdcManager
from osed.grid.imports.files import load_network
from osed.markets.registry import create_market
from osed.ports.timeseries import TimeSeriesPoint
from osed.runtime.studies import BUNDLED, JobStudies
from osed.storage.edc_sqlite import SqliteEdcStateStore
from osed.storage.idempotency_sqlite import SqliteIdempotencyStore
from osed.storage.jobs_sqlite import SqliteJobStore
from osed.storage.sqlite import SqliteLedgerStore
from osed.storage.timeseries_sqlite import SqliteTimeSeriesStore
from tests.unit.edge import probe
from tests.unit.edge.building import neighbourhood as homes

NETWORK = Path(__file__).parents[3] / "examples" / "grid" / "cigre-mv.json"
START = datetime(2026, 7, 1, tzinfo=UTC)
SLOT = timedelta(minutes=15)
UNITS = MarketUnits(price_scale=4, quantity_scale=3, currency="USD", resolution=SLOT)
MARKET = "m1"
BUILDING_PARTIES = {"b-alice": "alice", "b-bob": "bob", "b-grid": None}
"""Each test building and the party it belongs to (b-grid: none, the operators' only)."""
PARTY_SERIES = {
    "party/alice/contract/power": "alice",
    "building/b-bob/meter/power": "bob",
    "building/b-grid/meter/power": None,
    "building/elsewhere/meter/power": None,
}
"""Stored series that are a party's, and whose (None: the operators' only)."""

PRINCIPALS = {
    "admin-token": Principal("ada", frozenset({Role.ADMIN}), issuer="test"),
    "operator-token": Principal("olga", frozenset({Role.OPERATOR}), issuer="test"),
    "viewer-token": Principal("vic", frozenset({Role.VIEWER}), issuer="test"),
    "alice-token": Principal("alice", frozenset({Role.PARTICIPANT}), party="alice", issuer="test"),
    "bob-token": Principal("bob", frozenset({Role.PARTICIPANT}), party="bob", issuer="test"),
    "gm-token": Principal(
        "gina", frozenset({Role.GRID_MANAGER}), areas=frozenset({"trafo0"}), issuer="test"
    ),
}


class FixedTokens:
    """A :class:`~osed.ports.identity.TokenValidator` that knows fixed opaque tokens."""

    def __init__(self, principals: dict[str, Principal]) -> None:
        self.principals = principals
        self.asked = 0

    async def principal(self, token: str) -> Principal:
        self.asked += 1
        found = self.principals.get(token)
        if found is None:
            raise AuthenticationError("the token is not one this validator issued")
        return found


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def tender_body(tender_id: str, side: str, price: int, quantity: int, k: int = 0) -> dict[str, Any]:
    start = (START + k * SLOT).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "tender": {
            "tenderId": tender_id,
            "side": side,
            "tenderDetail": {
                "interval": {
                    "interval": {"dtStart": start, "duration": "PT15M"},
                    "price": price,
                    "quantity": quantity,
                }
            },
            "priceScale": 4,
            "quantityScale": 3,
            "currency": "USD",
        }
    }


@dataclass
class Platform:
    app: FastAPI
    bus: MemoryBus
    manager: EdcManager
    agent: MarketAgent
    validator: Any
    """FixedTokens unless the test gave another validator."""
    buildings: list[OwnedBuilding] = field(default_factory=list)
    published: list[Envelope] = field(default_factory=list)

    async def start(self) -> None:
        """What the runtime starts before the API: the EDC manager and the building agents."""
        await self.manager.start()
        for owned in self.buildings:
            await owned.agent.start()

    async def stop(self) -> None:
        for owned in self.buildings:
            await owned.agent.stop()
            await owned.agent.gateway.close()
        await self.manager.stop()


def building_agents(bus: MemoryBus) -> list[OwnedBuilding]:
    """A house with a battery and a heating zone per entry of :data:`BUILDING_PARTIES`, each
    on its own simulated devices, planned by an agent on ``bus``."""
    clock = ManualClock(homes.START)
    settings = AgentSettings(homes.STEPS, homes.STEP_H, homes.TARIFF, plan_time_limit_s=None)
    owned = []
    for ident, party in BUILDING_PARTIES.items():
        house = homes.building(ident, [1.0] * homes.STEPS, [homes.battery(), homes.heating()])
        agent = BuildingAgent(house, homes.gateway(house), bus, {}, settings, clock=clock)
        owned.append(OwnedBuilding(agent, party))
    return owned


class StartedMemoryBus(MemoryBus):
    """A memory bus that is up from the start (its owner would start it)."""

    def __init__(self) -> None:
        super().__init__()
        self._started = True


def build(tmp_path: Path, **options: Any) -> Iterator[Platform]:
    """Every part, opened in the calling thread (the API's lifespan opens its own stores);
    ``options`` go to ``create_app`` (``validator``: another than the fixed tokens)."""
    bus = StartedMemoryBus()
    clock = ManualClock(START - timedelta(hours=1))
    edc_store = SqliteEdcStateStore(tmp_path / "edc.sqlite")
    manager = EdcManager(
        bus,
        edc_store,
        control_cycle=timedelta(hours=1),
        load_function=probe.load_function,
        function_names=probe.function_names,
    )
    ledger = SqliteLedgerStore(tmp_path / "ledger.sqlite")
    agent = MarketAgent(
        market_id=MARKET, market=create_market("bilateral"), ledger=ledger, clock=clock, units=UNITS
    )
    sequence = itertools.count(1)

    async def publish(topic: str, payload: bytes) -> None:
        await bus.publish(Envelope(topic, "market-agent", next(sequence), payload, clock.now()))

    async def subscribe(*_: Any) -> Any:
        raise AssertionError("the API serves requests itself")

    service = MarketAgentService(agent=agent, publish=publish, subscribe=subscribe, interval=SLOT)
    series_path = tmp_path / "series.sqlite"
    with SqliteTimeSeriesStore(series_path) as series:
        series.write(
            [
                TimeSeriesPoint(
                    f"meter{m}/grid/power/ABC",
                    START + k * timedelta(minutes=5),
                    float(10 * m + k),
                    "W",
                    START + k * timedelta(minutes=5),
                    "bridge",
                )
                for m in range(3)
                for k in range(12)
            ]
            + [TimeSeriesPoint(name, START, 1.0, "kW", START, "meter") for name in PARTY_SERIES]
        )
    markets = {MARKET: service}
    buildings = building_agents(bus)
    parts = Parts(
        edc_manager=manager,
        balancer=Balancer(lambda: SqliteJobStore(tmp_path / "jobs.sqlite"), max_time_limit_s=5.0),
        studies=Studies(
            lambda: JobStudies(SqliteJobStore(tmp_path / "jobs.sqlite"), tmp_path / "runs"),
            bundled=BUNDLED,
        ),
        markets=markets,
        ledger=ledger,
        series=lambda: SqliteTimeSeriesStore(series_path),
        network=load_network(NETWORK),
        bus=bus,
        feeds=event_feeds(markets, estimation_prefix="se", decision_topic="osed/decisions"),
        buildings=tuple(buildings),
    )
    validator = options.pop("validator", None) or FixedTokens(PRINCIPALS)
    app = create_app(
        parts,
        validator=validator,
        idempotency=lambda: SqliteIdempotencyStore(tmp_path / "keys.sqlite"),
        max_request_bytes=64 * 1024,
        **options,
    )
    try:
        yield Platform(app, bus, manager, agent, validator, buildings)
    finally:
        ledger.close()
        edc_store.close()


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    yield from build(tmp_path)


@pytest.fixture
async def client(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    await platform.start()
    try:
        async with platform.app.router.lifespan_context(platform.app):
            transport = httpx.ASGITransport(app=platform.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://osed") as made:
                yield made
    finally:
        await platform.stop()


Ask = Callable[..., Any]
