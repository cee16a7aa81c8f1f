"""The world the access matrix runs in: ``osed serve``'s services (Market Agent, EDC manager,
balancer, building agents on simulated devices, the platform API) started from one settings
file; three participants (parties a, b, c), two grid managers (areas x and y: the CIGRE
network's trafo0 and trafo1), a viewer and an operator, each with a real token of the local
issuer; and each party's rows: tenders and transactions, an open quote, a building with a
battery, series of its own. A building and a series of no party are the operators' only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx

from osed.api.events import Feed
from osed.devices.simulated import SimulatedGateway
from osed.domain.identity import Role
from osed.ports.timeseries import TimeSeriesPoint
from osed.storage.timeseries_sqlite import SqliteTimeSeriesStore
from tests.unit.api.conftest import bearer
from tests.unit.api.runtime_served import Running, running
from tests.unit.edge.building.neighbourhood import battery

PARTIES = ("a", "b", "c")
AREAS = {"x": "trafo0", "y": "trafo1"}
EDC_OF = {"x": "ex", "y": "ey"}
PARTICIPANTS = tuple(f"participant-{p}" for p in PARTIES)
MANAGERS = tuple(f"manager-{a}" for a in AREAS)
OUTSIDERS = ("viewer", *MANAGERS)
"""Principals of no party: they read no party's rows and change none."""
EVERYONE = ("viewer", *PARTICIPANTS, *MANAGERS, "operator")
MARKET = "/api/v1/markets/m1"
TOMORROW = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
SLOT = timedelta(minutes=15)

# (tender id, party, side, price, quantity, slot): a and b trade in slot 0, c and a in slot 1;
# each party keeps one tender open in slot 2.
TENDERS = [
    ("a-buy-0", "a", "BUY", 2000, 1000, 0),
    ("b-sell-0", "b", "SELL", 1000, 1000, 0),
    ("c-sell-1", "c", "SELL", 1000, 500, 1),
    ("a-buy-1", "a", "BUY", 2000, 500, 1),
    ("a-open", "a", "SELL", 9000, 100, 2),
    ("b-open", "b", "BUY", 100, 300, 2),
    ("c-open", "c", "BUY", 50, 200, 2),
]
OPEN_TENDER = {"a": "a-open", "b": "b-open", "c": "c-open"}
QUOTE = {party: f"{party}-quote" for party in PARTIES}
"""Each party's open quote: it sells 5 kWh in slot 4 at 0.1 USD/kWh."""
BUILDING = {"a": "b-a", "b": "b-b", "c": "b-c", None: "b-grid"}
"""Each party's building (None: the building of no party)."""
SERIES = {
    **{f"party/{p}/contract/power": p for p in PARTIES},
    **{f"building/{b}/meter/power": p for p, b in BUILDING.items()},
    "building/elsewhere/meter/power": None,  # a building the process does not run
}
"""Stored series that are a party's, and whose (None: the operators' only)."""
NETWORK_SERIES = "feeder1/grid/power"
END = Feed("se/summary", "grid.estimate")
STEPS = 4


def tender(tender_id: str, side: str, price: int, quantity: int, slot: int) -> dict[str, Any]:
    start = (TOMORROW + slot * SLOT).strftime("%Y-%m-%dT%H:%M:%SZ")
    interval = {"interval": {"dtStart": start, "duration": "PT15M"}}
    return {
        "tender": {
            "tenderId": tender_id,
            "side": side,
            "tenderDetail": {"interval": {**interval, "price": price, "quantity": quantity}},
            "priceScale": 4,
            "quantityScale": 3,
            "currency": "USD",
        }
    }


def quote(quote_id: str) -> dict[str, Any]:
    return {
        "quote": {
            "quoteId": quote_id,
            "tender": tender(f"t-{quote_id}", "SELL", 1000, 5000, 4)["tender"],
        }
    }


def rfq(rfq_id: str) -> dict[str, Any]:
    start = (TOMORROW + 4 * SLOT).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "rfq": {
            "rfqId": rfq_id,
            "side": "BUY",
            "boundingInterval": {"dtStart": start, "duration": "PT1H"},
        }
    }


def buildings_document() -> dict[str, Any]:
    """A house with a battery per entry of :data:`BUILDING`, on simulated devices that move
    only when a test steps them; its agent plans once at start (the next cycle is an hour
    away), so what the API shows of it holds still."""
    agents = []
    for party, ident in BUILDING.items():
        house = {"id": ident, "base_kw": [1.0] * STEPS, "devices": [battery()]}
        simulated = {"steps": STEPS, "step_h": 1.0, "building": house}
        agent: dict[str, Any] = {
            "building": house,
            "cycle_s": 3600.0,
            "gateway": {"adapter": "simulated", **simulated},
        }
        if party is not None:
            agent["party"] = party
        agents.append(agent)
    return {"steps": STEPS, "step_h": 1.0, "tariff_per_kwh": [0.1, 0.3, 0.2, 0.1], "agents": agents}


def store_series(path: Path) -> None:
    """The series the store holds when the API starts: each party's, and the network's."""
    at = TOMORROW - timedelta(days=1)
    names = [NETWORK_SERIES, *SERIES]
    with SqliteTimeSeriesStore(path) as store:
        store.write([TimeSeriesPoint(name, at, 1.0, "kW", at, "meter") for name in names])


class World:
    """The running services, a token per principal, an HTTP client, and every call made."""

    def __init__(self, run: Running, client: httpx.AsyncClient) -> None:
        self.run = run
        self.client = client
        issuer = run.local_issuer()
        self.tokens = {"viewer": self._issue(issuer, "viewer", [Role.VIEWER])}
        self.tokens["operator"] = self._issue(issuer, "operator", [Role.OPERATOR])
        for party in PARTIES:
            name = f"participant-{party}"
            self.tokens[name] = self._issue(issuer, name, [Role.PARTICIPANT], party=party)
        for area, element in AREAS.items():
            name = f"manager-{area}"
            self.tokens[name] = self._issue(issuer, name, [Role.GRID_MANAGER], areas=[element])
        self.calls: list[tuple[str, str, str]] = []
        """(principal, method, path) of each request made with a token."""
        self._keys = 0

    @staticmethod
    def _issue(issuer: Any, subject: str, roles: list[Role], **claims: Any) -> str:
        return str(
            issuer.issue(subject=subject, audience="osed", roles=roles, **claims).access_token
        )

    async def call(
        self, who: str, method: str, path: str, body: Any = None, **params: Any
    ) -> httpx.Response:
        self.calls.append((who, method, path))
        self._keys += 1
        headers = {**bearer(self.tokens[who]), "Idempotency-Key": f"k-{self._keys}"}
        return await self.client.request(
            method, path, json=body, headers=headers, params=params or None
        )

    async def items(self, who: str, path: str, **params: Any) -> list[dict[str, Any]]:
        answer = await self.call(who, "GET", path, **params)
        assert answer.status_code == 200, (who, path, answer.text)
        return list(answer.json()["items"])

    def gateway(self, party: str | None) -> SimulatedGateway:
        """The simulated devices of ``party``'s building."""
        runner = self.run.service("buildings")
        at = [a.building.id for a in runner.agents].index(BUILDING[party])
        found = runner.gateways[at]
        assert isinstance(found, SimulatedGateway)
        return found

    def applied(self) -> dict[str | None, int]:
        """How many commands each party's building's devices have applied."""
        return {party: sum(self.gateway(party).applications.values()) for party in BUILDING}

    def traced(self) -> int:
        """How many messages the Market Agent has recorded: a request refused by the API
        never reaches it."""
        ledger = self.run.service("market-agent").ledger
        ledger.flush()
        return len(list(ledger.traces()))

    async def open_rows(self) -> dict[str, Any]:
        """The market's open tenders and quotes (with what is left), its ledger's head."""
        tenders = await self.items("operator", f"{MARKET}/tenders")
        quotes = await self.items("operator", f"{MARKET}/quotes")
        head = await self.call("operator", "GET", "/api/v1/ledger")
        return {
            "tenders": sorted(row["tender_id"] for row in tenders),
            "quotes": sorted((row["quote_id"], row["remaining"]) for row in quotes),
            "ledger": head.json()["head"],
            "traced": self.traced(),
        }


SERVICES = ["market-agent", "edc-manager", "balancer", "buildings", "studies", "api"]


@asynccontextmanager
async def world_running(tmp_path: Path) -> AsyncIterator[World]:
    store_series(tmp_path / "osed.sqlite")  # the runtime's storage.sqlite_path
    async with (
        running(tmp_path, SERVICES, buildings=buildings_document()) as run,
        httpx.AsyncClient(base_url=run.url) as client,
    ):
        made = World(run, client)
        for tender_id, party, side, price, quantity, slot in TENDERS:
            body = {**tender(tender_id, side, price, quantity, slot), "partyId": party}
            answer = await made.call("operator", "POST", f"{MARKET}/tenders", body)
            assert answer.status_code == 201, answer.text
        for party, quote_id in QUOTE.items():
            body = {**quote(quote_id), "partyId": party}
            answer = await made.call("operator", "POST", f"{MARKET}/quotes", body)
            assert answer.status_code == 201, answer.text
        for area, element in AREAS.items():
            body = {"id": EDC_OF[area], "element": element}
            answer = await made.call("operator", "POST", "/api/v1/edcs", body)
            assert answer.status_code == 201, answer.text
        await planned(run)
        # An event everyone is sent, after every transaction: where a replay ends.
        run.service("api").app.state.events.publish(END.kind, END.pattern, b"{}", None)
        made.calls.clear()
        yield made


async def planned(run: Running, within_s: float = 20.0) -> None:
    """Waits for every building agent's first cycle (its plan made, its step counted)."""
    agents = run.service("buildings").agents
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not all(agent.plan is not None and agent.step >= 1 for agent in agents):
        assert loop.time() < deadline, "a building agent made no plan in time"
        await asyncio.sleep(0.01)
