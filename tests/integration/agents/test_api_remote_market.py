"""The platform API serving a market whose Market Agent runs in another process: ``osed run
market-agent`` on a real Mosquitto with its SQLite ledger, and an ``api``-only runtime (its
own settings: ``api.markets``, the same broker and ledger file) in the test's event loop,
called over HTTP with tokens of ``osed token create``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.integration.agents.market_process import MarketAgentProcess
from tests.services.brokers import Broker
from tests.unit.api.conftest import bearer
from tests.unit.api.runtime_served import running

MARKET = "m1"
# A delivery interval ahead of any run of the test: tenders for it stay open.
START = (datetime.now(UTC) + timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)
PROBLEM = "application/problem+json"


def tender(tender_id: str, side: str, price: int, quantity: int) -> dict[str, Any]:
    return {
        "tender": {
            "tenderId": tender_id,
            "side": side,
            "tenderDetail": {
                "interval": {
                    "interval": {
                        "dtStart": START.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "duration": "PT15M",
                    },
                    "price": price,
                    "quantity": quantity,
                }
            },
            "priceScale": 4,
            "quantityScale": 3,
            "currency": "USD",
        }
    }


@pytest.fixture
def agent(tmp_path: Path, mosquitto: Broker) -> Iterator[MarketAgentProcess]:
    process = MarketAgentProcess(tmp_path / "agent", mosquitto, market_id=MARKET)
    process.folder.mkdir()
    process.start()
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


async def test_a_market_of_another_process_served_by_the_api(
    tmp_path: Path, mosquitto: Broker, agent: MarketAgentProcess
) -> None:
    sections: dict[str, Any] = {
        "bus": {"backend": "mqtt", "mqtt": {"host": mosquitto.host, "port": mosquitto.port}},
        "storage": {"sqlite_path": str(agent.ledger_path)},
        "api": {"markets": [{"market_id": MARKET, "timeout_s": 0.5}]},
    }
    async with running(tmp_path / "api", ["api"], **sections) as run:
        alice = bearer(
            await run.token("--role", "participant", "--subject", "al", "--party", "alice")
        )
        bob = bearer(await run.token("--role", "participant", "--subject", "bo", "--party", "bob"))
        carol = bearer(
            await run.token("--role", "participant", "--subject", "ca", "--party", "carol")
        )
        base = f"/api/v1/markets/{MARKET}"
        async with httpx.AsyncClient(base_url=run.url, timeout=30) as client:

            async def post(path: str, body: dict[str, Any], who: dict[str, str], key: str) -> Any:
                headers = who | {"Idempotency-Key": key}
                return await client.post(f"{base}{path}", json=body, headers=headers)

            terms = (await client.get(base, headers=alice)).json()
            assert (terms["mechanism"], terms["continuous"]) == ("bilateral", True)
            assert (terms["price_scale"], terms["quantity_scale"], terms["interval_s"]) == (
                4,
                3,
                900,
            )

            offered = await post("/tenders", tender("s-1", "SELL", 1200, 2500), bob, "s-1")
            assert offered.status_code == 201, offered.text
            [resting] = offered.json()["open"]
            assert (resting["party_id"], resting["quantity"]) == ("bob", 2500)
            instrument = f"{START.strftime('%Y-%m-%dT%H:%M:%SZ')}/900"
            assert (await client.get(base, headers=alice)).json()["open_intervals"] == [instrument]
            book = await client.get(f"{base}/book", params={"interval": instrument}, headers=alice)
            [level] = book.json()["offers"]
            assert level["quantity"] == pytest.approx(2500)

            bought = await post("/tenders", tender("b-1", "BUY", 1500, 1000), alice, "b-1")
            assert bought.status_code == 201, bought.text
            assert bought.json()["open"] == []  # filled at once by bob's offer
            again = await post("/tenders", tender("b-1", "BUY", 1500, 1000), alice, "b-1")
            assert again.json() == bought.json()  # the retry is answered once

            positions = (await client.get(f"{base}/positions", headers=alice)).json()["items"]
            assert [(p["party_id"], p["quantity"]) for p in positions] == [("alice", 1000)]
            [trade] = (await client.get(f"{base}/transactions", headers=alice)).json()["items"]
            assert (trade["party_id"], trade["counter_party_id"]) == ("alice", "bob")
            assert (trade["side"], trade["price"], trade["quantity"]) == ("BUY", 1200, 1000)
            bobs = (await client.get(f"{base}/transactions", headers=bob)).json()["items"]
            assert [(t["party_id"], t["side"]) for t in bobs] == [("bob", "SELL")]
            [cleared] = (await client.get(f"{base}/clearings", headers=carol)).json()["items"]
            assert cleared["volume"] == pytest.approx(1.0)
            assert cleared["price_mean"] == pytest.approx(0.12)

            # carol sees none of the others' rows, and cannot ask for them.
            for rows in ("tenders", "transactions", "positions"):
                mine = await client.get(f"{base}/{rows}", headers=carol)
                assert mine.status_code == 200, mine.text
                assert mine.json()["items"] == []
                theirs = await client.get(f"{base}/{rows}", params={"party": "bob"}, headers=carol)
                assert theirs.status_code == 403
            assert (await client.get(f"{base}/tenders/s-1", headers=carol)).status_code == 404
            assert (await client.delete(f"{base}/tenders/s-1", headers=carol)).status_code == 404

            [left] = (await client.get(f"{base}/tenders", headers=bob)).json()["items"]
            assert (left["tender_id"], left["quantity"]) == ("s-1", 1500)
            cancelled = await client.delete(f"{base}/tenders/s-1", headers=bob)
            assert cancelled.status_code == 200, cancelled.text
            assert cancelled.json() == {"tender_id": "s-1", "cancelled": True}
            assert (await client.get(f"{base}/tenders", headers=bob)).json()["items"] == []

            # Negotiation: an RFQ, a quote answering it, an acceptance, a withdrawal.
            window = {"dtStart": START.strftime("%Y-%m-%dT%H:%M:%SZ"), "duration": "PT1H"}
            rfq = {"rfqId": "r1", "side": "BUY", "boundingInterval": window}
            asked = await post("/rfqs", {"rfq": rfq}, bob, "r1")
            assert asked.status_code == 201, asked.text
            quote = {"quoteId": "q1", "tender": tender("t-q1", "SELL", 1000, 1000)["tender"]}
            given = await post("/quotes", {"quote": quote | {"rfqId": "r1"}}, carol, "q1")
            assert given.status_code == 201, given.text
            assert given.json()["remaining"] == 1000
            take = {"quantity": 400, "price": 1100}
            taken = await post("/quotes/q1/acceptances", take, bob, "a1")
            assert taken.status_code == 201, taken.text
            [taken_id] = taken.json()["transaction_ids"]
            bobs = (await client.get(f"{base}/transactions", headers=bob)).json()["items"]
            assert taken_id in [t["transaction_id"] for t in bobs]
            answers = await client.get(f"{base}/quotes", params={"rfq": "r1"}, headers=alice)
            assert [(q["quote_id"], q["remaining"]) for q in answers.json()["items"]] == [
                ("q1", 600)
            ]
            withdrawn = await client.delete(f"{base}/quotes/q1", headers=carol)
            assert withdrawn.status_code == 200, withdrawn.text
            assert (await client.get(f"{base}/quotes", headers=alice)).json()["items"] == []

            agent.stop()
            began = time.monotonic()
            late = await post("/tenders", tender("b-2", "BUY", 1500, 1000), alice, "b-2")
            waited = time.monotonic() - began
            assert late.status_code == 503, late.text
            assert late.headers["content-type"] == PROBLEM
            assert "no answer" in late.json()["detail"]
            assert waited < 5.0
            listed = await client.get(f"{base}/tenders", headers=alice)
            assert listed.status_code == 503
            # The ledger is still read: what was traded stays visible.
            assert len((await client.get(f"{base}/positions", headers=alice)).json()["items"]) == 1
