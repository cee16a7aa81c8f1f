import itertools
import json
from collections import Counter
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osed.agents.market_agent import MarketAgent
from osed.codec import cts as codec
from osed.domain.cts import (
    EiAcceptQuote,
    EiCanceledTender,
    EiCancelTender,
    EiCreatedTender,
    EiCreateQuote,
    EiCreateTender,
    EiReplyPosition,
    EiRequestPosition,
    EiResponse,
    IntervalDetail,
    Quote,
    Side,
    StreamDetail,
    StreamInterval,
    Tender,
)
from osed.ledger.positions import net_positions
from osed.storage.sqlite import SqliteLedgerStore
from tests.unit.agents.conftest import START, UNITS, slot


def tender(tid: str, side: Side, price: int, quantity: int, k: int = 0) -> Tender:
    return Tender(
        tender_id=tid,
        side=side,
        detail=IntervalDetail(slot(k), price, quantity),
        price_scale=UNITS.price_scale,
        quantity_scale=UNITS.quantity_scale,
    )


def create(request_id: str, party: str, t: Tender) -> EiCreateTender:
    return EiCreateTender(request_id, party, "market", t)


def position(agent: MarketAgent, party: str, k: int = 0) -> int:
    reply = agent.handle(EiRequestPosition(f"pos-{party}-{k}", party, party, slot(k))).response
    assert isinstance(reply, EiReplyPosition)
    return sum(row.quantity for row in reply.positions)


def test_a_bilateral_match_is_one_transaction_per_side(bilateral_agent: MarketAgent) -> None:
    bilateral_agent.handle(create("r1", "alice", tender("s1", Side.SELL, 1500, 4000)))
    reply = bilateral_agent.handle(create("r2", "bob", tender("b1", Side.BUY, 1800, 3000)))
    assert isinstance(reply.response, EiCreatedTender)
    assert reply.response.response.ok
    by_party = {n.party: n.message.transaction for n in reply.notifications}
    assert set(by_party) == {"alice", "bob"}
    for party, side in (("alice", Side.SELL), ("bob", Side.BUY)):
        detail = by_party[party].tender.interval_detail
        assert (by_party[party].tender.side, detail.price, detail.quantity) == (side, 1500, 3000)
    assert position(bilateral_agent, "bob") == 3000
    assert position(bilateral_agent, "alice") == -3000


def test_a_retried_tender_never_trades_twice(
    bilateral_agent: MarketAgent, ledger: SqliteLedgerStore
) -> None:
    bilateral_agent.handle(create("r1", "alice", tender("s1", Side.SELL, 1500, 4000)))
    first = bilateral_agent.handle(create("r2", "bob", tender("b1", Side.BUY, 1800, 1000)))
    again = bilateral_agent.handle(create("r2", "bob", tender("b1", Side.BUY, 1800, 1000)))
    assert again == first
    assert ledger.count() == 2
    assert position(bilateral_agent, "bob") == 1000


def test_cancel_reports_the_quantity_left(bilateral_agent: MarketAgent) -> None:
    bilateral_agent.handle(create("r1", "alice", tender("s1", Side.SELL, 1500, 4000)))
    bilateral_agent.handle(create("r2", "bob", tender("b1", Side.BUY, 1600, 1000)))
    reduced = bilateral_agent.handle(EiCancelTender("r3", "alice", "market", "s1", None, 2000))
    assert isinstance(reduced.response, EiCanceledTender)
    assert (reduced.response.success, reduced.response.remaining_quantity) == (True, 2000)
    gone = bilateral_agent.handle(EiCancelTender("r4", "alice", "market", "s1"))
    assert isinstance(gone.response, EiCanceledTender)
    assert gone.response.remaining_quantity == 0
    unknown = bilateral_agent.handle(EiCancelTender("r5", "alice", "market", "nope"))
    assert isinstance(unknown.response, EiCanceledTender)
    assert (unknown.response.success, unknown.response.response.response_code) == (False, 404)


def test_a_call_auction_clears_once_per_round(
    auction_agent: MarketAgent, ledger: SqliteLedgerStore
) -> None:
    auction_agent.handle(create("r1", "seller", tender("s1", Side.SELL, 1000, 5000)))
    auction_agent.handle(create("r2", "buyer-a", tender("b1", Side.BUY, 2000, 3000)))
    auction_agent.handle(create("r3", "buyer-b", tender("b2", Side.BUY, 1500, 1000)))
    report = auction_agent.clear(slot(0))
    assert (report.transactions, report.duplicate) == (3, False)
    assert {n.party for n in report.notifications} == {"seller", "buyer-a", "buyer-b"}
    assert position(auction_agent, "seller") == -4000
    assert position(auction_agent, "buyer-a") + position(auction_agent, "buyer-b") == 4000
    again = auction_agent.clear(slot(0))
    assert again.transactions == 0
    assert ledger.count() == 3


def test_stream_tenders_trade_interval_by_interval(auction_agent: MarketAgent) -> None:
    stream = Tender(
        tender_id="st",
        side=Side.BUY,
        detail=StreamDetail(
            START,
            timedelta(minutes=15),
            (
                StreamInterval(1, 2000, 1000),
                StreamInterval(2, 2000, 0),
                StreamInterval(3, 2000, 3000),
            ),
        ),
        price_scale=4,
        quantity_scale=3,
    )
    auction_agent.handle(create("r1", "buyer", stream))
    for k in range(3):
        auction_agent.handle(create(f"s{k}", "seller", tender(f"o{k}", Side.SELL, 900, 5000, k)))
        auction_agent.clear(slot(k))
    assert [position(auction_agent, "buyer", k) for k in range(3)] == [1000, 0, 3000]


def test_quotes_trade_only_within_their_terms(bilateral_agent: MarketAgent) -> None:
    quote = Quote("q1", tender("q1", Side.SELL, 2000, 5000))
    assert bilateral_agent.handle(EiCreateQuote("r1", "maker", quote)).response
    low = bilateral_agent.handle(EiAcceptQuote("r2", "taker", "maker", "q1", 1000, 1900))
    too_much = bilateral_agent.handle(EiAcceptQuote("r3", "taker", "maker", "q1", 6000, 2000))
    for refused, term in ((low, "price"), (too_much, "quantity")):
        assert isinstance(refused.response, EiResponse)
        assert refused.response.response_code == 422
        assert refused.response.response_terms_violated == (term,)
    taken = bilateral_agent.handle(EiAcceptQuote("r4", "taker", "maker", "q1", 3000, 2100))
    assert {n.party for n in taken.notifications} == {"maker", "taker"}
    assert position(bilateral_agent, "taker") == 3000
    assert position(bilateral_agent, "maker") == -3000


def test_malformed_wire_message_names_every_problem_and_records_nothing(
    bilateral_agent: MarketAgent, ledger: SqliteLedgerStore
) -> None:
    good = codec.encode(create("r1", "alice", tender("s1", Side.SELL, 1500, 4000)))
    bad = dict(good, partyId=7)
    body = dict(bad["tender"])  # type: ignore[call-overload]
    body["side"] = "HOLD"
    bad["tender"] = body
    answer, notifications = bilateral_agent.handle_wire(json.dumps(bad))
    response = codec.loads(answer)
    assert isinstance(response, EiResponse)
    assert response.response_code == 400
    assert "$.partyId" in response.response_description
    assert "$.tender.side" in response.response_description
    assert notifications == ()
    assert list(ledger.traces()) == []


def test_a_well_formed_wire_message_is_served(bilateral_agent: MarketAgent) -> None:
    message = create("r1", "alice", tender("s1", Side.SELL, 1500, 4000))
    answer, _ = bilateral_agent.handle_wire(codec.dumps(message))
    created = codec.loads(answer)
    assert isinstance(created, EiCreatedTender)
    assert created.tender_id == "s1"


RUNS = itertools.count()
orders = st.lists(
    st.tuples(
        st.sampled_from(["p1", "p2", "p3", "p4"]),
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(900, 1100),
        st.integers(1, 5000),
        st.integers(0, 2),
        st.booleans(),
    ),
    max_size=40,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(actions=orders)
def test_positions_always_equal_ledger_sums_even_with_retries(
    bilateral_agent: MarketAgent,
    ledger: SqliteLedgerStore,
    actions: list[tuple[str, Side, int, int, int, bool]],
) -> None:
    run = next(RUNS)
    for n, (party, side, price, quantity, k, retry) in enumerate(actions):
        request = create(f"{run}-r{n}", party, tender(f"{run}-t{n}", side, price, quantity, k))
        first = bilateral_agent.handle(request)
        if retry:
            assert bilateral_agent.handle(request) == first
    entries = [stored.entry for stored in ledger.entries()]
    assert len({e.transaction_id for e in entries}) == len(entries)
    expected = net_positions(entries)
    stored = Counter(
        {(r.party, r.interval, r.quantity_scale): r.quantity for r in ledger.all_positions()}
    )
    assert +stored == +Counter(expected)
