"""Idempotency-Key on POST: the same key and request replay the first answer, with its
status; another request under the key is 422; keys are the caller's and lapse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx

from osed.ports.idempotency import StoredResponse
from osed.storage.idempotency_sqlite import SqliteIdempotencyStore
from tests.unit.api.conftest import Platform, bearer, tender_body

ALICE = bearer("alice-token")


async def submit(
    client: httpx.AsyncClient, key: str, body: dict[str, object], token: str = "alice-token"
) -> httpx.Response:
    headers = {**bearer(token), "Idempotency-Key": key}
    return await client.post("/api/v1/markets/m1/tenders", json=body, headers=headers)


async def test_a_retry_replays_the_first_answer_and_trades_once(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    sell = await submit(client, "s", tender_body("s1", "SELL", 1000, 4000), "bob-token")
    assert sell.status_code == 201
    first = await submit(client, "k", tender_body("b1", "BUY", 2000, 3000))
    again = await submit(client, "k", tender_body("b1", "BUY", 2000, 3000))
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert platform.agent.ledger.count() == 2  # one transaction, one entry per side


async def test_a_refusal_is_replayed_with_its_status(client: httpx.AsyncClient) -> None:
    bad = tender_body("b1", "BUY", 2000, 0)
    first = await submit(client, "bad", bad)
    again = await submit(client, "bad", bad)
    assert first.status_code == again.status_code == 422
    assert again.json() == first.json()


async def test_the_same_key_for_another_request_is_422(client: httpx.AsyncClient) -> None:
    assert (await submit(client, "k", tender_body("b1", "BUY", 2000, 3000))).status_code == 201
    other = await submit(client, "k", tender_body("b2", "BUY", 2000, 3000))
    assert other.status_code == 422
    assert other.json()["errors"][0]["path"] == "$header.Idempotency-Key"
    listed = await client.get("/api/v1/markets/m1/tenders", headers=ALICE)
    assert [t["tender_id"] for t in listed.json()["items"]] == ["b1"]


async def test_keys_are_each_callers_own(client: httpx.AsyncClient) -> None:
    alice = await submit(client, "same", tender_body("a1", "BUY", 2000, 3000))
    bob = await submit(client, "same", tender_body("o1", "SELL", 3000, 3000), "bob-token")
    assert alice.status_code == bob.status_code == 201
    assert bob.json()["party_id"] == "bob"


async def test_an_edc_create_replays_through_the_joined_router(client: httpx.AsyncClient) -> None:
    headers = {**bearer("operator-token"), "Idempotency-Key": "edc"}
    body = {"id": "area-9", "element": "trafo1"}
    first = await client.post("/api/v1/edcs", json=body, headers=headers)
    again = await client.post("/api/v1/edcs", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()


async def test_a_bad_key_is_422_at_its_header(client: httpx.AsyncClient) -> None:
    response = await submit(client, "k" * 201, tender_body("b1", "BUY", 2000, 3000))
    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == "$header.Idempotency-Key"


def test_a_claim_holds_until_completed_or_released_and_a_key_lapses(tmp_path: Path) -> None:
    now = datetime(2026, 7, 1, tzinfo=UTC)
    lease, ttl = timedelta(minutes=5), timedelta(hours=1)
    with SqliteIdempotencyStore(tmp_path / "keys.sqlite") as store:
        assert store.claim("o", "k", b"f", now=now, lease=lease) is None
        running = store.claim("o", "k", b"f", now=now, lease=lease)
        assert running is not None
        assert running.response is None  # under way: the API answers 409
        store.release("o", "k")
        assert store.claim("o", "k", b"f", now=now, lease=lease) is None
        answer = StoredResponse(201, (("location", "/x"),), b"{}")
        store.complete("o", "k", answer, now=now, ttl=ttl)
        held = store.claim("o", "k", b"g", now=now + ttl / 2, lease=lease)
        assert held is not None
        assert held.fingerprint == b"f"
        assert held.response == answer
        assert store.claim("o", "k", b"g", now=now + ttl, lease=lease) is None  # lapsed
        abandoned = now + 2 * ttl
        assert store.claim("o", "x", b"f", now=abandoned, lease=lease) is None
        assert store.claim("o", "x", b"f", now=abandoned + lease, lease=lease) is None
