"""Ledger entries and raw chained rows for the pure engine tests (no storage)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from osed.domain.cts.tenders import Side
from osed.domain.ledger import GENESIS_HASH, LedgerEntry, chain_hash
from osed.domain.time import Interval
from osed.ports.ledger import LedgerHead, RawLedgerRow

START = datetime(2026, 1, 1, tzinfo=UTC)
PARTIES = ("alice", "bob", "carol")


def entry(
    party: str = "alice",
    *,
    side: Side = Side.BUY,
    quantity: int = 10,
    interval_index: int = 0,
    quantity_scale: int = 3,
    number: int = 0,
) -> LedgerEntry:
    return LedgerEntry(
        transaction_id=f"tx-{number}",
        tender_id=f"tender-{number}",
        party=party,
        counter_party="market",
        side=side,
        interval=Interval(START + interval_index * timedelta(hours=1), timedelta(hours=1)),
        price=100,
        price_scale=2,
        quantity=quantity,
        quantity_scale=quantity_scale,
        currency="EUR",
        market_id="m1",
        committed_at=START,
    )


entries_strategy = st.builds(
    entry,
    st.sampled_from(PARTIES),
    side=st.sampled_from(Side),
    quantity=st.integers(0, 10**12),
    interval_index=st.integers(0, 3),
    quantity_scale=st.sampled_from((0, 3)),
    number=st.integers(0, 10**6),
)


def chained_rows(entries: list[LedgerEntry]) -> tuple[list[RawLedgerRow], LedgerHead]:
    """Rows as a store would write them, two entries per message, and their head."""
    rows: list[RawLedgerRow] = []
    previous = GENESIS_HASH
    for seq, item in enumerate(entries, start=1):
        message_id = f"msg-{(seq + 1) // 2}"
        previous = chain_hash(previous, seq, message_id, item.canonical())
        rows.append((seq, message_id.encode(), item.canonical(), previous))
    return rows, LedgerHead(len(rows), previous)


def sample_rows(count: int) -> tuple[list[RawLedgerRow], LedgerHead]:
    return chained_rows(
        [
            entry(
                PARTIES[n % 3],
                side=Side.BUY if n % 2 else Side.SELL,
                quantity=n + 1,
                interval_index=n % 4,
                number=n,
            )
            for n in range(count)
        ]
    )
