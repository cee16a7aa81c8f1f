from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from osed.agents.market_agent import MarketAgent
from osed.agents.units import MarketUnits
from osed.domain.time import Interval, ManualClock
from osed.markets.registry import create_market
from osed.storage.sqlite import SqliteLedgerStore

START = datetime(2026, 7, 1, tzinfo=UTC)
SLOT = timedelta(minutes=15)
UNITS = MarketUnits(price_scale=4, quantity_scale=3, currency="USD", resolution=SLOT)


def slot(k: int) -> Interval:
    return Interval(START + k * SLOT, SLOT)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START - timedelta(hours=1))


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SqliteLedgerStore]:
    store = SqliteLedgerStore(tmp_path / "ledger.sqlite")
    yield store
    store.close()


@pytest.fixture
def bilateral_agent(ledger: SqliteLedgerStore, clock: ManualClock) -> MarketAgent:
    return MarketAgent(
        market_id="market",
        market=create_market("bilateral"),
        ledger=ledger,
        clock=clock,
        units=UNITS,
    )


@pytest.fixture
def auction_agent(ledger: SqliteLedgerStore, clock: ManualClock) -> MarketAgent:
    return MarketAgent(
        market_id="market",
        market=create_market("double-auction", pricing="pay-as-clear"),
        ledger=ledger,
        clock=clock,
        units=UNITS,
    )
