"""The Market Agent never records a trade of a party with itself: the withdrawn tender is
named in the party's reply, forgotten by the agent, and a recovered agent agrees."""

from __future__ import annotations

from pathlib import Path

from osed.agents.market_agent import MarketAgent
from osed.domain.cts import EiCanceledTender, EiCancelTender, EiCreatedTender, Side
from osed.domain.time import ManualClock
from osed.storage.sqlite import SqliteLedgerStore
from tests.unit.agents.conftest import START, slot
from tests.unit.agents.test_market_agent import create, position, tender
from tests.unit.agents.test_recovery import new_agent, run, state


def test_a_tender_meeting_the_partys_own_withdraws_it_and_says_so(
    bilateral_agent: MarketAgent, ledger: SqliteLedgerStore
) -> None:
    bilateral_agent.handle(create("r1", "alice", tender("s1", Side.SELL, 1500, 4000)))
    bilateral_agent.handle(create("r2", "bob", tender("s2", Side.SELL, 1600, 2000)))
    reply = bilateral_agent.handle(create("r3", "alice", tender("b1", Side.BUY, 1800, 5000)))
    assert isinstance(reply.response, EiCreatedTender)
    assert reply.response.response.ok
    assert "s1 (4000 open)" in reply.response.response.response_description
    assert {(n.party, n.message.counter_party_id) for n in reply.notifications} == {
        ("alice", "bob"),
        ("bob", "alice"),
    }
    assert all(s.entry.party != s.entry.counter_party for s in ledger.entries())
    assert position(bilateral_agent, "alice") == 2000  # bought from bob only
    assert "s1" not in bilateral_agent._open
    gone = bilateral_agent.handle(create("r4", "carol", tender("b2", Side.BUY, 1800, 1000)))
    assert not gone.notifications  # s1 is no longer in the book: carol trades with nobody


def test_a_recovered_agent_has_withdrawn_the_same_tenders(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    clock = ManualClock(START)
    agent = new_agent(SqliteLedgerStore(path), clock, "bilateral")
    requests = [
        create("r1", "alice", tender("s1", Side.SELL, 1500, 4000)),
        create("r2", "alice", tender("b1", Side.BUY, 1600, 1000)),
        create("r3", "bob", tender("b2", Side.BUY, 1700, 3000, k=1)),
        create("r4", "bob", tender("s2", Side.SELL, 1600, 1000, k=1)),
    ]
    replies = run(agent, clock, requests)
    assert all(isinstance(r.response, EiCreatedTender) for r in replies)
    assert not any(r.notifications for r in replies)
    before = state(agent)
    agent.ledger.close()
    recovered = new_agent(SqliteLedgerStore(path), clock, "bilateral")
    assert state(recovered) == before
    assert recovered.market.snapshot(slot(0).key()).offers == ()
    cancel = recovered.handle(EiCancelTender("r5", "alice", "market", "s1"))
    assert isinstance(cancel.response, EiCanceledTender)
    assert cancel.response.remaining_quantity == 0
    recovered.ledger.close()
