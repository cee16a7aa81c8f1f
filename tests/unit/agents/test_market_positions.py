"""The positions the Market Agent keeps in memory equal the ledger's, row for row."""

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osed.agents.market_agent import MarketAgent
from osed.agents.market_positions import MarketPositions
from osed.domain.cts import EiReplyPosition, EiRequestPosition, Side
from osed.domain.ledger import LedgerEntry
from osed.domain.time import Interval, ManualClock
from osed.markets.registry import create_market
from osed.storage.sqlite import SqliteLedgerStore
from tests.unit.agents.conftest import START, UNITS, slot
from tests.unit.agents.test_market_agent import create, tender

PARTIES = ("p1", "p2", "p3")
DURATIONS = (timedelta(minutes=15), timedelta(hours=1), timedelta(minutes=40))

intervals = st.builds(
    lambda quarter, duration: Interval(START + quarter * timedelta(minutes=15), duration),
    st.integers(0, 12),
    st.sampled_from(DURATIONS),
)
entries = st.builds(
    lambda party, side, interval, quantity, scale: (party, side, interval, quantity, scale),
    st.sampled_from(PARTIES),
    st.sampled_from([Side.BUY, Side.SELL]),
    intervals,
    st.integers(1, 9_000),
    st.sampled_from([0, 3]),
)
windows = st.none() | st.builds(
    lambda quarter, quarters: Interval(
        START + quarter * timedelta(minutes=15), quarters * timedelta(minutes=7, seconds=30)
    ),
    st.integers(-4, 14),
    st.integers(1, 12),
)
STORES = itertools.count()
STAMP = datetime(2026, 6, 30, tzinfo=UTC)


def entry(n: int, drawn: tuple[str, Side, Interval, int, int]) -> LedgerEntry:
    party, side, interval, quantity, scale = drawn
    return LedgerEntry(
        transaction_id=f"x{n}",
        tender_id=f"t{n}",
        party=party,
        counter_party="market",
        side=side,
        interval=interval,
        price=1000,
        price_scale=4,
        quantity=quantity,
        quantity_scale=scale,
        currency="USD",
        market_id="market",
        committed_at=STAMP,
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    appends=st.lists(st.lists(entries, min_size=1, max_size=4), max_size=12),
    loaded_after=st.integers(0, 12),
    asked=st.lists(st.tuples(st.sampled_from(PARTIES), windows), min_size=1, max_size=6),
)
def test_positions_in_memory_equal_the_ledgers_rows(
    tmp_path: Path,
    appends: list[list[tuple[str, Side, Interval, int, int]]],
    loaded_after: int,
    asked: list[tuple[str, Interval | None]],
) -> None:
    """Loaded from the ledger's rows part way, then kept from the appends (a repeated message
    id is a duplicate: the ledger records nothing, and neither does the caller)."""
    with SqliteLedgerStore(tmp_path / f"ledger-{next(STORES)}.sqlite") as ledger:
        positions: MarketPositions | None = None
        counter = itertools.count()
        for number, drawn in enumerate(appends):
            if number == loaded_after:
                positions = MarketPositions(ledger.all_positions())
            batch = [entry(next(counter), item) for item in drawn]
            message_id = f"m{number // 2}"  # every second append repeats the one before
            result = ledger.append(message_id, batch)
            if positions is not None and not result.duplicate:
                positions.apply(batch)
        if positions is None:
            positions = MarketPositions(ledger.all_positions())
        for party, within in asked:
            assert positions.of(party, within) == ledger.positions(party, within)
        assert MarketPositions(ledger.all_positions()).of("p1") == ledger.positions("p1")


orders = st.lists(
    st.tuples(
        st.sampled_from(PARTIES),
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(900, 1100),
        st.integers(1, 5000),
        st.integers(0, 3),
        st.booleans(),
    ),
    max_size=30,
)
RUNS = itertools.count()


def replied(agent: MarketAgent, request_id: str, party: str, within: Interval) -> EiReplyPosition:
    reply = agent.handle(EiRequestPosition(request_id, party, party, within)).response
    assert isinstance(reply, EiReplyPosition)
    return reply


def from_ledger(
    ledger: SqliteLedgerStore, party: str, within: Interval
) -> list[tuple[Interval, int]]:
    totals: dict[Interval, int] = {}
    for row in ledger.positions(party, within):
        quantity = UNITS.quantity_of(row.quantity, row.quantity_scale)
        totals[row.interval] = totals.get(row.interval, 0) + quantity
    return sorted(totals.items())


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(actions=orders)
def test_position_replies_equal_the_ledger_before_and_after_a_restart(
    tmp_path: Path, actions: list[tuple[str, Side, int, int, int, bool]]
) -> None:
    run = next(RUNS)
    clock = ManualClock(START - timedelta(hours=1))
    with SqliteLedgerStore(tmp_path / f"agent-{run}.sqlite") as ledger:

        def agent() -> MarketAgent:
            market = create_market("bilateral")
            return MarketAgent(
                market_id="market", market=market, ledger=ledger, clock=clock, units=UNITS
            )

        live = agent()
        day = Interval(START, 4 * slot(0).duration)
        for n, (party, side, price, quantity, k, ask) in enumerate(actions):
            live.handle(create(f"r{n}", party, tender(f"t{n}", side, price, quantity, k)))
            if ask:
                for within in (day, slot(k)):
                    reply = replied(live, f"q{n}-{within.start}", party, within)
                    expected = from_ledger(ledger, party, within)
                    assert [(p.interval, p.quantity) for p in reply.positions] == expected
        restarted = agent()
        for party in PARTIES:
            reply = replied(restarted, f"after-{party}", party, day)
            assert [(p.interval, p.quantity) for p in reply.positions] == from_ledger(
                ledger, party, day
            )
