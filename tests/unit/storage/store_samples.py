"""Ledger entries and messages for the storage tests."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import strategies as st

from osed.domain.cts.tenders import Side
from osed.domain.ledger import LedgerEntry
from osed.domain.time import Interval
from osed.storage.sqlite import SqliteLedgerStore

START = datetime(2026, 1, 1, tzinfo=UTC)
PARTIES = ("alice", "bob", "carol", "dave")


def interval(index: int, minutes: int = 15) -> Interval:
    return Interval(START + index * timedelta(minutes=minutes), timedelta(minutes=minutes))


def entry(
    *,
    party: str = "alice",
    counter_party: str = "bob",
    side: Side = Side.BUY,
    quantity: int = 10,
    interval_index: int = 0,
    quantity_scale: int = 3,
    transaction_id: str = "tx-1",
) -> LedgerEntry:
    return LedgerEntry(
        transaction_id=transaction_id,
        tender_id=f"tender-{transaction_id}",
        party=party,
        counter_party=counter_party,
        side=side,
        interval=interval(interval_index),
        price=4_250,
        price_scale=4,
        quantity=quantity,
        quantity_scale=quantity_scale,
        currency="USD",
        market_id="m1",
        committed_at=START + timedelta(hours=1),
    )


def trade(
    number: int,
    *,
    buyer: str = "alice",
    seller: str = "bob",
    quantity: int = 10,
    interval_index: int = 0,
) -> tuple[str, list[LedgerEntry]]:
    """One clearing message with one trade: a buy entry and a sell entry."""
    return (
        f"clear:m1:{number}",
        [
            entry(
                party=buyer,
                counter_party=seller,
                side=Side.BUY,
                quantity=quantity,
                interval_index=interval_index,
                transaction_id=f"tx-{number}-b",
            ),
            entry(
                party=seller,
                counter_party=buyer,
                side=Side.SELL,
                quantity=quantity,
                interval_index=interval_index,
                transaction_id=f"tx-{number}-s",
            ),
        ],
    )


def trades(count: int, *, first: int = 0) -> list[tuple[str, list[LedgerEntry]]]:
    return [
        trade(
            n,
            buyer=PARTIES[n % len(PARTIES)],
            seller=PARTIES[(n + 1) % len(PARTIES)],
            quantity=1 + n % 7,
            interval_index=n % 5,
        )
        for n in range(first, first + count)
    ]


entries_strategy = st.builds(
    entry,
    party=st.sampled_from(PARTIES),
    counter_party=st.sampled_from(PARTIES),
    side=st.sampled_from(Side),
    quantity=st.integers(0, 10**6),
    interval_index=st.integers(0, 4),
    quantity_scale=st.sampled_from((0, 3)),
    transaction_id=st.text("abcxyz0123-:", min_size=1, max_size=8),
)


def written_ledger(path: Path, trade_count: int) -> Path:
    """A ledger file holding ``trade_count`` trades (two entries each)."""
    with SqliteLedgerStore(path) as store:
        store.append_many(trades(trade_count))
    return path


def copy_without_triggers(source_path: Path, target_path: Path) -> Path:
    """A copy to tamper with behind the store's back: without the immutability triggers."""
    source = sqlite3.connect(source_path)
    target = sqlite3.connect(target_path)
    source.backup(target)
    source.close()
    target.execute("DROP TRIGGER ledger_no_update")
    target.execute("DROP TRIGGER ledger_no_delete")
    target.commit()
    target.close()
    return target_path
