"""What a restarted Market Agent knows about its clearings: which intervals were cleared, which
were expired, and which clearings' transactions may not have reached the parties."""

from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osed.agents.gates import AFTER_CLEARING, DELIVERY_STARTED
from osed.agents.market_agent import MarketAgent, UnsentTransactions
from osed.agents.recovery import EXPIRE_KIND, SENT_KIND
from osed.domain.cts import Side
from osed.domain.time import ManualClock
from osed.storage.sqlite import SqliteLedgerStore
from tests.unit.agents.conftest import START, slot
from tests.unit.agents.test_market_agent import create, tender
from tests.unit.agents.test_recovery import ledger_file, ledger_rows, new_agent, state

STEP = timedelta(seconds=1)


def restarted(agent: MarketAgent, clock: ManualClock) -> MarketAgent:
    """A new agent on the crashed one's ledger file (the old store is abandoned, as kill -9
    would leave it: buffered trace rows are lost)."""
    path = agent.ledger.path  # type: ignore[attr-defined]
    return new_agent(SqliteLedgerStore(path), clock, "double-auction")


def crossing(agent: MarketAgent, k: int = 0, tag: str = "") -> None:
    agent.handle(create(f"rs{k}{tag}", "s", tender(f"s{k}{tag}", Side.SELL, 1000, 5000, k)))
    agent.handle(create(f"rb{k}{tag}", "b", tender(f"b{k}{tag}", Side.BUY, 2000, 3000, k)))


def test_open_intervals_come_in_time_order(tmp_path: Path) -> None:
    clock = ManualClock(START - timedelta(hours=1))
    agent = new_agent(SqliteLedgerStore(tmp_path / "l.sqlite"), clock, "double-auction")
    crossing(agent, 2)
    crossing(agent, 0)
    assert agent.open_intervals() == [slot(0), slot(2)]
    agent.clear(slot(0))
    assert agent.open_intervals() == [slot(2)]
    assert (agent.is_cleared(slot(0)), agent.is_cleared(slot(2))) == (True, False)


def test_a_restarted_agent_knows_what_it_cleared(tmp_path: Path) -> None:
    clock = ManualClock(START - timedelta(hours=1))
    crashed = new_agent(SqliteLedgerStore(tmp_path / "l.sqlite"), clock, "double-auction")
    crossing(crashed)
    crashed.clear(slot(0))
    recovered = restarted(crashed, clock)
    assert recovered.is_cleared(slot(0))
    assert not recovered.is_cleared(slot(1))
    assert recovered.open_intervals() == []


def test_an_expiry_withdraws_the_tenders_and_survives_a_restart(tmp_path: Path) -> None:
    clock = ManualClock(START - timedelta(hours=1))
    crashed = new_agent(SqliteLedgerStore(tmp_path / "l.sqlite"), clock, "double-auction")
    crossing(crashed, 0)
    crossing(crashed, 1)
    assert crashed.expire(slot(0), DELIVERY_STARTED) == ("s0", "b0")
    assert crashed.expire(slot(0), DELIVERY_STARTED) == ()
    assert crashed.open_intervals() == [slot(1)]
    book = crashed.market.snapshot(slot(0).key())
    assert (book.bids, book.offers) == ((), ())
    assert crashed.clear(slot(0)).transactions == 0  # nothing left to trade
    before = state(crashed)
    recovered = restarted(crashed, clock)
    assert state(recovered) == before
    assert ledger_rows(recovered.ledger) == []
    reasons = [r.body for r in recovered.ledger.traces() if r.kind == EXPIRE_KIND]
    assert len(reasons) == 2
    assert all(f'"reason": "{DELIVERY_STARTED}"' in body for body in reasons)


def test_transactions_not_recorded_as_sent_are_unsent_after_a_restart(tmp_path: Path) -> None:
    clock = ManualClock(START - timedelta(hours=1))
    crashed = new_agent(SqliteLedgerStore(tmp_path / "l.sqlite"), clock, "double-auction")
    crossing(crashed, 0)
    crossing(crashed, 1)
    first = crashed.clear(slot(0))
    second = crashed.clear(slot(1))
    # Live too, until recorded as sent: a snapshot must hold what a replay would know.
    assert [u.clearing_id for u in crashed.unsent_transactions()] == [
        first.clearing_id,
        second.clearing_id,
    ]
    crashed.transactions_sent(first.clearing_id)
    # The crash came after the second clearing's commit, before its transactions went out.
    recovered = restarted(crashed, clock)
    assert recovered.unsent_transactions() == [
        UnsentTransactions(second.clearing_id, slot(1), second.notifications)
    ]
    recovered.transactions_sent(second.clearing_id)
    assert recovered.unsent_transactions() == []
    again = restarted(recovered, clock)
    assert again.unsent_transactions() == []
    assert [r.message_id for r in again.ledger.traces() if r.kind == SENT_KIND] == [
        f"sent:{first.clearing_id}",
        f"sent:{second.clearing_id}",
    ]


def test_a_later_clearing_forgets_the_unsent_transactions_of_ended_intervals(
    tmp_path: Path,
) -> None:
    clock = ManualClock(START - timedelta(hours=1))
    crashed = new_agent(SqliteLedgerStore(tmp_path / "l.sqlite"), clock, "double-auction")
    crossing(crashed, 0)
    crashed.clear(slot(0))
    clock.set(slot(0).end)  # delivered: sending the transactions now would help nobody
    crossing(crashed, 3)
    third = crashed.clear(slot(3))
    recovered = restarted(crashed, clock)
    assert [u.clearing_id for u in recovered.unsent_transactions()] == [third.clearing_id]


# ------------------------------------------------------------------ property
actions = st.lists(
    st.one_of(
        st.tuples(st.just("tender"), st.sampled_from([Side.BUY, Side.SELL]), st.integers(0, 2)),
        st.tuples(st.just("clear"), st.integers(0, 2)),
        st.tuples(st.just("expire"), st.integers(0, 2)),
        st.tuples(st.just("sent"), st.integers(0, 5)),
    ),
    max_size=30,
)


def apply(agent: MarketAgent, clock: ManualClock, steps: list[tuple[Any, ...]], base: int) -> None:
    for n, step in enumerate(steps, start=base):
        clock.advance(STEP)
        match step:
            case ("tender", side, k):
                price = 1500 if side is Side.BUY else 1000
                party = "b" if side is Side.BUY else "s"
                agent.handle(create(f"r{n}", party, tender(f"t{n}", side, price, 1000 + n, k)))
            case ("clear", k):
                agent.clear(slot(k))
            case ("expire", k):
                agent.expire(slot(k), AFTER_CLEARING)
            case ("sent", k):
                agent.transactions_sent(f"clear:market:{slot(k % 3).key()}:1")


def snapshot(agent: MarketAgent) -> dict[str, object]:
    cleared = [k for k in range(3) if agent.is_cleared(slot(k))]
    return state(agent) | {"cleared": cleared, "open": agent.open_intervals()}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=actions, crash=st.integers(0, 30))
def test_clearings_and_expiries_survive_a_crash_anywhere(
    steps: list[tuple[Any, ...]], crash: int
) -> None:
    """The same actions with and without a crash at ``crash`` leave the same book, open
    tenders, cleared intervals and ledger; no clearing is ever recorded twice."""
    crash = min(crash, len(steps))
    with ledger_file() as reference_path, ledger_file() as crashed_path:
        clock = ManualClock(START - timedelta(hours=1))
        reference = new_agent(SqliteLedgerStore(reference_path), clock, "double-auction")
        apply(reference, clock, steps, 0)

        clock = ManualClock(START - timedelta(hours=1))
        first = new_agent(SqliteLedgerStore(crashed_path), clock, "double-auction")
        apply(first, clock, steps[:crash], 0)
        second = new_agent(SqliteLedgerStore(crashed_path), clock, "double-auction")
        apply(second, clock, steps[crash:], crash)

        assert snapshot(second) == snapshot(reference)
        assert ledger_rows(second.ledger) == ledger_rows(reference.ledger)
        transaction_ids = [row[1] for row in ledger_rows(second.ledger)]
        assert len(transaction_ids) == len(set(transaction_ids))
        for agent in (reference, first, second):
            agent.ledger.close()
