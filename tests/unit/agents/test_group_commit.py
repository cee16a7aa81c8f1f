"""Group commit: concurrent requests share one durable write, and no reply leaves before the
write that holds its request (a crash can lose only requests that got no reply)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from dataclasses import fields, replace
from pathlib import Path

import pytest

from osed.agents.group_commit import GroupCommit
from osed.agents.market_agent import MarketAgent, Reply
from osed.domain.cts import (
    EiCancelTender,
    EiCreatedTender,
    EiCreateTender,
    IntervalDetail,
    Side,
    Tender,
)
from osed.domain.errors import OsedError
from osed.domain.time import ManualClock
from osed.markets.registry import create_market
from osed.storage.sqlite import SqliteLedgerStore
from tests.unit.agents.conftest import UNITS, slot

PROGRAM = Path(__file__).with_name("group_commit_process.py")


def tender_request(n: int, *, side: Side = Side.BUY, price: int = 1000) -> EiCreateTender:
    party = f"p{n % 7}"
    tender = Tender(
        f"t{n}",
        side,
        IntervalDetail(slot(n % 4), price, 1000 + n),
        price_scale=4,
        quantity_scale=3,
    )
    return EiCreateTender(f"r{n}", party, "market", tender)


def traced_ids(path: Path) -> set[str]:
    """The request ids in the trace as another connection sees it: what survives a kill."""
    with sqlite3.connect(path) as other:
        return {row[0] for row in other.execute("SELECT message_id FROM trace")}


def agent_on(ledger: SqliteLedgerStore, clock: ManualClock) -> MarketAgent:
    market = create_market("double-auction", pricing="pay-as-clear")
    return MarketAgent(market_id="market", market=market, ledger=ledger, clock=clock, units=UNITS)


def test_concurrent_requests_share_one_write_and_every_reply_finds_its_request_durable(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = SqliteLedgerStore(path)
    batcher = GroupCommit(agent_on(ledger, clock))
    seen_durable: list[bool] = []

    async def caller(n: int) -> Reply:
        reply = await batcher.handle(tender_request(n))
        seen_durable.append(f"r{n}" in traced_ids(path))
        return reply

    async def run() -> list[Reply]:
        return await asyncio.gather(*(caller(n) for n in range(200)))

    replies = asyncio.run(run())
    ledger.close()
    created = [reply.response for reply in replies]
    assert all(isinstance(response, EiCreatedTender) for response in created)
    assert [response.response.ref_id for response in created] == [  # type: ignore[union-attr]
        f"r{n}" for n in range(200)
    ]
    assert batcher.batches == 1
    assert seen_durable == [True] * 200


def test_no_reply_leaves_while_the_durable_write_fails_and_a_retry_gets_it_once_written(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = SqliteLedgerStore(path, busy_timeout_s=0.05)
    agent = agent_on(ledger, clock)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock: the flush fails
    outcomes = agent.handle_many([tender_request(n) for n in range(5)])
    assert all(isinstance(outcome, OsedError) for outcome in outcomes)
    assert traced_ids(path) == set()
    with pytest.raises(OsedError):  # a retry must not get the cached reply either
        agent.handle(tender_request(3))
    blocker.execute("ROLLBACK")
    blocker.close()
    retried = agent.handle(tender_request(3))
    assert isinstance(retried.response, EiCreatedTender)
    assert retried.response.response.response_code == 201
    assert {f"r{n}" for n in range(5)} <= traced_ids(path)
    assert len(agent.open_tenders()) == 5  # executed once each, retry answered from the cache
    ledger.close()


def test_a_batch_runs_in_order_and_a_retry_within_it_gets_the_first_reply(
    ledger: SqliteLedgerStore, clock: ManualClock
) -> None:
    agent = agent_on(ledger, clock)
    agent.handle(tender_request(1))
    batch = [
        tender_request(2),
        EiCancelTender("c1", "p1", "market", "t1"),
        tender_request(2),  # a retry within the batch: the first one's reply
    ]
    first, cancel, again = agent.handle_many(batch)
    assert isinstance(first, Reply)
    assert isinstance(cancel, Reply)
    assert again == first
    assert [rest.tender.tender_id for rest in agent.open_tenders()] == ["t2"]


@pytest.mark.parametrize("seed", range(3))
def test_a_kill_mid_batch_loses_only_requests_that_got_no_reply(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "ledger.sqlite"
    process = subprocess.Popen(
        [sys.executable, str(PROGRAM), str(path), str(seed)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert process.stdout is not None
    replied: list[str] = []
    wanted = 300 + 250 * seed  # batches of up to 64, so the kill lands inside or between them
    for line in process.stdout:
        replied.append(line.strip())
        if len(replied) >= wanted:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert len(replied) >= wanted

    ledger = SqliteLedgerStore(path)
    clock = ManualClock(slot(0).start)
    recovered = agent_on(ledger, clock)
    traced = traced_ids(path)
    assert set(replied) <= traced
    # Every replied tender rests in the recovered agent, once; a retry is not executed again.
    resting = {rest.tender.tender_id for rest in recovered.open_tenders()}
    assert {f"t{request_id[1:]}" for request_id in replied} <= resting
    before = len(recovered.open_tenders())
    for request_id in replied[:50]:
        recovered.handle(tender_request(int(request_id[1:])))
    assert len(recovered.open_tenders()) == before
    ledger.close()


def test_a_tender_at_market_scales_carries_every_other_field(
    ledger: SqliteLedgerStore, clock: ManualClock
) -> None:
    agent = agent_on(ledger, clock)
    tender = Tender(
        "t1",
        Side.SELL,
        IntervalDetail(slot(0), 7, 9),
        price_scale=2,
        quantity_scale=1,
        all_or_none=True,
        expiration_time=slot(1).start,
        currency="EUR",
        market_id="m",
        execution_instructions="x",
        referenced_quote_id="q",
    )
    detail = IntervalDetail(slot(0), 700, 900)
    expected = replace(tender, detail=detail, price_scale=4, quantity_scale=3)
    assert agent._at_market_scales(tender, detail) == expected
    # Built field by field: a field added to Tender must be added there too.
    assert len(fields(Tender)) == 12
