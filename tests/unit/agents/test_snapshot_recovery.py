"""A Market Agent restarted from a snapshot and the trace after it is the agent a replay of the
whole trace rebuilds, and the agent that never crashed."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osed.agents.bus_service import MarketAgentService
from osed.agents.market_agent import MarketAgent, Reply, Request
from osed.agents.snapshot import SNAPSHOT_FORMAT, SnapshotPolicy
from osed.bus.memory import MemoryBroker, MemoryBus
from osed.domain.cts import (
    EiAcceptQuote,
    EiCancelTender,
    EiCreateQuote,
    EiCreateTender,
    EiRequestPosition,
    IntervalDetail,
    Quote,
    Side,
    StreamDetail,
    StreamInterval,
    Tender,
)
from osed.domain.errors import ConflictError
from osed.domain.ledger import LedgerEntry
from osed.domain.time import ManualClock
from osed.ledger.verify import verify_store
from osed.markets.registry import create_market
from osed.ports.ledger import AppendResult
from osed.runtime.cts_bus import CtsBusLink
from osed.storage.sqlite import SqliteLedgerStore
from tests.unit.agents import test_clearing_after_restart as clearing_steps
from tests.unit.agents import test_recovery as request_steps
from tests.unit.agents.conftest import SLOT, START, UNITS, slot
from tests.unit.agents.test_market_agent import create, tender
from tests.unit.agents.test_recovery import ledger_file, ledger_rows, state

STEP = timedelta(seconds=1)
BEGIN = START - timedelta(hours=1)
EXAMPLES = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def longer(actions: st.SearchStrategy[list[Any]]) -> st.SearchStrategy[list[Any]]:
    """Several runs of ``actions`` one after the other: long enough for cancels, accepts and
    retries to find their targets, and for snapshots to fall between them."""
    runs = st.lists(actions, min_size=3, max_size=8)
    return runs.map(lambda found: [step for run in found for step in run])


def agent_on(
    path: Path,
    clock: ManualClock,
    mechanism: str,
    *,
    every: int | None = None,
    restore: bool = True,
    replies: int = 100_000,
    ledger: SqliteLedgerStore | None = None,
) -> MarketAgent:
    options: dict[str, Any] = {"pricing": "pay-as-clear"} if mechanism == "double-auction" else {}
    return MarketAgent(
        market_id="market",
        market=create_market(mechanism, **options),
        ledger=ledger or SqliteLedgerStore(path),
        clock=clock,
        units=UNITS,
        remembered_replies=replies,
        snapshots=SnapshotPolicy(every=every, restore=restore),
    )


def everything(agent: MarketAgent) -> dict[str, object]:
    """All the agent keeps: what ``state`` shows, and what clearings and matches leave."""
    return state(agent) | {
        "cleared": sorted(agent._cleared),
        "unsent": agent.unsent_transactions(),
        "open intervals": agent.open_intervals(),
        "quote matches": agent._next_quote_match,
        "market matches": agent._book.last_match_id,
    }


def newest_position(ledger: SqliteLedgerStore) -> int:
    return max((s.trace_seq for s in ledger.snapshots(SNAPSHOT_FORMAT)), default=0)


def both_recoveries(path: Path, clock: ManualClock, mechanism: str, **options: Any) -> MarketAgent:
    """Recover from the whole trace and from the newest snapshot; they must agree. The second
    is returned, to go on."""
    full = agent_on(path, clock, mechanism, restore=False, **options | {"every": None})
    rebuilt = everything(full)
    assert full.recovery.snapshot_seq == 0
    full.ledger.close()
    snapshot_seq = newest_position(SqliteLedgerStore(path, read_only=True))
    again = agent_on(path, clock, mechanism, **options)
    assert again.recovery.snapshot_seq == snapshot_seq
    assert again.recovery.snapshots_skipped == 0
    assert again.recovery.appends_recorded == 0
    assert everything(again) == rebuilt
    return again


# --------------------------------------------------------- requests, with retries
def drive(
    agent: MarketAgent, clock: ManualClock, requests: Sequence[Request], snapshots: set[int], n: int
) -> list[Reply]:
    replies = []
    for k, request in enumerate(requests, start=n):
        if k in snapshots:
            agent.snapshot()
        clock.advance(STEP)
        replies.append(agent.handle(request))
    return replies


def check_crash_anywhere(
    requests: list[Request], crash: int, snapshots: set[int], mechanism: str, **options: Any
) -> None:
    crash %= len(requests) + 1
    snapshots = {k % (len(requests) + 1) for k in snapshots}
    with ledger_file() as reference_path, ledger_file() as crashed_path:
        clock = ManualClock(BEGIN)
        reference = agent_on(reference_path, clock, mechanism, **options)
        expected = drive(reference, clock, requests, snapshots, 0)

        clock = ManualClock(BEGIN)
        first = agent_on(crashed_path, clock, mechanism, **options)
        replies = drive(first, clock, requests[:crash], snapshots, 0)
        # ``first`` is abandoned without close(), as kill -9 leaves it.
        second = both_recoveries(crashed_path, clock, mechanism, **options)
        replies += drive(second, clock, requests[crash:], snapshots, crash)

        assert replies == expected
        assert everything(second) == everything(reference)
        assert ledger_rows(second.ledger) == ledger_rows(reference.ledger)
        assert verify_store(second.ledger).ok
        for agent in (reference, first, second):
            agent.ledger.close()


@EXAMPLES
@given(
    steps=longer(request_steps.actions),
    crash=st.integers(0, 200),
    snapshots=st.sets(st.integers(0, 200), max_size=5),
    agent=st.tuples(
        st.sampled_from(["bilateral", "double-auction"]),
        st.none() | st.integers(1, 8),  # automatic snapshots every so many steps
        st.sampled_from([3, 100_000]),  # reply cache size
    ),
)
def test_snapshot_and_tail_rebuild_what_the_whole_trace_does(
    steps: list[tuple[Any, ...]], crash: int, snapshots: set[int], agent: tuple[str, Any, int]
) -> None:
    """The requests of the recovery property (tenders, cancels, quotes, accepts, retries),
    snapshots taken when asked and every ``every`` steps, a crash at ``crash``: recovering
    from the newest snapshot gives the state recovering from the whole trace gives, and going
    on gives the replies, state and ledger of the agent that never crashed. A small reply
    cache makes retries of forgotten requests execute again."""
    mechanism, every, replies = agent
    requests = request_steps.requests_of(steps)
    check_crash_anywhere(requests, crash, snapshots, mechanism, every=every, replies=replies)


rich_actions = st.lists(
    st.one_of(
        st.tuples(
            st.just("tender"),
            st.sampled_from(request_steps.PARTIES),
            st.sampled_from([Side.BUY, Side.SELL]),
            st.integers(950, 1050),
            st.integers(1, 5).map(lambda k: k * 1000),
            st.integers(0, 2),
            st.booleans(),
            st.sampled_from([None, 0, 3, 10]),
        ),
        st.tuples(st.just("stream"), st.sampled_from(request_steps.PARTIES), st.integers(0, 2)),
        st.tuples(
            st.just("cancel"),
            st.sampled_from(request_steps.PARTIES),
            st.integers(0, 40),
            st.none() | st.integers(0, 4).map(lambda k: k * 1000),
        ),
        st.tuples(st.just("position"), st.sampled_from(request_steps.PARTIES)),
        st.tuples(st.just("retry"), st.integers(0, 40)),
    ),
    min_size=15,
    max_size=50,
)


def rich_requests(steps: list[tuple[Any, ...]]) -> list[Request]:
    """All-or-none tenders, tenders that expire (seconds after the run begins), streams,
    reductions, position requests and retries."""
    requests: list[Request] = []
    for n, step in enumerate(steps):
        match step:
            case ("tender", party, side, price, quantity, k, aon, lasts):
                expires = None if lasts is None else BEGIN + (n + lasts) * STEP
                detail = IntervalDetail(slot(k), price, quantity)
                t = Tender(f"t{n}", side, detail, 4, 3, all_or_none=aon, expiration_time=expires)
                requests.append(EiCreateTender(f"r{n}", party, "market", t))
            case ("stream", party, k):
                intervals = (StreamInterval(1, 1000, 2000), StreamInterval(2, 990, 1000))
                detail = StreamDetail(slot(k).start, SLOT, intervals)
                t = Tender(f"t{n}", Side.SELL, detail, 4, 3)
                requests.append(EiCreateTender(f"r{n}", party, "market", t))
            case ("cancel", party, target, remaining):
                cancel = EiCancelTender(
                    f"r{n}", party, "market", f"t{target}", remaining_quantity=remaining
                )
                requests.append(cancel)
            case ("position", party):
                requests.append(EiRequestPosition(f"r{n}", party, party, slot(0)))
            case ("retry", target) if requests:
                requests.append(requests[target % len(requests)])
    return requests


@EXAMPLES
@given(
    steps=rich_actions,
    crash=st.integers(0, 50),
    snapshots=st.sets(st.integers(0, 50), max_size=5),
    every=st.none() | st.integers(1, 8),
    mechanism=st.sampled_from(["bilateral", "double-auction"]),
)
def test_books_with_every_kind_of_order_survive_a_snapshot(
    steps: list[tuple[Any, ...]],
    crash: int,
    snapshots: set[int],
    every: int | None,
    mechanism: str,
) -> None:
    check_crash_anywhere(rich_requests(steps), crash, snapshots, mechanism, every=every)


# --------------------------------------------------- clearings, expiries and sends
def act(
    agent: MarketAgent, clock: ManualClock, steps: list[Any], snapshots: set[int], n: int
) -> None:
    for k, step in enumerate(steps, start=n):
        if k in snapshots:
            agent.snapshot()
        clearing_steps.apply(agent, clock, [step], k)


@EXAMPLES
@given(
    steps=longer(clearing_steps.actions),
    crash=st.integers(0, 200),
    snapshots=st.sets(st.integers(0, 200), max_size=5),
    every=st.none() | st.integers(1, 6),
)
def test_clearings_expiries_and_sends_survive_a_snapshot(
    steps: list[tuple[Any, ...]], crash: int, snapshots: set[int], every: int | None
) -> None:
    """The actions of the clearing property: tenders, clearings (again too), expiries and
    records of sent transactions, with snapshots, and a crash anywhere."""
    crash %= len(steps) + 1
    snapshots = {k % (len(steps) + 1) for k in snapshots}
    with ledger_file() as reference_path, ledger_file() as crashed_path:
        clock = ManualClock(BEGIN)
        reference = agent_on(reference_path, clock, "double-auction", every=every)
        act(reference, clock, steps, snapshots, 0)

        clock = ManualClock(BEGIN)
        first = agent_on(crashed_path, clock, "double-auction", every=every)
        act(first, clock, steps[:crash], snapshots, 0)
        second = both_recoveries(crashed_path, clock, "double-auction", every=every)
        act(second, clock, steps[crash:], snapshots, crash)

        assert everything(second) == everything(reference)
        assert ledger_rows(second.ledger) == ledger_rows(reference.ledger)
        for agent in (reference, first, second):
            agent.ledger.close()


# ------------------------------------------------------------------ fallbacks
def traded(path: Path, clock: ManualClock, count: int, first: int = 0) -> MarketAgent:
    agent = agent_on(path, clock, "bilateral")
    for n in range(first, first + count):
        clock.advance(STEP)
        side = Side.SELL if n % 2 else Side.BUY
        agent.handle(create(f"r{n}", f"p{n % 3}", tender(f"t{n}", side, 1000 + n % 7, 1000)))
    return agent


def damage(path: Path, snapshot_id: int, statement: str) -> None:
    with sqlite3.connect(path) as db:
        db.execute(statement, (snapshot_id,))


def two_snapshots(path: Path, clock: ManualClock) -> tuple[MarketAgent, list[int]]:
    agent = traded(path, clock, 20)
    older = agent.snapshot()
    agent.handle(create("late", "p1", tender("late", Side.BUY, 990, 1000)))
    newer = agent.snapshot()
    assert older is not None
    assert newer is not None
    ids = [s.snapshot_id for s in agent.ledger.snapshots(SNAPSHOT_FORMAT)]
    return agent, [older, newer, *ids]


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        ("UPDATE snapshots SET body = substr(body, 1, 40) WHERE id = ?", "checksum"),
        ("UPDATE snapshots SET checksum = zeroblob(32) WHERE id = ?", "checksum"),
        ("UPDATE snapshots SET trace_seq = 1000000 WHERE id = ?", "trace has no row"),
    ],
)
def test_a_damaged_newest_snapshot_falls_back_to_the_older_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, statement: str, reason: str
) -> None:
    path = tmp_path / "ledger.sqlite"
    clock = ManualClock(BEGIN)
    crashed, (older, _, newest_id, _) = two_snapshots(path, clock)
    damage(path, newest_id, statement)
    full = agent_on(path, clock, "bilateral", restore=False)
    with caplog.at_level(logging.WARNING, logger="osed.agents.snapshot"):
        recovered = agent_on(path, clock, "bilateral")
    assert (recovered.recovery.snapshot_seq, recovered.recovery.snapshots_skipped) == (older, 1)
    assert recovered.recovery.requests == 1  # the tender after the older snapshot
    assert reason in caplog.text
    assert everything(recovered) == everything(full) == everything(crashed)


def test_without_a_usable_snapshot_the_whole_trace_is_replayed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ledger.sqlite"
    clock = ManualClock(BEGIN)
    crashed, (_, _, *ids) = two_snapshots(path, clock)
    for snapshot_id in ids:
        damage(path, snapshot_id, "UPDATE snapshots SET body = X'00' WHERE id = ?")
    with caplog.at_level(logging.WARNING, logger="osed.agents.snapshot"):
        recovered = agent_on(path, clock, "bilateral")
    assert (recovered.recovery.snapshot_seq, recovered.recovery.snapshots_skipped) == (0, 2)
    assert recovered.recovery.requests == 21
    assert caplog.text.count("is skipped") == 2
    assert everything(recovered) == everything(crashed)


def test_a_snapshot_that_does_not_decode_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Intact by its checksum (the store computed it) but not a snapshot of this agent."""
    path = tmp_path / "ledger.sqlite"
    clock = ManualClock(BEGIN)
    crashed = traded(path, clock, 5)
    older = crashed.snapshot()
    crashed.ledger.save_snapshot(
        SNAPSHOT_FORMAT, b"\x00\x00\x00\x00\x00\x00\x00\x03abc", taken_at=BEGIN
    )
    with caplog.at_level(logging.WARNING, logger="osed.agents.snapshot"):
        recovered = agent_on(path, clock, "bilateral")
    assert recovered.recovery.snapshot_seq == older
    assert "does not decode" in caplog.text
    assert everything(recovered) == everything(crashed)


def test_a_snapshot_of_another_configuration_is_not_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ledger.sqlite"
    clock = ManualClock(BEGIN)
    traded(path, clock, 5).snapshot()
    with caplog.at_level(logging.WARNING, logger="osed.agents.snapshot"):
        recovered = agent_on(path, clock, "bilateral", replies=10)
    assert (recovered.recovery.snapshot_seq, recovered.recovery.requests) == (0, 5)
    assert "another version or configuration" in caplog.text


# ------------------------------------------------------------------ when
def test_a_snapshot_is_taken_every_n_steps_and_position_requests_do_not_count(
    tmp_path: Path,
) -> None:
    clock = ManualClock(BEGIN)
    agent = agent_on(tmp_path / "ledger.sqlite", clock, "bilateral", every=3)
    for n in range(7):
        clock.advance(STEP)
        agent.handle(create(f"r{n}", "p", tender(f"t{n}", Side.BUY, 1000, 1000)))
        agent.handle(EiRequestPosition(f"q{n}", "p", "p", slot(0)))
    positions = [s.trace_seq for s in agent.ledger.snapshots(SNAPSHOT_FORMAT)]
    traced = [r.seq for r in agent.ledger.traces() if r.kind == "EiCreateTender"]
    assert positions == [traced[5], traced[2]]  # newest first, after the 6th and the 3rd
    assert agent.steps_since_snapshot == 1


def test_a_long_replay_is_followed_by_a_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    clock = ManualClock(BEGIN)
    traded(path, clock, 12)
    recovered = agent_on(path, clock, "bilateral", every=10)
    assert recovered.recovery.requests == 12
    assert newest_position(recovered.ledger) == max(r.seq for r in recovered.ledger.traces())
    assert recovered.steps_since_snapshot == 0
    again = agent_on(path, clock, "bilateral", every=10)
    assert (again.recovery.requests, again.recovery.snapshot_seq) == (
        0,
        newest_position(again.ledger),
    )


async def test_a_graceful_stop_writes_a_snapshot(tmp_path: Path) -> None:
    clock = ManualClock(BEGIN)
    agent = agent_on(tmp_path / "ledger.sqlite", clock, "bilateral")
    bus = MemoryBus(MemoryBroker(), clock=clock)
    await bus.start()
    link = CtsBusLink(bus, source="market-agent", clock=clock)
    service = MarketAgentService(
        agent=agent, publish=link.publish, subscribe=link.subscribe, interval=SLOT
    )
    await service.start()
    agent.handle(create("r1", "p", tender("t1", Side.BUY, 1000, 1000)))
    await service.stop()
    await bus.stop()
    last = max(r.seq for r in agent.ledger.traces())
    assert newest_position(agent.ledger) == last
    restarted = agent_on(agent.ledger.path, clock, "bilateral")
    assert (restarted.recovery.snapshot_seq, restarted.recovery.requests) == (last, 0)


# ------------------------------------------------------------------ diverged
class FailingOnce(SqliteLedgerStore):
    """A ledger whose first append fails, as a busy database would fail it."""

    failed = False

    def append(self, message_id: str, entries: Sequence[LedgerEntry]) -> AppendResult:
        if not self.failed:
            self.failed = True
            raise ConflictError("the ledger is busy")
        return super().append(message_id, entries)


def test_after_a_failed_step_no_snapshot_is_taken_until_a_restart(tmp_path: Path) -> None:
    """The failed step changed the book without its ledger entries: only a replay, which
    records them, brings the agent back to a state a snapshot may hold."""
    path = tmp_path / "ledger.sqlite"
    clock = ManualClock(BEGIN)
    agent = agent_on(path, clock, "bilateral", every=1, ledger=FailingOnce(path))
    agent.handle(create("r1", "s", tender("s1", Side.SELL, 1000, 5000)))
    taken = newest_position(agent.ledger)
    assert taken > 0
    with pytest.raises(ConflictError):
        agent.handle(create("r2", "b", tender("b1", Side.BUY, 1200, 3000)))
    agent.handle(create("r3", "b", tender("b2", Side.BUY, 900, 1000)))
    assert agent.snapshot() is None
    assert newest_position(agent.ledger) == taken
    restarted = agent_on(path, clock, "bilateral", every=1)
    assert restarted.recovery.snapshot_seq == taken
    assert restarted.recovery.appends_recorded == 1
    assert newest_position(restarted.ledger) > taken  # consistent again: snapshots resume
    full = agent_on(path, clock, "bilateral", restore=False)
    assert everything(restarted) == everything(full)


def test_an_agent_that_did_not_recover_takes_no_snapshot(tmp_path: Path) -> None:
    clock = ManualClock(BEGIN)
    traded(tmp_path / "ledger.sqlite", clock, 3)
    agent = MarketAgent(
        market_id="market",
        market=create_market("bilateral"),
        ledger=SqliteLedgerStore(tmp_path / "ledger.sqlite"),
        clock=clock,
        units=UNITS,
        recover=False,
    )
    assert agent.snapshot() is None


# ------------------------------------------------------------------ replies
def test_a_retry_after_a_restart_from_a_snapshot_gets_the_first_reply(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    clock = ManualClock(BEGIN)
    crashed = agent_on(path, clock, "bilateral")
    crashed.handle(create("r1", "s", tender("s1", Side.SELL, 1000, 5000)))
    first = crashed.handle(create("r2", "b", tender("b1", Side.BUY, 1200, 3000)))
    quote = Quote("q1", tender("q1", Side.SELL, 1100, 2000))
    crashed.handle(EiCreateQuote("r3", "s", quote))
    accepted = crashed.handle(EiAcceptQuote("r4", "b", "s", "q1", 1000, 1100))
    crashed.snapshot()
    recovered = agent_on(path, clock, "bilateral")
    assert recovered.recovery.requests == 0
    assert recovered.handle(create("r2", "b", tender("b1", Side.BUY, 1200, 3000))) == first
    assert recovered.handle(EiAcceptQuote("r4", "b", "s", "q1", 1000, 1100)) == accepted
    assert len(first.notifications) == len(accepted.notifications) == 2
    assert ledger_rows(recovered.ledger) == ledger_rows(crashed.ledger)


# ------------------------------------------------- what first ran before the snapshot
def test_a_clearing_repeated_after_a_snapshot_is_a_duplicate_as_it_was(tmp_path: Path) -> None:
    """Clearing an interval again under the same round records nothing: its message id was
    recorded before the snapshot, so the replay after it must not take it for new (it would
    count the unrecorded trades as transactions to send)."""
    path = tmp_path / "ledger.sqlite"
    clock = ManualClock(BEGIN)
    crashed = agent_on(path, clock, "double-auction")
    clearing_steps.crossing(crashed, 0)
    first = crashed.clear(slot(0))
    clearing_steps.crossing(crashed, 0, tag="again")
    crashed.snapshot()
    again = crashed.clear(slot(0))
    assert again.duplicate
    assert again.notifications == ()
    full = agent_on(path, clock, "double-auction", restore=False)
    recovered = agent_on(path, clock, "double-auction")
    assert recovered.recovery.requests == 0
    assert recovered.recovery.clearings == 1
    assert everything(recovered) == everything(full) == everything(crashed)
    assert recovered.unsent_transactions()[0].notifications == first.notifications


def test_a_forgotten_accept_retried_after_a_snapshot_is_a_duplicate_as_it_was(
    tmp_path: Path,
) -> None:
    """A retry whose reply was forgotten runs again; its ledger message was recorded before
    the snapshot, so it was a duplicate then and is one in the replay."""
    path = tmp_path / "ledger.sqlite"
    clock = ManualClock(BEGIN)
    crashed = agent_on(path, clock, "bilateral", replies=2)
    crashed.handle(EiCreateQuote("r1", "s", Quote("q1", tender("q1", Side.SELL, 1000, 3000))))
    accept = EiAcceptQuote("r2", "b", "s", "q1", 1000, 1000)
    assert len(crashed.handle(accept).notifications) == 2
    for n in range(3):  # pushes the accept's reply out of the cache
        crashed.handle(create(f"x{n}", "p", tender(f"x{n}", Side.BUY, 900, 1000, 1)))
    crashed.snapshot()
    assert crashed.handle(accept).notifications == ()  # executed again, but a duplicate
    full = agent_on(path, clock, "bilateral", replies=2, restore=False)
    recovered = agent_on(path, clock, "bilateral", replies=2)
    assert recovered.recovery.requests == 1
    assert everything(recovered) == everything(full) == everything(crashed)


def test_quote_matches_continue_after_a_snapshot(tmp_path: Path) -> None:
    def accepting(agent: MarketAgent, n: int) -> Reply:
        quote = Quote(f"q{n}", tender(f"q{n}", Side.SELL, 1000, 3000))
        agent.handle(EiCreateQuote(f"rq{n}", "s", quote))
        return agent.handle(EiAcceptQuote(f"ra{n}", "b", "s", f"q{n}", 1000, 1000))

    clock = ManualClock(BEGIN)
    reference = agent_on(tmp_path / "reference.sqlite", clock, "bilateral")
    expected = [accepting(reference, n) for n in range(2)]
    clock = ManualClock(BEGIN)
    crashed = agent_on(tmp_path / "ledger.sqlite", clock, "bilateral")
    accepting(crashed, 0)
    crashed.snapshot()
    recovered = agent_on(tmp_path / "ledger.sqlite", clock, "bilateral")
    assert accepting(recovered, 1) == expected[1]
    assert ledger_rows(recovered.ledger) == ledger_rows(reference.ledger)
