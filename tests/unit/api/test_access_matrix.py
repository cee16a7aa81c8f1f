"""The access matrix over every route of the API: three participants (parties a, b, c), two
grid managers (areas x and y: the CIGRE network's trafo0 and trafo1), a viewer and an
operator, each with a real token of the local issuer, against the runtime's API over HTTP.

Every operation of the OpenAPI document is classified below; a route that is not fails the
first test, so none is added without its row. Then, table-driven: no party reads or changes
another's rows (tenders, transactions, positions, their events), no grid manager changes
another area's EDCs, operator-only operations are the operator's, and public reads are
everyone's."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from osed.api.events import Feed
from osed.domain.identity import Role
from tests.unit.api.conftest import bearer
from tests.unit.api.runtime_served import Running, running


class Access(Enum):
    OPEN = "no token needed"
    PUBLIC = "every role reads it"
    PARTY_READ = "a party's rows: its own party and operators only"
    PARTY_WRITE = "changes a party's rows: its own party and operators only"
    AREA_WRITE = "changes an area's EDC: its grid managers and operators only"
    OPERATOR = "operators only"


ROUTES: dict[tuple[str, str], Access] = {
    ("GET", "/healthz"): Access.OPEN,
    ("GET", "/readyz"): Access.OPEN,
    ("GET", "/.well-known/openid-configuration"): Access.OPEN,
    ("GET", "/.well-known/jwks.json"): Access.OPEN,
    ("GET", "/api/v1/network"): Access.PUBLIC,
    ("GET", "/api/v1/network/graph"): Access.PUBLIC,
    ("GET", "/api/v1/network/nodes"): Access.PUBLIC,
    ("GET", "/api/v1/network/nodes/{node_id}"): Access.PUBLIC,
    ("GET", "/api/v1/network/branches"): Access.PUBLIC,
    ("GET", "/api/v1/network/branches/{branch_id}"): Access.PUBLIC,
    ("GET", "/api/v1/network/estimate"): Access.PUBLIC,
    ("GET", "/api/v1/areas"): Access.PUBLIC,
    ("GET", "/api/v1/areas/{element}"): Access.PUBLIC,
    ("GET", "/api/v1/markets"): Access.PUBLIC,
    ("GET", "/api/v1/markets/{market_id}"): Access.PUBLIC,
    ("GET", "/api/v1/markets/{market_id}/book"): Access.PUBLIC,
    ("GET", "/api/v1/markets/{market_id}/quotes"): Access.PUBLIC,
    ("GET", "/api/v1/ledger"): Access.PUBLIC,
    ("GET", "/api/v1/series"): Access.PUBLIC,
    ("GET", "/api/v1/series/data"): Access.PUBLIC,
    ("GET", "/api/v1/optimizations"): Access.PUBLIC,
    ("GET", "/api/v1/optimizations/{job_id}"): Access.PUBLIC,
    ("GET", "/api/v1/optimizations/{job_id}/result"): Access.PUBLIC,
    ("GET", "/api/v1/edcs"): Access.PUBLIC,
    ("GET", "/api/v1/edcs/{edc_id}"): Access.PUBLIC,
    ("GET", "/api/v1/edcs/{edc_id}/functions/{name}"): Access.PUBLIC,
    ("GET", "/api/v1/edcs/{edc_id}/aggregate"): Access.PUBLIC,
    ("GET", "/api/v1/edcs/{edc_id}/grid-state"): Access.PUBLIC,
    ("GET", "/api/v1/grid-functions"): Access.PUBLIC,
    ("GET", "/api/v1/grid-intelligence/decisions"): Access.PUBLIC,
    ("GET", "/api/v1/markets/{market_id}/tenders"): Access.PARTY_READ,
    ("GET", "/api/v1/markets/{market_id}/tenders/{tender_id}"): Access.PARTY_READ,
    ("GET", "/api/v1/markets/{market_id}/transactions"): Access.PARTY_READ,
    ("GET", "/api/v1/markets/{market_id}/positions"): Access.PARTY_READ,
    ("GET", "/api/v1/events"): Access.PARTY_READ,
    ("POST", "/api/v1/markets/{market_id}/tenders"): Access.PARTY_WRITE,
    ("DELETE", "/api/v1/markets/{market_id}/tenders/{tender_id}"): Access.PARTY_WRITE,
    ("POST", "/api/v1/edcs"): Access.AREA_WRITE,
    ("DELETE", "/api/v1/edcs/{edc_id}"): Access.AREA_WRITE,
    ("POST", "/api/v1/edcs/{edc_id}/functions/{name}"): Access.AREA_WRITE,
    ("DELETE", "/api/v1/edcs/{edc_id}/functions/{name}"): Access.AREA_WRITE,
    ("POST", "/api/v1/edcs/{edc_id}/buildings"): Access.AREA_WRITE,
    ("POST", "/api/v1/edcs/{edc_id}/buildings/batch"): Access.AREA_WRITE,
    ("DELETE", "/api/v1/edcs/{edc_id}/buildings/{building_id}"): Access.AREA_WRITE,
    ("PUT", "/api/v1/edcs/{edc_id}/grid-state"): Access.AREA_WRITE,
    ("POST", "/api/v1/optimizations"): Access.OPERATOR,
    ("POST", "/api/v1/optimizations/{job_id}/cancel"): Access.OPERATOR,
    ("GET", "/api/v1/ledger/verification"): Access.OPERATOR,
}

PARTIES = ("a", "b", "c")
AREAS = {"x": "trafo0", "y": "trafo1"}
EDC_OF = {"x": "ex", "y": "ey"}
PARTICIPANTS = tuple(f"participant-{p}" for p in PARTIES)
MANAGERS = tuple(f"manager-{a}" for a in AREAS)
EVERYONE = ("viewer", *PARTICIPANTS, *MANAGERS, "operator")
TOMORROW = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
SLOT = timedelta(minutes=15)


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
END = Feed("se/summary", "grid.estimate")
OPEN_TENDERS = {"a": {"a-open"}, "b": {"b-open"}, "c": {"c-open"}}


class World:
    """The running API, a token per principal and an HTTP client."""

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
        self._keys = 0

    @staticmethod
    def _issue(issuer: Any, subject: str, roles: list[Role], **claims: Any) -> str:
        return str(
            issuer.issue(subject=subject, audience="osed", roles=roles, **claims).access_token
        )

    async def call(
        self, who: str, method: str, path: str, body: Any = None, **params: Any
    ) -> httpx.Response:
        self._keys += 1
        headers = {**bearer(self.tokens[who]), "Idempotency-Key": f"k-{self._keys}"}
        return await self.client.request(
            method, path, json=body, headers=headers, params=params or None
        )

    async def items(self, who: str, path: str, **params: Any) -> list[dict[str, Any]]:
        answer = await self.call(who, "GET", path, **params)
        assert answer.status_code == 200, (who, path, answer.text)
        return list(answer.json()["items"])


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running(tmp_path) as run, httpx.AsyncClient(base_url=run.url) as client:
        made = World(run, client)
        for tender_id, party, side, price, quantity, slot in TENDERS:
            body = {**tender(tender_id, side, price, quantity, slot), "partyId": party}
            answer = await made.call("operator", "POST", "/api/v1/markets/m1/tenders", body)
            assert answer.status_code == 201, answer.text
        for area, element in AREAS.items():
            body = {"id": EDC_OF[area], "element": element}
            answer = await made.call("operator", "POST", "/api/v1/edcs", body)
            assert answer.status_code == 201, answer.text
        # An event everyone is sent, after every transaction: where a replay ends.
        run.service("api").app.state.events.publish(END.kind, END.pattern, b"{}", None)
        yield made


def concrete(path: str) -> str:
    ids = {"market_id": "m1", "edc_id": "ex", "name": "capacity-limit", "job_id": "1"}
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    return path.replace("{", "").replace("}", "")


async def test_every_route_of_the_api_is_in_the_matrix(world: World) -> None:
    schema = (await world.client.get("/api/v1/openapi.json")).json()
    served = {
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    unclassified = sorted(served - set(ROUTES))
    assert not unclassified, f"classify these routes in ROUTES: {unclassified}"
    assert not sorted(set(ROUTES) - served), "ROUTES names routes the API does not serve"


async def test_public_reads_are_everyones_and_open_routes_need_no_token(world: World) -> None:
    for (method, path), access in ROUTES.items():
        if access is Access.OPEN:
            answer = await world.client.request(method, concrete(path))
            assert answer.status_code == 200, (path, answer.status_code)
        if access is not Access.PUBLIC:
            continue
        for who in EVERYONE:
            answer = await world.call(who, method, concrete(path))
            assert answer.status_code not in (401, 403), (who, path, answer.text)


async def test_operator_operations_are_the_operators(world: World) -> None:
    for (method, path), access in ROUTES.items():
        if access is not Access.OPERATOR:
            continue
        for who in EVERYONE:
            answer = await world.call(who, method, concrete(path), {})
            if who == "operator":
                assert answer.status_code != 403, (path, answer.text)
            else:
                assert answer.status_code == 403, (who, path, answer.status_code)


async def test_no_party_reads_anothers_rows(world: World) -> None:
    market = "/api/v1/markets/m1"
    every: dict[str, dict[str, set[str]]] = {"tenders": {}, "transactions": {}, "positions": {}}
    for kind, rows in every.items():
        for row in await world.items("operator", f"{market}/{kind}"):
            rows.setdefault(row["party_id"], set()).add(json.dumps(row, sort_keys=True))
    assert set(every["transactions"]) == set(every["positions"]) == set(PARTIES)
    for party in PARTIES:
        who = f"participant-{party}"
        for kind, rows in every.items():
            seen = await world.items(who, f"{market}/{kind}")
            assert {json.dumps(row, sort_keys=True) for row in seen} == rows[party], (who, kind)
            for other in set(PARTIES) - {party}:
                asked = await world.call(who, "GET", f"{market}/{kind}", party=other)
                assert asked.status_code == 403, (who, kind, other)
        for tender_id, owner, *_ in TENDERS:
            if tender_id not in OPEN_TENDERS[owner]:
                continue
            answer = await world.call(who, "GET", f"{market}/tenders/{tender_id}")
            assert answer.status_code == (200 if owner == party else 404), (who, tender_id)
        parties = {event_party(event) for event in await transaction_events(world, who)}
        assert parties == {party}, (who, parties)
    for who in ("viewer", *MANAGERS):
        for kind in every:
            assert (await world.call(who, "GET", f"{market}/{kind}")).status_code == 403
        assert (await world.call(who, "GET", f"{market}/tenders/a-open")).status_code == 403
        assert await transaction_events(world, who) == []
    operator_sees = {event_party(event) for event in await transaction_events(world, "operator")}
    assert operator_sees == set(PARTIES)


def event_party(event: dict[str, Any]) -> str:
    return str(event["topic"]).rsplit("/", 1)[-1]


async def transaction_events(world: World, who: str) -> list[dict[str, Any]]:
    """The market transactions ``who`` is sent of those kept, up to the end marker."""
    headers = {**bearer(world.tokens[who]), "Last-Event-ID": "0"}
    events: list[dict[str, Any]] = []
    params = {"types": ["market.transaction", END.kind]}
    async with world.client.stream("GET", "/api/v1/events", headers=headers, params=params) as s:
        assert s.status_code == 200
        kind = None
        async for line in s.aiter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind == END.kind:
                return events
            elif line.startswith("data: "):
                events.append(json.loads(line.removeprefix("data: ")))
    raise AssertionError("the stream ended before its end marker")


async def test_no_party_writes_anothers_rows(world: World) -> None:
    market = "/api/v1/markets/m1"

    async def open_ids() -> set[str]:
        return {row["tender_id"] for row in await world.items("operator", f"{market}/tenders")}

    before = await open_ids()
    for party in PARTIES:
        who = f"participant-{party}"
        for other in set(PARTIES) - {party}:
            body = {**tender(f"{party}-as-{other}", "BUY", 10, 10, 3), "partyId": other}
            answer = await world.call(who, "POST", f"{market}/tenders", body)
            assert answer.status_code == 403, (who, other, answer.text)
            for tender_id in OPEN_TENDERS[other]:
                answer = await world.call(who, "DELETE", f"{market}/tenders/{tender_id}")
                assert answer.status_code == 404, (who, tender_id)
    for who in ("viewer", *MANAGERS):
        body = {**tender(f"{who}-t", "BUY", 10, 10, 3), "partyId": "a"}
        assert (await world.call(who, "POST", f"{market}/tenders", body)).status_code == 403
        answer = await world.call(who, "DELETE", f"{market}/tenders/a-open")
        assert answer.status_code == 403
    assert await open_ids() == before  # nothing made, nothing withdrawn
    own = await world.call(
        "participant-b", "POST", f"{market}/tenders", tender("b-own", "BUY", 10, 10, 3)
    )
    assert (own.status_code, own.json()["party_id"]) == (201, "b")
    gone = await world.call("participant-b", "DELETE", f"{market}/tenders/b-own")
    assert gone.status_code in (200, 204), gone.text


def area_writes(edc: str) -> list[tuple[str, str, Any]]:
    """Each area write of ROUTES on the EDC ``edc``, with a body the route takes."""
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/api/v1/edcs/{edc_id}/functions/{name}"): {"parameters": {}},
        ("POST", "/api/v1/edcs/{edc_id}/buildings"): {"building_id": "b1"},
        ("POST", "/api/v1/edcs/{edc_id}/buildings/batch"): {"buildings": [{"building_id": "b2"}]},
        ("PUT", "/api/v1/edcs/{edc_id}/grid-state"): {"voltages_pu": {}, "loading": {}},
    }
    writes = []
    for (method, path), access in ROUTES.items():
        if access is not Access.AREA_WRITE or path == "/api/v1/edcs":
            continue
        filled = path.replace("{edc_id}", edc).replace("{name}", "capacity-limit")
        filled = filled.replace("{building_id}", "b1")
        writes.append((method, filled, bodies.get((method, path))))
    return writes


async def test_no_grid_manager_changes_another_areas_edcs(world: World) -> None:
    async def state(edc: str) -> str:
        answer = await world.call("operator", "GET", f"/api/v1/edcs/{edc}")
        assert answer.status_code == 200
        return json.dumps(answer.json(), sort_keys=True)

    before = {edc: await state(edc) for edc in EDC_OF.values()}
    for area, element in AREAS.items():
        edc = EDC_OF[area]
        outsiders = ["viewer", *PARTICIPANTS, *(f"manager-{a}" for a in AREAS if a != area)]
        for who in outsiders:
            made = await world.call(
                who, "POST", "/api/v1/edcs", {"id": f"{who}-1", "element": element}
            )
            assert made.status_code == 403, (who, element)
            for method, path, body in area_writes(edc):
                answer = await world.call(who, method, path, body)
                assert answer.status_code == 403, (who, method, path, answer.text)
    assert {edc: await state(edc) for edc in EDC_OF.values()} == before
    edcs = {row["id"] for row in await world.items("operator", "/api/v1/edcs")}
    assert edcs == set(EDC_OF.values())
    # Its own area's EDCs a grid manager does change.
    for area, element in AREAS.items():
        who, edc = f"manager-{area}", f"own-{area}"
        made = await world.call(who, "POST", "/api/v1/edcs", {"id": edc, "element": element})
        assert made.status_code == 201, made.text
        for method, path, body in area_writes(edc):
            answer = await world.call(who, method, path, body)
            assert answer.status_code not in (401, 403), (who, method, path, answer.text)
