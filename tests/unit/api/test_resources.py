"""Each resource of the platform API over real parts: the network, its areas and the latest
estimate; markets (tenders, cancels, transactions, positions, quotes, books) with each party
seeing only its own rows; the ledger; time series as JSON, CSV and Parquet; EDCs and
optimisations through the joined routers."""

from __future__ import annotations

import io
import json
import math

import httpx2 as httpx
import pyarrow.parquet as pq

from osed.domain.envelope import Envelope
from tests.unit.api.conftest import START, Platform, bearer, tender_body
from tests.unit.edge.conftest import eventually
from tests.unit.optimizer.balancer_cases import osed_document

ADMIN = bearer("admin-token")
VIEWER = bearer("viewer-token")


async def tender(
    client: httpx.AsyncClient, token: str, body: dict[str, object], key: str
) -> httpx.Response:
    headers = {**bearer(token), "Idempotency-Key": key}
    return await client.post("/api/v1/markets/m1/tenders", json=body, headers=headers)


async def test_the_network_its_elements_and_areas(client: httpx.AsyncClient) -> None:
    network = (await client.get("/api/v1/network", headers=VIEWER)).json()
    assert network["counts"]["node"] == 15
    graph = (await client.get("/api/v1/network/graph", headers=VIEWER)).json()
    assert len(graph["nodes"]) == 15
    assert all(math.isfinite(n["x"]) and math.isfinite(n["y"]) for n in graph["nodes"])
    node = (await client.get("/api/v1/network/nodes/bus3", headers=VIEWER)).json()
    assert node["u_rated"] == 20000.0
    assert node["area"] == "trafo0"
    assert node["estimate"] is None
    branch = (await client.get("/api/v1/network/branches/line3", headers=VIEWER)).json()
    assert branch["kind"] == "line"
    areas = (await client.get("/api/v1/areas", headers=VIEWER)).json()["items"]
    assert [a["element"] for a in areas] == ["trafo0", "trafo1"]
    below = (await client.get("/api/v1/areas/bus3?below=true", headers=VIEWER)).json()
    assert "bus3" in below["nodes"]
    assert set(below["nodes"]) < set(areas[0]["nodes"])
    assert (await client.get("/api/v1/network/estimate", headers=VIEWER)).status_code == 404


async def test_the_latest_estimate_is_followed_on_the_bus(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    stamp = "2026-07-01T00:00:00+00:00"
    volts = 20000.0 / math.sqrt(3) * 1.02
    messages = [
        (
            "se/node/bus3",
            {
                "component": "bus3",
                "timestamp": stamp,
                "readings": [{"measurand": "voltmagnitude", "data": volts}],
            },
        ),
        ("se/summary", {"timestamp": stamp, "status": "ok"}),
    ]
    for seq, (topic, body) in enumerate(messages, start=1):
        await platform.bus.publish(Envelope(topic, "se", seq, json.dumps(body).encode(), START))
    await eventually(lambda: platform.app.state.estimates.latest is not None)
    estimate = (await client.get("/api/v1/network/estimate", headers=VIEWER)).json()
    assert estimate["estimated_at"] == stamp
    assert abs(estimate["nodes"]["bus3"]["voltage_max_pu"] - 1.02) < 1e-9
    node = (await client.get("/api/v1/network/nodes/bus3", headers=VIEWER)).json()
    assert abs(node["estimate"]["voltage_min_pu"] - 1.02) < 1e-9


async def test_a_trade_and_who_sees_its_rows(client: httpx.AsyncClient) -> None:
    assert (
        await tender(client, "bob-token", tender_body("s1", "SELL", 1000, 4000), "s")
    ).status_code == 201
    bought = await tender(client, "alice-token", tender_body("b1", "BUY", 2000, 3000), "b")
    assert bought.status_code == 201, bought.text
    assert bought.json()["open"] == []  # filled at once
    assert bought.headers["location"] == "/api/v1/markets/m1/tenders/b1"
    await tender(client, "alice-token", tender_body("b2", "BUY", 500, 1000, k=1), "b2")

    alice_rows = (
        await client.get("/api/v1/markets/m1/transactions", headers=bearer("alice-token"))
    ).json()
    assert [(r["party_id"], r["side"], r["quantity"]) for r in alice_rows["items"]] == [
        ("alice", "BUY", 3000)
    ]
    bob_rows = (
        await client.get("/api/v1/markets/m1/transactions", headers=bearer("bob-token"))
    ).json()
    assert [r["party_id"] for r in bob_rows["items"]] == ["bob"]
    every = (
        await client.get("/api/v1/markets/m1/transactions", headers=bearer("operator-token"))
    ).json()
    assert sorted(r["party_id"] for r in every["items"]) == ["alice", "bob"]
    asked = await client.get(
        "/api/v1/markets/m1/transactions?party=bob", headers=bearer("alice-token")
    )
    assert asked.status_code == 403

    positions = (
        await client.get("/api/v1/markets/m1/positions", headers=bearer("bob-token"))
    ).json()
    assert [(p["party_id"], p["quantity"]) for p in positions["items"]] == [("bob", -3000)]
    bob_tenders = (
        await client.get("/api/v1/markets/m1/tenders", headers=bearer("bob-token"))
    ).json()
    assert [(t["tender_id"], t["quantity"]) for t in bob_tenders["items"]] == [("s1", 1000)]
    alice_tenders = (
        await client.get("/api/v1/markets/m1/tenders", headers=bearer("alice-token"))
    ).json()
    assert [t["tender_id"] for t in alice_tenders["items"]] == ["b2"]
    hidden = await client.get("/api/v1/markets/m1/tenders/s1", headers=bearer("alice-token"))
    assert hidden.status_code == 404
    stolen = await client.delete("/api/v1/markets/m1/tenders/s1", headers=bearer("alice-token"))
    assert stolen.status_code == 404

    book = (
        await client.get(
            "/api/v1/markets/m1/book?interval=2026-07-01T00:00:00Z/900", headers=VIEWER
        )
    ).json()
    assert [(level["price"], level["quantity"]) for level in book["offers"]] == [(0.1, 1000.0)]
    market = (await client.get("/api/v1/markets/m1", headers=VIEWER)).json()
    assert market["open_intervals"] == ["2026-07-01T00:00:00Z/900", "2026-07-01T00:15:00Z/900"]

    cancelled = await client.delete("/api/v1/markets/m1/tenders/s1", headers=bearer("bob-token"))
    assert cancelled.status_code == 200
    assert cancelled.json()["cancelled"] is True
    assert (
        await client.get("/api/v1/markets/m1/tenders/s1", headers=bearer("bob-token"))
    ).status_code == 404
    assert (await client.get("/api/v1/markets/m1/quotes", headers=VIEWER)).json()["items"] == []


async def test_a_participant_tenders_only_for_its_own_party(client: httpx.AsyncClient) -> None:
    body = {**tender_body("x", "BUY", 1000, 1000), "partyId": "bob"}
    refused = await tender(client, "alice-token", body, "x")
    assert refused.status_code == 403
    for_bob = await tender(client, "operator-token", body, "x")
    assert for_bob.status_code == 201
    assert for_bob.json()["party_id"] == "bob"
    no_party = await tender(client, "operator-token", tender_body("y", "BUY", 1, 1), "y")
    assert no_party.status_code == 422
    assert no_party.json()["errors"][0]["path"] == "$.partyId"


async def test_the_ledger_head_and_its_verification(client: httpx.AsyncClient) -> None:
    await tender(client, "bob-token", tender_body("s1", "SELL", 1000, 4000), "s")
    await tender(client, "alice-token", tender_body("b1", "BUY", 2000, 3000), "b")
    head = (await client.get("/api/v1/ledger", headers=VIEWER)).json()
    assert head["entries"] == 2
    assert head["head"] == f"2:{head['last_hash']}"
    checked = (
        await client.get("/api/v1/ledger/verification", headers=bearer("operator-token"))
    ).json()
    assert checked == {
        "ok": True,
        "entries": 2,
        "first_bad_seq": None,
        "problem": None,
        "detail": "",
    }


SERIES = (
    "/api/v1/series/data?series=meter1/grid/power/ABC&start=2026-07-01T00:00Z&end=2026-07-01T01:00Z"
)


async def test_a_series_raw_and_aggregated_in_every_format(client: httpx.AsyncClient) -> None:
    raw = (await client.get(SERIES, headers=VIEWER)).json()
    assert [p["value"] for p in raw["items"]] == [10.0 + k for k in range(12)]
    buckets = (await client.get(SERIES + "&every=PT15M&agg=mean", headers=VIEWER)).json()
    assert [(b["value"], b["count"]) for b in buckets["items"]] == [
        (11.0, 3),
        (14.0, 3),
        (17.0, 3),
        (20.0, 3),
    ]
    csv = await client.get(
        SERIES + "&every=PT30M&agg=sum", headers={**VIEWER, "Accept": "text/csv"}
    )
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines() == [
        "series_id,unit,time,value,count",
        "meter1/grid/power/ABC,W,2026-07-01T00:00:00+00:00,75.0,6",
        "meter1/grid/power/ABC,W,2026-07-01T00:30:00+00:00,111.0,6",
    ]
    parquet = await client.get(SERIES + "&format=parquet", headers=VIEWER)
    assert parquet.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.column("value").to_pylist() == [10.0 + k for k in range(12)]
    assert table.column("time").type.tz == "UTC"
    missing = await client.get(SERIES.replace("meter1", "meter9"), headers=VIEWER)
    assert missing.status_code == 404


async def test_optimisations_through_the_joined_router(client: httpx.AsyncClient) -> None:
    headers = {**bearer("operator-token"), "Idempotency-Key": "opt-1"}
    queued = await client.post("/api/v1/optimizations", json=osed_document(), headers=headers)
    assert queued.status_code == 202, queued.text
    job = queued.json()
    assert job["links"]["self"] == f"/api/v1/optimizations/{job['id']}"
    assert queued.headers["location"] == job["links"]["self"]
    seen = (await client.get(job["links"]["self"], headers=VIEWER)).json()
    assert seen["status"] == "queued"
    listed = (await client.get("/api/v1/optimizations?limit=1", headers=VIEWER)).json()
    assert [j["id"] for j in listed["items"]] == [job["id"]]
    no_result = await client.get(job["links"]["result"], headers=VIEWER)
    assert no_result.status_code == 409
    assert no_result.headers["content-type"] == "application/problem+json"
    assert no_result.json()["type"] == "urn:osed:problem:no_result"
    again = {**headers, "Idempotency-Key": "opt-1-cancel"}  # a key names one request
    cancelled = await client.post(f"/api/v1/optimizations/{job['id']}/cancel", headers=again)
    assert cancelled.json()["status"] == "cancelled"


async def test_edcs_and_grid_functions_through_the_joined_router(client: httpx.AsyncClient) -> None:
    headers = {**bearer("gm-token"), "Idempotency-Key": "edc-0"}
    created = await client.post(
        "/api/v1/edcs", json={"id": "area-0", "element": "trafo0"}, headers=headers
    )
    assert created.status_code == 201
    assigned = await client.post(
        "/api/v1/edcs/area-0/functions/probe",
        json={"parameters": {"limit_kw": 5}},
        headers=bearer("gm-token"),
    )
    assert assigned.status_code == 201, assigned.text
    detail = (await client.get("/api/v1/edcs/area-0", headers=VIEWER)).json()
    assert detail["functions"] == ["probe"]
    functions = (await client.get("/api/v1/grid-functions", headers=VIEWER)).json()
    assert [f["name"] for f in functions["items"]] == ["probe"]
