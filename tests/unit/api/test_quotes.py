"""Requests for quotes, quotes, their acceptance and withdrawal through the platform API over a
real Market Agent (SQLite ledger): a trade at the quote's price, once per Idempotency-Key;
every problem of a request named; who may act for which party (table-driven)."""

from __future__ import annotations

from typing import Any

import httpx2 as httpx
import pytest

from tests.unit.api.conftest import Platform, bearer, tender_body

MARKET = "/api/v1/markets/m1"
RFQ = {
    "rfq": {
        "rfqId": "r1",
        "side": "BUY",
        "boundingInterval": {"dtStart": "2026-07-01T00:00:00Z", "duration": "PT1H"},
    }
}


def quote_body(quote_id: str, price: int = 1000, quantity: int = 5000, **more: Any) -> Any:
    tender = tender_body(f"t-{quote_id}", "SELL", price, quantity)["tender"]
    return {"quote": {"quoteId": quote_id, "tender": tender, "rfqId": "r1"}, **more}


async def post(
    client: httpx.AsyncClient, path: str, token: str, body: Any, *, key: str | None
) -> httpx.Response:
    headers = bearer(token) | ({} if key is None else {"Idempotency-Key": key})
    return await client.post(f"{MARKET}{path}", json=body, headers=headers)


async def test_a_quote_asked_for_given_and_taken(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    asked = await post(client, "/rfqs", "bob-token", RFQ, key="r")
    assert asked.status_code == 201, asked.text
    assert asked.json()["party_id"] == "bob"
    given = await post(client, "/quotes", "alice-token", quote_body("q1"), key="q")
    assert given.status_code == 201, given.text
    assert given.headers["Location"] == f"{MARKET}/quotes/q1"
    answers = (await client.get(f"{MARKET}/quotes?rfq=r1", headers=bearer("bob-token"))).json()
    assert [q["quote_id"] for q in answers["items"]] == ["q1"]
    assert answers["items"][0]["remaining"] == 5000

    take = {"quantity": 2000, "price": 1200}
    taken = await post(client, "/quotes/q1/acceptances", "bob-token", take, key="a")
    assert taken.status_code == 201, taken.text
    assert len(taken.json()["transaction_ids"]) == 1
    again = await post(client, "/quotes/q1/acceptances", "bob-token", take, key="a")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == taken.json()

    rows = (await client.get(f"{MARKET}/transactions", headers=bearer("bob-token"))).json()
    assert [(r["side"], r["price"], r["quantity"]) for r in rows["items"]] == [
        ("BUY", 1000, 2000)  # at the quote's price, not the taker's limit
    ]
    assert len(list(platform.agent.ledger.entries())) == 2  # one trade: maker and taker
    left = (await client.get(f"{MARKET}/quotes/q1", headers=bearer("viewer-token"))).json()
    assert left["remaining"] == 3000


async def test_what_a_quote_does_not_offer_is_named(client: httpx.AsyncClient) -> None:
    await post(client, "/quotes", "alice-token", quote_body("q1"), key="q")
    too_much = {"quantity": 6000, "price": 900}
    refused = await post(client, "/quotes/q1/acceptances", "bob-token", too_much, key="a")
    assert refused.status_code == 422
    found = {(e["path"], e["code"]) for e in refused.json()["errors"]}
    assert found == {("$.quantity", "terms_violated"), ("$.price", "terms_violated")}
    own = await post(client, "/quotes/q1/acceptances", "alice-token", too_much, key="b")
    assert {(e["path"], e["code"]) for e in own.json()["errors"]} == {("$.partyId", "own_quote")}
    unknown = await post(client, "/quotes/nope/acceptances", "bob-token", too_much, key="c")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"


async def test_a_bad_quote_names_every_problem(client: httpx.AsyncClient) -> None:
    body = quote_body("q1", quantity=0, colour="red")
    bad = await post(client, "/quotes", "alice-token", body, key=None)
    assert bad.status_code == 422
    paths = {e["path"] for e in bad.json()["errors"]}
    assert {"$.colour", "$header.Idempotency-Key"} <= paths
    assert any(p.startswith("$.quote.tender") for p in paths), paths
    taken = await post(client, "/quotes", "alice-token", quote_body("q2"), key="q2")
    assert taken.status_code == 201
    again = await post(client, "/quotes", "bob-token", quote_body("q2"), key="q3")
    assert again.status_code == 409


async def test_only_its_maker_withdraws_a_quote(client: httpx.AsyncClient) -> None:
    await post(client, "/quotes", "alice-token", quote_body("q1"), key="q")
    theirs = await client.delete(f"{MARKET}/quotes/q1", headers=bearer("bob-token"))
    assert theirs.status_code == 404
    viewer = await client.delete(f"{MARKET}/quotes/q1", headers=bearer("viewer-token"))
    assert viewer.status_code == 403
    mine = await client.delete(f"{MARKET}/quotes/q1", headers=bearer("alice-token"))
    assert mine.status_code == 200
    gone = await client.get(f"{MARKET}/quotes/q1", headers=bearer("alice-token"))
    assert gone.status_code == 404


# (token, the party the body names or None, expected status) for creating an RFQ or a quote.
ACTS = [
    ("alice-token", None, 201),
    ("alice-token", "alice", 201),
    ("alice-token", "bob", 403),
    ("operator-token", "bob", 201),
    ("operator-token", None, 422),  # an operator acts for no party of its own: it names one
    ("admin-token", "bob", 201),
    ("viewer-token", "alice", 403),
    ("gm-token", None, 403),
]


@pytest.mark.parametrize(("token", "party", "status"), ACTS)
@pytest.mark.parametrize("what", ["rfqs", "quotes"])
async def test_who_may_act_for_which_party(
    client: httpx.AsyncClient, token: str, party: str | None, status: int, what: str
) -> None:
    body = RFQ if what == "rfqs" else quote_body("q1")
    named = body if party is None else {**body, "partyId": party}
    answer = await post(client, f"/{what}", token, named, key="k")
    assert answer.status_code == status, answer.text
    if status == 201:
        assert answer.json()["party_id"] == (party or token.removesuffix("-token"))
    listed = (await client.get(f"{MARKET}/quotes", headers=bearer("viewer-token"))).json()
    assert len(listed["items"]) == (1 if what == "quotes" and status == 201 else 0)


@pytest.mark.parametrize(("token", "party", "status"), ACTS)
async def test_who_may_accept_for_which_party(
    client: httpx.AsyncClient, token: str, party: str | None, status: int
) -> None:
    await post(client, "/quotes", "operator-token", quote_body("q1", partyId="carol"), key="q")
    take: dict[str, Any] = {"quantity": 1000, "price": 1000}
    if party is not None:
        take["partyId"] = party
    answer = await post(client, "/quotes/q1/acceptances", token, take, key="k")
    assert answer.status_code == status, answer.text
    left = (await client.get(f"{MARKET}/quotes/q1", headers=bearer("viewer-token"))).json()
    assert left["remaining"] == (4000 if status == 201 else 5000)
