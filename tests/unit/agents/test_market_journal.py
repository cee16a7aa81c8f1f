"""A market engine rebuilt from its journal behaves as the engine it was taken from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from osed.agents.market_journal import JournaledMarket, Submit
from osed.domain.cts import Side
from osed.markets.orderbook import BilateralMarket
from osed.markets.protocol import Market, Order
from osed.markets.registry import create_market

T0 = datetime(2026, 7, 1, tzinfo=UTC)
INSTRUMENTS = ("a", "b")
MECHANISMS = ("bilateral", "gridlabd", "pay-as-clear", "pay-as-bid")


def engine(mechanism: str) -> Market:
    if mechanism == "bilateral":
        return create_market("bilateral")
    return create_market("double-auction", pricing=mechanism)


def order(
    n: int, side: Side, price: int, quantity: int, *, aon: bool = False, expires: int | None = None
) -> Order:
    expires_at = None if expires is None else T0 + timedelta(seconds=expires)
    return Order(f"o{n}", side, float(price), float(quantity), f"p{n % 3}", aon, expires_at)


class Driver:
    """Runs operations (operation ``n`` at ``T0 + n`` seconds) as the agent would: a cancel
    names the instrument its order was placed in."""

    def __init__(self, market: JournaledMarket, placed: dict[str, str] | None = None) -> None:
        self.market = market
        self.placed = dict(placed or {})

    def run(self, steps: list[tuple[Any, ...]], first: int) -> list[object]:
        answers: list[object] = []
        for n, step in enumerate(steps, start=first):
            now = T0 + timedelta(seconds=n)
            match step:
                case ("submit", instrument, side, price, quantity, aon, lasts):
                    expires = None if lasts is None else n + lasts
                    new = order(n, side, price, quantity, aon=aon, expires=expires)
                    self.placed[new.order_id] = instrument
                    answers.append(self.market.submit(instrument, new, now=now))
                case ("cancel", target, remaining):
                    instrument = self.placed.get(f"o{target}", "a")
                    keep = None if remaining is None else float(remaining)
                    answers.append(self.market.cancel(instrument, f"o{target}", remaining=keep))
                case ("clear", instrument):
                    answers.append(self.market.clear(instrument, now=now))
                case ("journal",):
                    self.market.journal()  # shortens the journals in place: changes nothing
        return answers

    def books(self) -> list[object]:
        found: list[object] = [self.market.snapshot(i) for i in INSTRUMENTS]
        engine = self.market.engine
        if isinstance(engine, BilateralMarket):
            found += [engine.open_quantity(i, o) for o, i in sorted(self.placed.items())]
        return found


submits = st.tuples(
    st.just("submit"),
    st.sampled_from(INSTRUMENTS),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(98, 102),
    st.integers(1, 6),
    st.sampled_from([False, False, False, True]),  # all-or-none now and then
    st.sampled_from([None, None, 0, 3, 10]),  # seconds it lasts: some expire during the run
)
others = (
    st.tuples(st.just("cancel"), st.integers(0, 40), st.none() | st.integers(0, 6)),
    st.tuples(st.just("clear"), st.sampled_from(INSTRUMENTS)),
    st.tuples(st.just("journal")),
)
# Half of the operations are submissions: books fill, cross and trade.
operation = st.integers(0, 5).flatmap(lambda k: submits if k < 3 else others[k - 3])
operations = st.lists(operation, min_size=20, max_size=80)


@settings(max_examples=300, deadline=None)
@given(steps=operations, cut=st.integers(0, 80), mechanism=st.sampled_from(MECHANISMS))
def test_a_rebuilt_engine_answers_as_the_original(
    steps: list[tuple[Any, ...]], cut: int, mechanism: str
) -> None:
    """Orders of any kind (all-or-none, expiring), reductions and clearings: after a rebuild
    from the journal at ``cut``, the same operations get the same answers, match ids included,
    and the books read the same."""
    cut %= len(steps) + 1
    original = Driver(JournaledMarket(engine(mechanism)))
    original.run(steps[:cut], 0)
    rebuilt = Driver(JournaledMarket(engine(mechanism)), original.placed)
    rebuilt.market.restore(original.market.journal())
    assert rebuilt.books() == original.books()
    assert rebuilt.market.last_match_id == original.market.last_match_id
    assert rebuilt.run(steps[cut:], cut) == original.run(steps[cut:], cut)
    assert rebuilt.books() == original.books()


def test_a_call_market_starts_each_interval_afresh() -> None:
    market = JournaledMarket(engine("pay-as-clear"))
    market.submit("a", order(1, Side.SELL, 100, 5), now=T0)
    market.submit("a", order(2, Side.BUY, 101, 3), now=T0)
    market.cancel("a", "o1", remaining=4.0)
    assert market.journal().instruments[0].operations == (
        Submit(order(1, Side.SELL, 100, 4), T0),
        Submit(order(2, Side.BUY, 101, 3), T0),
    )
    market.clear("a", now=T0)
    assert market.journal().instruments == ()
    assert market.journal().last_match_id == 2


def test_a_quiet_continuous_book_is_kept_as_its_live_orders() -> None:
    market = JournaledMarket(engine("bilateral"))
    market.submit("a", order(1, Side.SELL, 100, 5), now=T0)
    market.submit("a", order(2, Side.BUY, 101, 3), now=T0)  # fills 3 of o1
    market.submit("a", order(3, Side.BUY, 99, 2), now=T0)
    (book,) = market.journal().instruments
    assert book.operations == (
        Submit(order(1, Side.SELL, 100, 2), T0),
        Submit(order(3, Side.BUY, 99, 2), T0),
    )


def test_a_crossed_book_keeps_its_whole_journal() -> None:
    """An all-or-none order too big to take leaves bids above offers: resubmitting its live
    orders would trade, so the book is rebuilt from every operation."""
    market = JournaledMarket(engine("bilateral"))
    market.submit("a", order(1, Side.SELL, 100, 5, aon=True), now=T0)
    market.submit("a", order(2, Side.BUY, 101, 3), now=T0)
    market.submit("a", order(3, Side.SELL, 102, 1), now=T0)
    (book,) = market.journal().instruments
    assert len(book.operations) == 3
    market.cancel("a", "o1")
    (book,) = market.journal().instruments
    assert book.operations == (
        Submit(order(2, Side.BUY, 101, 3), T0),
        Submit(order(3, Side.SELL, 102, 1), T0),
    )


def test_a_book_whose_orders_may_have_expired_keeps_its_whole_journal() -> None:
    market = JournaledMarket(engine("bilateral"))
    market.submit("a", order(1, Side.SELL, 100, 5, expires=10), now=T0)
    assert len(market.journal().instruments[0].operations) == 1
    later = T0 + timedelta(seconds=20)
    market.submit("a", order(2, Side.SELL, 103, 1), now=later)
    (book,) = market.journal().instruments
    assert len(book.operations) == 2  # o1 is past its expiry: whether the engine saw it, unknown
    market.clear("a", now=later)  # the sweep reports it expired
    (book,) = market.journal().instruments
    assert book.operations == (Submit(order(2, Side.SELL, 103, 1), later),)
