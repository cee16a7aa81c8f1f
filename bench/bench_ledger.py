"""Ledger benchmark: batched append rate with the hash chain, and verify time for 1M entries.

Prints one JSON object. A "transaction" is one LedgerEntry: in CTS each side of a trade is its
own EiTransaction, and a trade is two entries; both rates are printed. Each message carries one
trade, 1,000 messages per append_many (one SQL transaction). Timings are the best of
``--repeat`` runs, since other processes share this machine.

    .venv/bin/python bench/bench_ledger.py [--entries 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from osed.cli.ledger import verify_ledger_file
from osed.domain.cts.tenders import Side
from osed.domain.ledger import LedgerEntry
from osed.domain.time import Interval
from osed.ledger.verify import verify_store
from osed.ports.ledger import AppendBatch
from osed.storage.sqlite import SqliteLedgerStore, Synchronous

MESSAGES_PER_BATCH = 1_000
START = datetime(2026, 1, 1, tzinfo=UTC)
INTERVALS = [Interval(START + k * timedelta(minutes=15), timedelta(minutes=15)) for k in range(96)]
PARTIES = [f"party-{k:03d}" for k in range(200)]


def trade_batch(first_trade: int) -> AppendBatch:
    """1,000 clearing messages of one trade (a buy entry and a sell entry) each."""
    committed_at = START + timedelta(seconds=first_trade)
    batch = []
    for trade in range(first_trade, first_trade + MESSAGES_PER_BATCH):
        buyer, seller = PARTIES[trade % len(PARTIES)], PARTIES[(trade * 7 + 1) % len(PARTIES)]
        side = partial(
            LedgerEntry,
            interval=INTERVALS[trade % len(INTERVALS)],
            price=12_345,
            price_scale=4,
            quantity=1_000 + trade % 500,
            quantity_scale=3,
            currency="USD",
            market_id="m1",
            committed_at=committed_at,
        )
        entries = [
            side(f"m1:{trade}:B", f"tender-{trade}-B", buyer, seller, Side.BUY),
            side(f"m1:{trade}:S", f"tender-{trade}-S", seller, buyer, Side.SELL),
        ]
        batch.append((f"clear:m1:{trade}", entries))
    return batch


def measure_append(folder: Path, trades: int, synchronous: Synchronous) -> float:
    """Seconds to append ``trades`` trades in batches (input built beforehand)."""
    batches = [trade_batch(first) for first in range(0, trades, MESSAGES_PER_BATCH)]
    gc.collect()
    gc.freeze()  # the prepared input is not the store's garbage to scan
    with SqliteLedgerStore(folder / f"append-{synchronous}.db", synchronous=synchronous) as store:
        started = time.perf_counter()
        for batch in batches:
            store.append_many(batch)
        elapsed = time.perf_counter() - started
    gc.unfreeze()
    return elapsed


def build_ledger(path: Path, entries: int) -> None:
    with SqliteLedgerStore(path, synchronous="NORMAL") as store:
        for first in range(0, entries // 2, MESSAGES_PER_BATCH):
            store.append_many(trade_batch(first))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--append-trades", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    trades = args.append_trades
    with tempfile.TemporaryDirectory(prefix="osed-bench-") as tmp:
        folder = Path(tmp)
        append = {
            sync: min(measure_append(folder, trades, sync) for _ in range(args.repeat))
            for sync in ("FULL", "NORMAL")
        }
        ledger = folder / "verify.db"
        build_ledger(ledger, args.entries)
        verify_parallel = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            report = verify_ledger_file(str(ledger))
            verify_parallel.append(time.perf_counter() - started)
            if not report.ok or report.entries != args.entries:
                raise SystemExit(f"verification failed: {report}")
        started = time.perf_counter()
        with SqliteLedgerStore.open_existing(ledger) as store:
            if not verify_store(store).ok:
                raise SystemExit("verification failed")
        verify_single = time.perf_counter() - started
        size = ledger.stat().st_size + _wal_size(ledger)
    print(
        json.dumps(
            {
                "machine": f"{os.cpu_count()} CPU, {platform.python_implementation()} "
                f"{platform.python_version()}",
                "append_batch_messages": MESSAGES_PER_BATCH,
                "append_entries_per_s": round(2 * trades / append["FULL"]),
                "append_trades_per_s": round(trades / append["FULL"]),
                "append_entries_per_s_synchronous_normal": round(2 * trades / append["NORMAL"]),
                "verify_entries": args.entries,
                "verify_seconds": round(min(verify_parallel), 3),
                "verify_seconds_single_process": round(verify_single, 3),
                "file_bytes": size,
                "bytes_per_entry": round(size / args.entries),
            }
        )
    )


def _wal_size(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


if __name__ == "__main__":
    main()
