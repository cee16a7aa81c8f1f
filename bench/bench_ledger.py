"""Ledger benchmark: batched append rate with the hash chain, and verify time for 1M entries
against its floor, SHA-256 over the same bytes.

Prints one JSON object. A "transaction" is one LedgerEntry: in CTS each side of a trade is its
own EiTransaction, and a trade is two entries; both rates are printed. Each message carries one
trade, 1,000 messages per append_many (one SQL transaction). Every figure is measured
``--repeat`` times and printed as min and median, since other processes share this machine.

The floor of verify is hashing the chain itself: the same bytes verify hashes (previous hash,
seq, message id, entry), already in memory, one SHA-256 call per entry in one pass. It is timed
alternately with verify (several processes, then one), and the ratio verify / floor is printed.
``sha256_bulk`` hashes the entry bytes as one stream: SHA-256's own speed, without a call per
entry.

    .venv/bin/python bench/bench_ledger.py [--entries 1000000] [--repeat 5]

Figures (docs/ledger.md): verification reads rows in the blocks SQLite fetches;
CPU time per entry 3.2 -> 3.1 us on this 2-CPU machine while busy, within the wall-clock noise
(verify_over_floor 6.8 / 6.3 before, 4.5 / 4.4 after, min / median, under different loads).
Appends checked and planned per batch, messages keyed by id (schema 5): CPU time per entry
11.4 / 13.6 -> 8.1 / 9.7 us (min / median, synchronous=FULL, alternated runs, busy machine).
Verify over blocks packed by SQLite, positions tallied with NumPy (quiet machine):
verify_over_floor 4.1 / 3.4 -> 2.8 / 2.4; alternated, 1,000,000 entries, 2 processes
1.30-1.36 -> 1.14-1.18 s, one process 2.41-2.55 -> 1.95-1.98 s.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from _repeat import min_median
from osed.cli.ledger import verify_ledger_file
from osed.domain.cts.tenders import Side
from osed.domain.ledger import GENESIS_HASH, LedgerEntry
from osed.domain.time import Interval
from osed.ports.ledger import AppendBatch
from osed.storage.sqlite import SqliteLedgerStore, Synchronous

MESSAGES_PER_BATCH = 1_000
START = datetime(2026, 1, 1, tzinfo=UTC)
INTERVALS = [Interval(START + k * timedelta(minutes=15), timedelta(minutes=15)) for k in range(96)]
PARTIES = [f"party-{k:03d}" for k in range(200)]


def trade_batch(first_trade: int, count: int = MESSAGES_PER_BATCH) -> AppendBatch:
    """``count`` clearing messages of one trade (a buy entry and a sell entry) each."""
    committed_at = START + timedelta(seconds=first_trade)
    batch = []
    for trade in range(first_trade, first_trade + count):
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


def measure_append(folder: Path, trades: int, synchronous: Synchronous) -> tuple[float, float]:
    """Seconds to append ``trades`` trades in batches (input built beforehand): wall-clock
    and this process's CPU time."""
    batches = [
        trade_batch(first, min(MESSAGES_PER_BATCH, trades - first))
        for first in range(0, trades, MESSAGES_PER_BATCH)
    ]
    gc.collect()
    gc.freeze()  # the prepared input is not the store's garbage to scan
    with SqliteLedgerStore(folder / f"append-{synchronous}.db", synchronous=synchronous) as store:
        started, cpu_started = time.perf_counter(), time.process_time()
        for batch in batches:
            store.append_many(batch)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    gc.unfreeze()
    return elapsed, cpu


def build_ledger(path: Path, entries: int) -> None:
    with SqliteLedgerStore(path, synchronous="NORMAL") as store:
        trades = entries // 2
        for first in range(0, trades, MESSAGES_PER_BATCH):
            store.append_many(trade_batch(first, min(MESSAGES_PER_BATCH, trades - first)))


def chain_preimages(path: Path) -> tuple[list[bytes], bytes]:
    """Each entry's hashed bytes after the previous hash (seq, message id, 0x00, entry), and
    the stored hash of the last entry."""
    with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT seq, CAST(message_id AS BLOB), entry FROM ledger ORDER BY seq"
        ).fetchall()
        (last_hash,) = db.execute("SELECT last_hash FROM head").fetchone()
    return [b"".join((s.to_bytes(8, "big"), m, b"\x00", e)) for s, m, e in rows], last_hash


def hash_chain(preimages: list[bytes]) -> bytes:
    """The floor: one SHA-256 per entry over bytes already in memory, in one pass."""
    sha256, last = hashlib.sha256, GENESIS_HASH
    for tail in preimages:
        last = sha256(last + tail).digest()
    return last


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def rates(count: int, seconds: list[float]) -> dict[str, int]:
    """Per-second rates of ``count`` items: the best (min time) and the median run."""
    return {"max": round(count / min(seconds)), "median": round(count / statistics.median(seconds))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--append-trades", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    trades = args.append_trades
    with tempfile.TemporaryDirectory(prefix="osed-bench-") as tmp:
        folder = Path(tmp)
        append: dict[str, list[float]] = {"FULL": [], "NORMAL": []}
        append_cpu: dict[str, list[float]] = {"FULL": [], "NORMAL": []}
        for _ in range(args.repeat):
            for sync in ("FULL", "NORMAL"):
                (folder / f"append-{sync}.db").unlink(missing_ok=True)
                wall, cpu = measure_append(folder, trades, sync)  # type: ignore[arg-type]
                append[sync].append(wall)
                append_cpu[sync].append(cpu / (2 * trades) * 1e6)
        ledger = folder / "verify.db"
        build_ledger(ledger, args.entries)
        preimages, last_hash = chain_preimages(ledger)
        stream = b"".join(preimages)

        def verify(workers: int | None) -> None:
            report = verify_ledger_file(str(ledger), workers=workers)
            if not report.ok or report.entries != args.entries // 2 * 2:
                raise SystemExit(f"verification failed: {report}")

        def floor() -> None:
            if hash_chain(preimages) != last_hash:
                raise SystemExit("the floor's chain does not end at the head")

        timings: dict[str, list[float]] = {"parallel": [], "single": [], "floor": [], "bulk": []}
        for _ in range(args.repeat):  # alternately, so that load from elsewhere hits all alike
            timings["floor"].append(timed(floor))
            timings["parallel"].append(timed(partial(verify, None)))
            timings["single"].append(timed(partial(verify, 1)))
            timings["bulk"].append(timed(partial(hashlib.sha256, stream)))
        size = ledger.stat().st_size + _wal_size(ledger)
        floor_times = timings["floor"]
    print(
        json.dumps(
            {
                "machine": f"{os.cpu_count()} CPU, {platform.python_implementation()} "
                f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}",
                "repeat": args.repeat,
                "append_batch_messages": MESSAGES_PER_BATCH,
                "append_entries_per_s": rates(2 * trades, append["FULL"]),
                "append_trades_per_s": rates(trades, append["FULL"]),
                "append_entries_per_s_synchronous_normal": rates(2 * trades, append["NORMAL"]),
                "append_cpu_us_per_entry": min_median(append_cpu["FULL"], 2),
                "append_cpu_us_per_entry_synchronous_normal": min_median(append_cpu["NORMAL"], 2),
                "verify_entries": args.entries,
                "verify_seconds": min_median(timings["parallel"], 3),
                "verify_seconds_single_process": min_median(timings["single"], 3),
                "floor_sha256_chain_seconds": min_median(floor_times, 3),
                "verify_over_floor": _ratios(timings["parallel"], floor_times),
                "verify_single_process_over_floor": _ratios(timings["single"], floor_times),
                "sha256_bulk_seconds": min_median(timings["bulk"], 3),
                "sha256_bulk_bytes": len(stream),
                "file_bytes": size,
                "bytes_per_entry": round(size / args.entries),
            }
        )
    )


def _ratios(measured: list[float], floor: list[float]) -> dict[str, float]:
    return {
        "min": round(min(measured) / min(floor), 2),
        "median": round(statistics.median(measured) / statistics.median(floor), 2),
    }


def _wal_size(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


if __name__ == "__main__":
    main()
