"""The access matrix over every route of the API, against the runtime's services over HTTP with
real tokens of three participants (parties a, b, c), two grid managers, a viewer and an
operator (``access_world``).

Every operation of the OpenAPI document is classified below; a route that is not fails the
first test, so none is added without its row. Then one table-driven test per kind of access,
each calling every route of its kind as every principal (a route of the kind that no probe
calls fails it): public reads are everyone's; no party reads another's rows, nor reads them
in a shared list (events, series); no party acts for another (tenders, RFQs, quotes,
acceptances) nor changes another's rows (withdrawals, device commands), and nothing is
changed or recorded when it tries; no grid manager changes another area's EDCs;
operator-only operations are the operator's."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

from tests.unit.api.access_world import (
    AREAS,
    BUILDING,
    EDC_OF,
    END,
    EVERYONE,
    MARKET,
    NETWORK_SERIES,
    OPEN_TENDER,
    OUTSIDERS,
    PARTICIPANTS,
    PARTIES,
    QUOTE,
    SERIES,
    TOMORROW,
    World,
    quote,
    rfq,
    tender,
    world_running,
)
from tests.unit.api.conftest import bearer


class Access(Enum):
    OPEN = "no token needed"
    PUBLIC = "every role reads it"
    SHARED_READ = "every role reads it; a party's rows in it only that party and operators"
    PARTY_READ = "a party's rows: its own party and operators only"
    PARTY_WRITE = "acts for the party it names (default the caller's): its own and operators"
    OWNER_WRITE = "changes a row of a party: that party and operators; to others it is 404"
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
    ("GET", "/api/v1/markets/{market_id}/clearings"): Access.PUBLIC,  # summed over parties
    ("GET", "/api/v1/me"): Access.PUBLIC,  # the caller's own principal
    ("GET", "/api/v1/studies"): Access.PUBLIC,
    ("GET", "/api/v1/studies/{study_id}"): Access.PUBLIC,
    ("GET", "/api/v1/studies/{study_id}/report"): Access.PUBLIC,
    ("GET", "/api/v1/studies/{study_id}/data/{table}"): Access.PUBLIC,
    ("GET", "/api/v1/markets/{market_id}/quotes"): Access.PUBLIC,
    ("GET", "/api/v1/markets/{market_id}/quotes/{quote_id}"): Access.PUBLIC,
    ("GET", "/api/v1/ledger"): Access.PUBLIC,
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
    ("GET", "/api/v1/events"): Access.SHARED_READ,
    ("GET", "/api/v1/series"): Access.SHARED_READ,
    ("GET", "/api/v1/series/data"): Access.SHARED_READ,
    ("GET", "/api/v1/markets/{market_id}/tenders"): Access.PARTY_READ,
    ("GET", "/api/v1/markets/{market_id}/tenders/{tender_id}"): Access.PARTY_READ,
    ("GET", "/api/v1/markets/{market_id}/transactions"): Access.PARTY_READ,
    ("GET", "/api/v1/markets/{market_id}/positions"): Access.PARTY_READ,
    ("GET", "/api/v1/buildings"): Access.PARTY_READ,
    ("GET", "/api/v1/buildings/{building_id}"): Access.PARTY_READ,
    ("GET", "/api/v1/buildings/{building_id}/plan"): Access.PARTY_READ,
    ("GET", "/api/v1/buildings/{building_id}/report"): Access.PARTY_READ,
    ("GET", "/api/v1/buildings/{building_id}/devices"): Access.PARTY_READ,
    ("GET", "/api/v1/buildings/{building_id}/devices/{device_id}"): Access.PARTY_READ,
    ("POST", "/api/v1/markets/{market_id}/tenders"): Access.PARTY_WRITE,
    ("POST", "/api/v1/markets/{market_id}/rfqs"): Access.PARTY_WRITE,
    ("POST", "/api/v1/markets/{market_id}/quotes"): Access.PARTY_WRITE,
    ("POST", "/api/v1/markets/{market_id}/quotes/{quote_id}/acceptances"): Access.PARTY_WRITE,
    ("DELETE", "/api/v1/markets/{market_id}/tenders/{tender_id}"): Access.OWNER_WRITE,
    ("DELETE", "/api/v1/markets/{market_id}/quotes/{quote_id}"): Access.OWNER_WRITE,
    ("POST", "/api/v1/buildings/{building_id}/devices/{device_id}/commands"): Access.OWNER_WRITE,
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
    ("POST", "/api/v1/studies"): Access.OPERATOR,
    ("DELETE", "/api/v1/studies/{study_id}"): Access.OPERATOR,
}


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with world_running(tmp_path) as made:
        yield made


def concrete(path: str) -> str:
    ids = {
        "market_id": "m1",
        "edc_id": "ex",
        "name": "capacity-limit",
        "job_id": "1",
        "study_id": "1",
        "table": "grid",
        "quote_id": QUOTE["a"],
        "building_id": BUILDING["a"],
        "device_id": "battery",
    }
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    return path.replace("{", "").replace("}", "")


def route_of(method: str, path: str) -> tuple[str, str] | None:
    """The route of ROUTES that serves ``method path`` (a literal segment before a
    parameter: ``/buildings/batch`` is not ``/buildings/{building_id}``)."""
    fits = [
        (m, template)
        for m, template in ROUTES
        if m == method and re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path)
    ]
    return max(fits, key=lambda route: len(re.sub(r"\{[^}]+\}", "", route[1])), default=None)


def assert_every_route_exercised(world: World, access: Access) -> None:
    """Every route of kind ``access`` was called by every principal: a route of the kind
    added without a probe fails."""
    done = {(who, route_of(method, path)) for who, method, path in world.calls}
    wanted = {(who, route) for route, kind in ROUTES.items() if kind is access for who in EVERYONE}
    missing = sorted((who, *route) for who, route in wanted - done if route is not None)
    assert not missing, f"{access.name} routes not called by these principals: {missing}"


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
    # Every party's open quote is everyone's to read (and to accept).
    for who in EVERYONE:
        listed = await world.items(who, f"{MARKET}/quotes")
        assert {row["quote_id"] for row in listed} == set(QUOTE.values()), who
    assert_every_route_exercised(world, Access.PUBLIC)


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
    assert_every_route_exercised(world, Access.OPERATOR)


PARTY_LISTS = {
    ("GET", "/api/v1/markets/{market_id}/tenders"): f"{MARKET}/tenders",
    ("GET", "/api/v1/markets/{market_id}/transactions"): f"{MARKET}/transactions",
    ("GET", "/api/v1/markets/{market_id}/positions"): f"{MARKET}/positions",
    ("GET", "/api/v1/buildings"): "/api/v1/buildings",
}
"""The lists of party rows (each row with its ``party_id``; ``?party=`` filters)."""


def building_path(tail: str) -> tuple[tuple[str | None, ...], Callable[[str | None], str]]:
    return tuple(BUILDING), lambda party: f"/api/v1/buildings/{BUILDING[party]}{tail}"


PARTY_ROWS: dict[tuple[str, str], tuple[tuple[str | None, ...], Callable[[Any], str]]] = {
    ("GET", "/api/v1/markets/{market_id}/tenders/{tender_id}"): (
        PARTIES,
        lambda party: f"{MARKET}/tenders/{OPEN_TENDER[party]}",
    ),
    ("GET", "/api/v1/buildings/{building_id}"): building_path(""),
    ("GET", "/api/v1/buildings/{building_id}/plan"): building_path("/plan"),
    ("GET", "/api/v1/buildings/{building_id}/report"): building_path("/report"),
    ("GET", "/api/v1/buildings/{building_id}/devices"): building_path("/devices"),
    ("GET", "/api/v1/buildings/{building_id}/devices/{device_id}"): building_path(
        "/devices/battery"
    ),
}
"""Each read of one party row: the parties with such a row (None: a row of no party, the
operators' only), and the path of each one's."""


def row_status(who: str, owner: str | None) -> int:
    """A party's row is read by its participant and the operator; to another participant it
    is as unknown (404); a principal of no party reads no party's rows (403)."""
    if who in OUTSIDERS:
        return 403
    if who == "operator":
        return 200
    return 200 if owner is not None and who == f"participant-{owner}" else 404


async def test_no_party_reads_anothers_rows(world: World) -> None:
    for route, access in ROUTES.items():
        if access is not Access.PARTY_READ:
            continue
        assert route in PARTY_LISTS or route in PARTY_ROWS, f"no probe for {route}"
    for path in PARTY_LISTS.values():
        every: dict[str | None, set[str]] = {}
        for row in await world.items("operator", path):
            every.setdefault(row["party_id"], set()).add(json.dumps(row, sort_keys=True))
        assert set(PARTIES) <= set(every), (path, sorted(map(str, every)))
        for party in PARTIES:
            who = f"participant-{party}"
            seen = {json.dumps(row, sort_keys=True) for row in await world.items(who, path)}
            assert seen == every[party], (who, path)
            assert len(await world.items(who, path, party=party)) == len(every[party])
            for other in set(PARTIES) - {party}:
                asked = await world.call(who, "GET", path, party=other)
                assert asked.status_code == 403, (who, path, other)
        for who in OUTSIDERS:
            assert (await world.call(who, "GET", path)).status_code == 403, (who, path)
    for owners, path_of in PARTY_ROWS.values():
        for owner in owners:
            for who in EVERYONE:
                answer = await world.call(who, "GET", path_of(owner))
                assert answer.status_code == row_status(who, owner), (who, path_of(owner))
    assert_every_route_exercised(world, Access.PARTY_READ)


async def test_shared_reads_hold_only_the_callers_party_rows(world: World) -> None:
    # Events: each party gets its own transactions only, everyone the network's.
    for who in EVERYONE:
        parties = {event_party(event) for event in await transaction_events(world, who)}
        expected = set(PARTIES) if who == "operator" else set()
        if who in PARTICIPANTS:
            expected = {who.removeprefix("participant-")}
        assert parties == expected, (who, parties)
    # Series: a party's are listed and read by that party and operators; to anybody else
    # they do not exist, as an unknown series.
    span = {
        "start": (TOMORROW - timedelta(days=2)).isoformat(),
        "end": TOMORROW.isoformat(),
    }
    for who in EVERYONE:
        readable = {NETWORK_SERIES} | {
            name for name, owner in SERIES.items() if row_status(who, owner) == 200
        }
        listed = {row["series_id"] for row in await world.items(who, "/api/v1/series")}
        assert listed == readable, who
        for name in [NETWORK_SERIES, *SERIES]:
            answer = await world.call(who, "GET", "/api/v1/series/data", series=name, **span)
            assert answer.status_code == (200 if name in readable else 404), (who, name)
            if answer.status_code == 200:
                assert [row["value"] for row in answer.json()["items"]] == [1.0]
    assert_every_route_exercised(world, Access.SHARED_READ)


def event_party(event: dict[str, Any]) -> str:
    return str(event["topic"]).rsplit("/", 1)[-1]


async def transaction_events(world: World, who: str) -> list[dict[str, Any]]:
    """The market transactions ``who`` is sent of those kept, up to the end marker."""
    world.calls.append((who, "GET", "/api/v1/events"))
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


ACCEPT = ("POST", "/api/v1/markets/{market_id}/quotes/{quote_id}/acceptances")
PARTY_ACTS: dict[tuple[str, str], Callable[[str], tuple[str, Any]]] = {
    ("POST", "/api/v1/markets/{market_id}/tenders"): lambda tag: (
        f"{MARKET}/tenders",
        tender(tag, "BUY", 10, 10, 3),
    ),
    ("POST", "/api/v1/markets/{market_id}/rfqs"): lambda tag: (f"{MARKET}/rfqs", rfq(tag)),
    ("POST", "/api/v1/markets/{market_id}/quotes"): lambda tag: (f"{MARKET}/quotes", quote(tag)),
    ACCEPT: lambda tag: (
        f"{MARKET}/quotes/{QUOTE[tag]}/acceptances",
        {"quantity": 1000, "price": 1000},
    ),
}
"""Each act for a party: its path and body (``partyId`` added by the test) from a fresh id,
or for an acceptance the party whose quote is taken."""


FRESH = itertools.count()


def act(route: tuple[str, str], caller: str | None, named: str | None) -> tuple[str, Any]:
    """The path and body of ``route`` for the party ``caller`` naming ``named``: a fresh id,
    or the quote of a party that is neither."""
    if route == ACCEPT:
        return PARTY_ACTS[route](next(p for p in PARTIES if p not in (caller, named)))
    return PARTY_ACTS[route](f"{caller}-for-{named}-{next(FRESH)}")


async def test_no_party_acts_for_another(world: World) -> None:
    for route, access in ROUTES.items():
        if access is Access.PARTY_WRITE:
            assert route in PARTY_ACTS, f"no probe for {route}"
    before = await world.open_rows()
    for route in PARTY_ACTS:
        method = route[0]
        for party in PARTIES:
            who = f"participant-{party}"
            for other in set(PARTIES) - {party}:
                path, body = act(route, party, other)
                answer = await world.call(who, method, path, {**body, "partyId": other})
                assert answer.status_code == 403, (who, other, path, answer.text)
        for who in OUTSIDERS:
            for named in ("a", None):
                path, body = act(route, "c", named)
                sent = body if named is None else {**body, "partyId": named}
                answer = await world.call(who, method, path, sent)
                assert answer.status_code == 403, (who, path, answer.text)
    assert await world.open_rows() == before  # nothing made, traded or recorded
    # A participant acts for its own party (named or not); an operator names the party.
    for route in PARTY_ACTS:
        method = route[0]
        for party in PARTIES:
            who = f"participant-{party}"
            path, body = act(route, party, party)
            named = body if party == "b" else {**body, "partyId": party}
            answer = await world.call(who, method, path, named)
            assert answer.status_code == 201, (who, path, answer.text)
            assert answer.json()["party_id"] == party
        path, body = act(route, "a", "b")
        answer = await world.call("operator", method, path, {**body, "partyId": "b"})
        assert answer.status_code == 201, (path, answer.text)
        assert answer.json()["party_id"] == "b"
    assert_every_route_exercised(world, Access.PARTY_WRITE)


OWNER_ACTS: dict[tuple[str, str], tuple[tuple[str | None, ...], Callable[[Any], str], Any]] = {
    ("DELETE", "/api/v1/markets/{market_id}/tenders/{tender_id}"): (
        PARTIES,
        lambda party: f"{MARKET}/tenders/{OPEN_TENDER[party]}",
        None,
    ),
    ("DELETE", "/api/v1/markets/{market_id}/quotes/{quote_id}"): (
        PARTIES,
        lambda party: f"{MARKET}/quotes/{QUOTE[party]}",
        None,
    ),
    ("POST", "/api/v1/buildings/{building_id}/devices/{device_id}/commands"): (
        tuple(BUILDING),
        lambda party: f"/api/v1/buildings/{BUILDING[party]}/devices/battery/commands",
        {"action": "set_power_kw", "value": 0.5},
    ),
}
"""Each change of one party's row: the parties with such a row (None: of no party), the
path of each one's, and the body."""


async def test_no_party_changes_anothers_rows(world: World) -> None:
    for route, access in ROUTES.items():
        if access is Access.OWNER_WRITE:
            assert route in OWNER_ACTS, f"no probe for {route}"
    before = (await world.open_rows(), world.applied())
    for (method, _), (owners, path_of, body) in OWNER_ACTS.items():
        for owner in owners:
            for who in (*OUTSIDERS, *PARTICIPANTS):
                if who == f"participant-{owner}":
                    continue
                answer = await world.call(who, method, path_of(owner), body)
                expected = 403 if who in OUTSIDERS else 404
                assert answer.status_code == expected, (who, path_of(owner), answer.text)
    assert (await world.open_rows(), world.applied()) == before  # nothing withdrawn or applied
    # Its owner changes a row, and the operator any one (a building of no party's too).
    for (method, _), (owners, path_of, body) in OWNER_ACTS.items():
        for owner in owners:
            who = "operator" if owner in (None, "c") else f"participant-{owner}"
            answer = await world.call(who, method, path_of(owner), body)
            assert answer.status_code in (200, 204), (who, path_of(owner), answer.text)
    rows = await world.open_rows()
    assert set(OPEN_TENDER.values()).isdisjoint(rows["tenders"])
    assert rows["quotes"] == []
    after = world.applied()
    assert {party: after[party] - count for party, count in before[1].items()} == dict.fromkeys(
        BUILDING, 1
    )
    assert_every_route_exercised(world, Access.OWNER_WRITE)


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
    # Its own area's EDCs a grid manager does change, and an operator every area's.
    owners = [(f"manager-{area}", f"own-{area}", element) for area, element in AREAS.items()]
    for who, edc, element in [*owners, ("operator", "op-x", AREAS["x"])]:
        made = await world.call(who, "POST", "/api/v1/edcs", {"id": edc, "element": element})
        assert made.status_code == 201, made.text
        for method, path, body in area_writes(edc):
            answer = await world.call(who, method, path, body)
            assert answer.status_code not in (401, 403), (who, method, path, answer.text)
    assert_every_route_exercised(world, Access.AREA_WRITE)
