"""A Market Agent rebuilt from the trace after a crash is the agent that crashed."""

import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osed.agents.market_agent import MarketAgent, Reply, Request
from osed.codec import cts as codec
from osed.domain.cts import (
    EiAcceptQuote,
    EiCancelTender,
    EiCreatedTender,
    EiCreateQuote,
    EiRequestPosition,
    Quote,
    Side,
)
from osed.domain.errors import IntegrityError
from osed.domain.time import ManualClock
from osed.ledger.verify import verify_store
from osed.markets.registry import create_market
from osed.storage.sqlite import SqliteLedgerStore
from tests.unit.agents.conftest import START, UNITS, slot
from tests.unit.agents.test_market_agent import create, tender

SLOTS = 3
STEP = timedelta(seconds=1)


def new_agent(ledger: SqliteLedgerStore, clock: ManualClock, mechanism: str) -> MarketAgent:
    options: dict[str, Any] = {"pricing": "pay-as-clear"} if mechanism == "double-auction" else {}
    return MarketAgent(
        market_id="market",
        market=create_market(mechanism, **options),
        ledger=ledger,
        clock=clock,
        units=UNITS,
    )


def state(agent: MarketAgent) -> dict[str, object]:
    """Everything the agent keeps in memory, and the book of every slot."""
    return {
        "open": {k: (v.party, v.tender, v.instrument) for k, v in agent._open.items()},
        "parts": dict(agent._parts),
        "quotes": {k: (v.party, v.quote, v.remaining) for k, v in agent._quotes.items()},
        "replies": dict(agent._replies.items()),
        "books": [agent.market.snapshot(slot(k).key()) for k in range(SLOTS)],
    }


def ledger_rows(ledger: SqliteLedgerStore) -> list[tuple[str, str, str, int, int]]:
    """The ledger without commit instants (a retry after a restart may stamp its own)."""
    return [
        (s.message_id, s.entry.transaction_id, s.entry.party, s.entry.price, s.entry.quantity)
        for s in ledger.entries()
    ]


@contextmanager
def ledger_file() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder) / "ledger.sqlite"


def run(agent: MarketAgent, clock: ManualClock, requests: Sequence[Request]) -> list[Reply]:
    replies = []
    for request in requests:
        clock.advance(STEP)
        replies.append(agent.handle(request))
    return replies


def crossing_tenders(count: int) -> list[Request]:
    requests: list[Request] = []
    for n in range(count):
        side = Side.SELL if n % 3 else Side.BUY
        price = 1000 + (n * 37) % 300
        t = tender(f"t{n}", side, price, 1000 + (n * 911) % 4000, (n // 3) % SLOTS)
        requests.append(create(f"r{n}", f"p{n % 5}", t))
        if n % 7 == 6:
            requests.append(EiCancelTender(f"c{n}", f"p{(n - 3) % 5}", "market", f"t{n - 3}"))
    return requests


def test_a_recovered_agent_has_the_state_of_the_crashed_one(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    clock = ManualClock(START - timedelta(hours=1))
    crashed = new_agent(SqliteLedgerStore(path), clock, "bilateral")
    replies = run(crashed, clock, crossing_tenders(300))
    before = state(crashed)
    rows = ledger_rows(crashed.ledger)
    assert rows, "the sequence is meant to trade"
    # The crashed agent's store is abandoned without close(), as kill -9 leaves it.
    recovered = new_agent(SqliteLedgerStore(path), clock, "bilateral")
    assert state(recovered) == before
    assert recovered.recovery.appends_recorded == 0
    assert ledger_rows(recovered.ledger) == rows
    # Every retry is answered as the first time, notifications included, and writes nothing.
    retried = [recovered.handle(request) for request in crossing_tenders(300)]
    assert retried == replies
    assert ledger_rows(recovered.ledger) == rows
    assert verify_store(recovered.ledger).ok


def test_recovery_replays_clearings_and_never_records_one_twice(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    clock = ManualClock(START - timedelta(hours=1))
    crashed = new_agent(SqliteLedgerStore(path), clock, "double-auction")
    run(crashed, clock, [create("r1", "s", tender("s1", Side.SELL, 1000, 5000))])
    run(crashed, clock, [create("r2", "b", tender("b1", Side.BUY, 2000, 3000))])
    crashed.clear(slot(0))
    run(crashed, clock, [create("r3", "s", tender("s2", Side.SELL, 900, 2000, 1))])
    before, rows = state(crashed), ledger_rows(crashed.ledger)
    recovered = new_agent(SqliteLedgerStore(path), clock, "double-auction")
    assert state(recovered) == before
    assert recovered.recovery.clearings == 1
    assert recovered.clear(slot(0)).transactions == 0
    assert ledger_rows(recovered.ledger) == rows


def test_an_append_missing_behind_its_trace_is_recorded_by_the_replay(tmp_path: Path) -> None:
    """The trace row of a request whose append failed reaches the disk with a later write."""
    path = tmp_path / "ledger.sqlite"
    clock = ManualClock(START - timedelta(hours=1))
    crashed = new_agent(SqliteLedgerStore(path), clock, "bilateral")
    run(crashed, clock, [create("r1", "s", tender("s1", Side.SELL, 1000, 5000))])
    lost = create("r2", "b", tender("b1", Side.BUY, 1200, 3000))
    crashed.ledger.trace("r2", "EiCreateTender", clock.now(), codec.dumps(lost).decode())
    crashed.ledger.flush()
    recovered = new_agent(SqliteLedgerStore(path), clock, "bilateral")
    assert recovered.recovery.appends_recorded == 1
    assert [row[2] for row in ledger_rows(recovered.ledger)] == ["b", "s"]
    created = recovered.handle(lost).response
    assert isinstance(created, EiCreatedTender)
    assert created.response.ok


def test_position_requests_are_answered_afresh_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    clock = ManualClock(START - timedelta(hours=1))
    crashed = new_agent(SqliteLedgerStore(path), clock, "bilateral")
    run(crashed, clock, [EiRequestPosition("q1", "b", "b", slot(0))])
    recovered = new_agent(SqliteLedgerStore(path), clock, "bilateral")
    assert recovered.recovery.requests == 0
    assert "q1" not in recovered._replies


# ------------------------------------------------------------------ property
PARTIES = ("p1", "p2", "p3")
actions = st.lists(
    st.one_of(
        st.tuples(
            st.just("tender"),
            st.sampled_from(PARTIES),
            st.sampled_from([Side.BUY, Side.SELL]),
            st.integers(900, 1100),
            st.integers(1, 5000),
            st.integers(0, SLOTS - 1),
        ),
        st.tuples(st.just("cancel"), st.sampled_from(PARTIES), st.integers(0, 60)),
        st.tuples(st.just("quote"), st.sampled_from(PARTIES), st.integers(900, 1100)),
        st.tuples(st.just("accept"), st.sampled_from(PARTIES), st.integers(0, 60)),
        st.tuples(st.just("retry"), st.integers(0, 60)),
    ),
    max_size=60,
)


def requests_of(steps: list[tuple[Any, ...]]) -> list[Request]:
    requests: list[Request] = []
    for n, step in enumerate(steps):
        match step:
            case ("tender", party, side, price, quantity, k):
                requests.append(create(f"r{n}", party, tender(f"t{n}", side, price, quantity, k)))
            case ("cancel", party, target):
                requests.append(EiCancelTender(f"r{n}", party, "market", f"t{target}"))
            case ("quote", party, price):
                quote = Quote(f"q{n}", tender(f"q{n}", Side.SELL, price, 3000))
                requests.append(EiCreateQuote(f"r{n}", party, quote))
            case ("accept", party, target):
                requests.append(EiAcceptQuote(f"r{n}", party, "x", f"q{target}", 1000, 1100))
            case ("retry", target) if requests:
                requests.append(requests[target % len(requests)])
    return requests


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=actions, crash=st.integers(0, 60), mechanism=st.sampled_from(["bilateral"]))
def test_a_crash_anywhere_changes_nothing_the_parties_can_see(
    steps: list[tuple[Any, ...]], crash: int, mechanism: str
) -> None:
    """The same requests, with and without a crash and recovery at ``crash``, give the same
    replies and the same ledger."""
    requests = requests_of(steps)
    crash = min(crash, len(requests))
    with ledger_file() as reference_path, ledger_file() as crashed_path:
        clock = ManualClock(START - timedelta(hours=1))
        reference = new_agent(SqliteLedgerStore(reference_path), clock, mechanism)
        expected = run(reference, clock, requests)

        clock = ManualClock(START - timedelta(hours=1))
        first = new_agent(SqliteLedgerStore(crashed_path), clock, mechanism)
        replies = run(first, clock, requests[:crash])
        second = new_agent(SqliteLedgerStore(crashed_path), clock, mechanism)
        replies += run(second, clock, requests[crash:])

        assert replies == expected
        assert state(second) == state(reference)
        assert ledger_rows(second.ledger) == ledger_rows(reference.ledger)
        assert verify_store(second.ledger).ok
        for agent in (reference, first, second):
            agent.ledger.close()


def test_a_restart_refuses_to_replay_a_damaged_trace(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    clock = ManualClock(START - timedelta(hours=1))
    crashed = new_agent(SqliteLedgerStore(path), clock, "bilateral")
    run(crashed, clock, crossing_tenders(30))
    crashed.ledger.close()
    with sqlite3.connect(path) as connection:  # a forged request, 10 rows into the trace
        connection.execute("UPDATE trace SET received_at = ? WHERE seq = 10", (START.isoformat(),))
    connection.close()
    with pytest.raises(IntegrityError, match="trace row 10 is damaged"):
        new_agent(SqliteLedgerStore(path), clock, "bilateral")
