"""Market Agent snapshot pauses and restart time after 100k and 1M traced requests.

Prints one JSON object (progress on stderr). The workload is the kill -9 test's: tenders of 20
parties with crossing prices on a bilateral market, 4 delivery intervals, about 95 % of them
trading, on a SQLite ledger (``--synchronous``: FULL, the runtime's durability, or NORMAL, no
fsync per commit, which builds the 1M trace in about 11 minutes on 2 shared vCPUs; the pauses
then exclude the fsync). One live agent answers ``--sizes[-1]`` requests through
``handle_many`` in batches of ``--batch`` (one durable write per batch, as the service's
group commit does: the pauses at 1M are those of an agent with that history), with a snapshot
every ``--every``; copies of its ledger are taken just before and just after the snapshots at
each size. A restart is timed in a fresh process, from the start of ``MarketAgent(...)`` to
its return (imports and opening the store excluded), in wall and CPU time:

- ``full_replay_s``: the whole trace replayed (snapshots ignored);
- ``snapshot_s``: from the snapshot at the last request (as after a graceful stop);
- ``snapshot_worst_tail_s``: from the snapshot ``--every`` requests earlier, so ``--every``
  requests are replayed (a crash just before the next snapshot was written).

``snapshot_pause_ms`` (and ``…_cpu_ms``) is how long the agent was held up while a snapshot
was taken (encoding, compressing, writing): median, max and mean over all snapshots, and over
the last 10 before each size; ``slowest_batch_ms`` the longest batch of requests (it includes
sealing replies between snapshots); ``live_overhead`` the share of the live run spent in
snapshots; ``stored_snapshot_bytes`` what the kept snapshots occupy. Restarts: min (``…_s``)
and median of ``--repeat`` runs, since other processes share this machine; the whole-trace
replay only up to ``--full-replay-up-to`` requests (at 1M it takes minutes).

Figures (``--sizes 100000 1000000 --synchronous NORMAL``, 2 shared vCPUs with other jobs;
wall min / median, and CPU), before (every 5,000) -> after (every 1,000; a quieter run, and in
brackets one at a load average of 5):

- restart from the snapshot at 100k: 0.44 / 0.45 s (0.40 s) -> 0.15 / 0.17 s (0.15 s);
- restart, worst tail, at 100k: 1.47 / 1.55 s (1.34 s) -> 0.40 / 0.46 s (0.38 s);
- restart from the snapshot at 1M: the tender ids alone took 7.3 s -> 0.57 / 0.57 s (0.50 s)
  [1.43 / 1.60 s (0.65 s)];
- restart, worst tail, at 1M: 0.78 / 0.82 s (0.71 s) [1.56 / 1.69 s (0.78 s)];
- snapshot pause, last 10 before 1M, median / max: 21.1 / 37.6 ms [40.5 / 58.9 ms]; over all
  1,000 snapshots 13.1 / 244 ms (CPU max 54.8 ms).

See docs/market-agent.md#measured.

    .venv/bin/python bench/bench_market_agent_recovery.py [--sizes 100000 1000000]
        [--every 1000] [--repeat 3] [--full-replay-up-to 100000] [--batch 100]
        [--synchronous FULL|NORMAL]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from osed.agents.market_agent import MarketAgent
from osed.agents.snapshot import SnapshotPolicy
from osed.agents.units import MarketUnits
from osed.domain.cts import EiCreateTender, IntervalDetail, Side, Tender
from osed.domain.time import Interval, ManualClock
from osed.markets.orderbook import BilateralMarket
from osed.storage.sqlite import SqliteLedgerStore

SLOT = timedelta(minutes=15)
FIRST_SLOT = datetime(2030, 1, 1, tzinfo=UTC)
INTERVALS = [Interval(FIRST_SLOT + k * SLOT, SLOT) for k in range(4)]
UNITS = MarketUnits(price_scale=4, quantity_scale=3, currency="USD", resolution=SLOT)
PARTIES = 20


def tenders(count: int, seed: int = 20260701) -> list[EiCreateTender]:
    """Buyers bid 0.0950–0.1100, sellers ask 0.0900–0.1050: many cross, many rest."""
    rng = random.Random(seed)
    requests = []
    for n in range(count):
        side = rng.choice((Side.BUY, Side.SELL))
        price = rng.randint(950, 1100) if side is Side.BUY else rng.randint(900, 1050)
        detail = IntervalDetail(rng.choice(INTERVALS), price, rng.randint(1, 50) * 100)
        tender = Tender(f"t{n}", side, detail, price_scale=4, quantity_scale=3)
        requests.append(EiCreateTender(f"r{n}", f"p{n % PARTIES}", "market", tender))
    return requests


def agent(path: Path, clock: ManualClock, *, restore: bool, synchronous: str) -> MarketAgent:
    return MarketAgent(
        market_id="market",
        market=BilateralMarket(),
        ledger=SqliteLedgerStore(path, synchronous=synchronous),  # type: ignore[arg-type]
        clock=clock,
        units=UNITS,
        snapshots=SnapshotPolicy(every=None, restore=restore),  # timed here, taken by hand
    )


def copy_ledger(source: Path, target: Path) -> None:
    """A consistent copy of what is committed, while the live agent keeps its connection."""
    with closing(sqlite3.connect(source)) as live, closing(sqlite3.connect(target)) as copy:
        live.backup(copy)


def write(
    folder: Path, sizes: list[int], every: int, batch: int, synchronous: str
) -> dict[str, object]:
    """The live run: requests in batches of ``batch`` through ``handle_many`` (one durable
    write per batch, as the service's group commit does), a snapshot every ``every``, ledger
    copies around each size."""
    clock = ManualClock(FIRST_SLOT - timedelta(days=1))
    live = agent(folder / "live.sqlite", clock, restore=False, synchronous=synchronous)
    pauses: list[float] = []
    pauses_cpu: list[float] = []
    slowest_batch = 0.0
    handling = 0.0
    size = 0
    by_size: dict[str, dict[str, float]] = {}
    requests = tenders(max(sizes))
    began_run = time.perf_counter()
    marks = sorted({*sizes, *range(every, max(sizes) + 1, every)})
    done = 0
    for mark in marks:
        while done < mark:
            chunk = requests[done : min(mark, done + batch)]
            clock.advance(timedelta(milliseconds=50))
            began = time.perf_counter()
            live.handle_many(chunk)
            took = time.perf_counter() - began
            handling += took
            slowest_batch = max(slowest_batch, took)
            done += len(chunk)
        if done in sizes:
            copy_ledger(folder / "live.sqlite", folder / f"tail-{done}.sqlite")
        if done % every == 0:
            began, began_cpu = time.perf_counter(), time.process_time()
            live.snapshot()
            pauses.append(time.perf_counter() - began)
            pauses_cpu.append(time.process_time() - began_cpu)
            size = stored_bytes(folder / "live.sqlite")
        if done in sizes:
            copy_ledger(folder / "live.sqlite", folder / f"at-{done}.sqlite")
            by_size[str(done)] = pause_figures(pauses[-10:])
            by_size[f"{done}_cpu"] = pause_figures(pauses_cpu[-10:])
        if done % 100_000 == 0:
            log(f"{done} requests, {time.perf_counter() - began_run:.0f} s")
    live.ledger.close()
    return {
        "build_s": round(time.perf_counter() - began_run, 1),
        "requests_per_s_without_snapshots": round(len(requests) / handling),
        "live_overhead": round(sum(pauses) / (handling + sum(pauses)), 3),
        "snapshot_pause_ms": pause_figures(pauses),
        "snapshot_pause_cpu_ms": pause_figures(pauses_cpu),
        "snapshot_pause_ms_last_10_before": by_size,
        "slowest_batch_ms": round(1000 * slowest_batch, 1),
        "stored_snapshot_bytes": size,
    }


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def pause_figures(pauses: list[float]) -> dict[str, float]:
    return {
        "median": round(1000 * statistics.median(pauses), 1),
        "max": round(1000 * max(pauses), 1),
        "mean": round(1000 * statistics.mean(pauses), 1),
    }


def stored_bytes(path: Path) -> int:
    """What the kept snapshots occupy: their bodies and, where stored apart, their chunks."""
    with closing(sqlite3.connect(path)) as db:
        (bodies,) = db.execute("SELECT coalesce(sum(length(body)), 0) FROM snapshots").fetchone()
        chunked = db.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'snapshot_chunks'"
        ).fetchone()[0]
        chunks = (
            db.execute("SELECT coalesce(sum(length(body)), 0) FROM snapshot_chunks").fetchone()[0]
            if chunked
            else 0
        )
    return int(bodies) + int(chunks)


def restart_in_new_process(path: Path, *, restore: bool) -> dict[str, float]:
    command = [sys.executable, __file__, "--restart", str(path)]
    command += [] if restore else ["--full-replay"]
    answer = subprocess.run(command, check=True, capture_output=True, text=True)
    found: dict[str, float] = json.loads(answer.stdout)
    return found


def restart(path: Path, *, restore: bool) -> None:
    """One timed restart (run in its own process); prints its figures."""
    ledger = SqliteLedgerStore(path)
    began, began_cpu = time.perf_counter(), time.process_time()
    recovered = MarketAgent(
        market_id="market",
        market=BilateralMarket(),
        ledger=ledger,
        clock=ManualClock(FIRST_SLOT),
        units=UNITS,
        snapshots=SnapshotPolicy(every=None, restore=restore),
    )
    seconds, cpu = time.perf_counter() - began, time.process_time() - began_cpu
    report = recovered.recovery
    figures = {"s": seconds, "cpu_s": cpu, "replayed": report.requests}
    print(json.dumps(figures | {"from": report.snapshot_seq}))
    ledger.close()


def best(path: Path, repeat: int, *, restore: bool) -> dict[str, float]:
    runs = [restart_in_new_process(path, restore=restore) for _ in range(repeat)]
    fastest = min(runs, key=lambda run: run["s"])
    median = statistics.median(run["s"] for run in runs)
    return {
        "s": round(fastest["s"], 3),
        "median_s": round(median, 3),
        "cpu_s": round(min(run["cpu_s"] for run in runs), 3),
        "replayed": fastest["replayed"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--every", type=int, default=SnapshotPolicy().every or 5_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=100, help="requests per handle_many")
    parser.add_argument(
        "--synchronous",
        default="FULL",
        choices=["FULL", "NORMAL"],
        help="SQLite durability of the live run (NORMAL: no fsync per commit, which builds "
        "a 1M trace sooner; the pauses then exclude the fsync)",
    )
    parser.add_argument(
        "--full-replay-up-to",
        type=int,
        default=100_000,
        help="time the whole-trace replay only at sizes up to this (it grows with history)",
    )
    parser.add_argument("--restart", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--full-replay", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.restart is not None:
        restart(args.restart, restore=not args.full_replay)
        return
    sizes = sorted(args.sizes)
    results: dict[str, object] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "every": args.every,
        "synchronous": args.synchronous,
    }
    with tempfile.TemporaryDirectory() as folder:
        results["live"] = write(Path(folder), sizes, args.every, args.batch, args.synchronous)
        restarts: dict[str, object] = {}
        for size in sizes:
            at, tail = Path(folder) / f"at-{size}.sqlite", Path(folder) / f"tail-{size}.sqlite"
            worst = best(tail, args.repeat, restore=True)
            full = best(at, args.repeat, restore=False) if size <= args.full_replay_up_to else None
            from_snapshot = best(at, args.repeat, restore=True)
            restarts[str(size)] = {
                "full_replay_s": None if full is None else full["s"],
                "snapshot_s": from_snapshot["s"],
                "snapshot_median_s": from_snapshot["median_s"],
                "snapshot_cpu_s": from_snapshot["cpu_s"],
                "snapshot_worst_tail_s": worst["s"],
                "snapshot_worst_tail_median_s": worst["median_s"],
                "snapshot_worst_tail_cpu_s": worst["cpu_s"],
                "worst_tail_requests": worst["replayed"],
            }
        results["restart"] = restarts
    print(json.dumps(results))


if __name__ == "__main__":
    main()
