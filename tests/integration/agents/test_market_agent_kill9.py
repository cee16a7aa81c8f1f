"""Kill -9 the Market Agent process three times during 10,000 tenders sent with retries.

The agent runs as ``osed run market-agent`` on a real Mosquitto with a SQLite ledger; the
test sends tenders of 20 parties with crossing prices through ``BusMarketClient`` (a retry
reuses the request id) and kills the agent at random moments, restarting it each time. In the
end: no transaction twice, no party trading with itself, every acknowledged tender is filled,
still resting (as a recovered agent shows) or withdrawn by self-trade prevention (as the reply
to the tender that met it says), positions equal the ledger's sums, the ledger verifies, and
per interval as much was bought as sold.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from osed.agents.bus_client import BusMarketClient
from osed.agents.market_agent import MarketAgent
from osed.agents.snapshot import SnapshotPolicy
from osed.agents.units import MarketUnits
from osed.bus.mqtt import MqttBus
from osed.domain.cts import (
    EiCreatedTransaction,
    EiCreateTender,
    EiCreateTransaction,
    IntervalDetail,
    Side,
    Tender,
)
from osed.domain.envelope import Envelope
from osed.domain.time import Interval, SystemClock
from osed.ledger.positions import net_positions
from osed.ledger.verify import verify_store
from osed.markets.orderbook import BilateralMarket
from osed.ports.bus import Handler, Subscription
from osed.storage.sqlite import SqliteLedgerStore
from tests.integration.agents.market_process import MarketAgentProcess
from tests.services.brokers import Broker

TENDERS = 10_000
PARTIES = 20
KILLS = 3
IN_FLIGHT = 64
SLOT = timedelta(minutes=15)
FIRST_SLOT = datetime(2030, 1, 1, tzinfo=UTC)
INTERVALS = [Interval(FIRST_SLOT + k * SLOT, SLOT) for k in range(4)]
UNITS = MarketUnits(price_scale=4, quantity_scale=3, currency="USD", resolution=SLOT)


def tenders(rng: random.Random) -> list[EiCreateTender]:
    """Buyers bid 0.0950–0.1100, sellers ask 0.0900–0.1050: many cross, many rest."""
    requests = []
    for n in range(TENDERS):
        side = rng.choice((Side.BUY, Side.SELL))
        price = rng.randint(950, 1100) if side is Side.BUY else rng.randint(900, 1050)
        detail = IntervalDetail(rng.choice(INTERVALS), price, rng.randint(1, 50) * 100)
        tender = Tender(f"t{n}", side, detail, price_scale=4, quantity_scale=3)
        requests.append(EiCreateTender(f"r{n}", f"p{n % PARTIES}", "market", tender))
    return requests


async def never_called(message: EiCreateTransaction) -> EiCreatedTransaction:
    raise AssertionError(f"the observer party trades nothing: {message}")


WITHDRAWN = re.compile(r"(\S+) \((\d+) open\)")


async def send_all(
    client: BusMarketClient,
    requests: list[EiCreateTender],
    done: list[int],
    withdrawn: Counter[str],
) -> int:
    """Send every tender, ``IN_FLIGHT`` at a time; returns how many were acknowledged. The
    tenders self-trade prevention withdrew, as the replies name them, go to ``withdrawn``."""
    queue = list(reversed(requests))
    acknowledged = 0

    async def sender() -> None:
        nonlocal acknowledged
        while queue:
            request = queue.pop()
            created = await client.create_tender(request)
            assert created.response.ok, created.response
            for tender_id, quantity in WITHDRAWN.findall(created.response.response_description):
                withdrawn[tender_id] += int(quantity)
            acknowledged += 1
            done[0] += 1

    await asyncio.gather(*(sender() for _ in range(IN_FLIGHT)))
    return acknowledged


async def kill_at_random(agent: MarketAgentProcess, rng: random.Random, done: list[int]) -> None:
    """Kill -9 and restart the agent ``KILLS`` times, once the count of acknowledged tenders
    passes each of some random thresholds, after a further random delay."""
    thresholds = sorted(rng.sample(range(TENDERS // 10, TENDERS * 9 // 10), KILLS))
    for threshold in thresholds:
        while done[0] < threshold:
            await asyncio.sleep(0.01)
        await asyncio.sleep(rng.uniform(0, 0.05))
        agent.kill()
        agent.start()
        restart_s = await asyncio.to_thread(agent.wait_ready)
        print(f"\nrestart after a kill at {done[0]} tenders: ready in {restart_s:.2f} s")


async def test_kill_9_during_10000_tenders_loses_and_duplicates_nothing(
    mosquitto: Broker, tmp_path: Path
) -> None:
    rng = random.Random(20260701)
    requests = tenders(rng)
    agent = MarketAgentProcess(tmp_path, mosquitto)
    agent.start()
    agent.wait_ready()
    bus = MqttBus(mosquitto.host, mosquitto.port, client_id="traders", clock=SystemClock())
    await bus.start()

    async def subscribe(pattern: str, handler: Handler, name: str) -> Subscription:
        return await bus.subscribe(pattern, handler, durable=name)

    async def publish(topic: str, payload: bytes) -> None:
        await bus.publish(Envelope(topic, "traders", next(seqs), payload, SystemClock().now()))

    seqs = iter(range(1, 10**9))
    client = BusMarketClient(
        market_id="market",
        party_id="observer",
        source="traders",
        publish=publish,
        subscribe=subscribe,
        timeout_s=1.0,
        attempts=120,  # a restart with recovery takes seconds; the retries bridge it
    )
    await client.start(never_called)
    done = [0]
    withdrawn: Counter[str] = Counter()
    began = time.monotonic()
    try:
        acknowledged, _ = await asyncio.gather(
            send_all(client, requests, done, withdrawn), kill_at_random(agent, rng, done)
        )
        elapsed = time.monotonic() - began
    finally:
        await client.stop()
        await bus.stop()
        stopped = agent.stop()
    assert stopped == 0, "a graceful stop after the kills"
    assert acknowledged == TENDERS
    assert agent.starts == KILLS + 1
    print(f"\n{TENDERS} tenders, {KILLS} kills: {elapsed:.1f} s, {TENDERS / elapsed:.0f}/s")

    ledger = SqliteLedgerStore(agent.ledger_path)
    try:
        check_ledger(ledger)
        check_every_tender_filled_resting_or_withdrawn(ledger, requests, withdrawn)
    finally:
        ledger.close()


def check_ledger(ledger: SqliteLedgerStore) -> None:
    stored = list(ledger.entries())
    assert stored, "crossing prices are meant to trade"
    transaction_ids = Counter(s.entry.transaction_id for s in stored)
    assert max(transaction_ids.values()) == 1
    # One run of consecutive entries per message id: no message appended twice.
    runs = [
        s.message_id
        for i, s in enumerate(stored)
        if i == 0 or stored[i - 1].message_id != s.message_id
    ]
    assert len(runs) == len(set(runs))
    assert all(entry.party != entry.counter_party for entry in (s.entry for s in stored))
    report = verify_store(ledger)
    assert report.ok, report
    entries = [s.entry for s in stored]
    recorded = {(r.party, r.interval, r.quantity_scale): r.quantity for r in ledger.all_positions()}
    assert +Counter(recorded) == +Counter(net_positions(entries))
    bought: dict[Interval, int] = defaultdict(int)
    sold: dict[Interval, int] = defaultdict(int)
    for entry in entries:
        (bought if entry.side is Side.BUY else sold)[entry.interval] += entry.quantity
    assert bought == sold


def check_every_tender_filled_resting_or_withdrawn(
    ledger: SqliteLedgerStore, requests: list[EiCreateTender], withdrawn: Counter[str]
) -> None:
    """A recovered agent (the state the last process had) rests exactly what did not fill and
    was not withdrawn: recovered from the snapshot the graceful stop wrote, and from the whole
    trace."""
    filled: Counter[str] = Counter()
    for stored in ledger.entries():
        filled[stored.entry.tender_id] += stored.entry.quantity
    for restore in (True, False):
        market = BilateralMarket()
        began = time.monotonic()
        recovered = MarketAgent(
            market_id="market",
            market=market,
            ledger=ledger,
            clock=SystemClock(),
            units=UNITS,
            snapshots=SnapshotPolicy(every=None, restore=restore),
        )
        report = recovered.recovery
        print(
            f"recovery of {report.requests} requests after trace position"
            f" {report.snapshot_seq}: {time.monotonic() - began:.2f} s"
        )
        assert report.appends_recorded == 0
        assert (report.snapshot_seq > 0, report.requests == 0) == (restore, restore)
        for request in requests:
            tender = request.tender
            detail = tender.interval_detail
            resting = market.open_quantity(detail.interval.key(), tender.tender_id)
            accounted = filled[tender.tender_id] + resting + withdrawn[tender.tender_id]
            assert accounted == detail.quantity, tender.tender_id
