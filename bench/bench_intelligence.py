"""Grid intelligence benchmark on the in-memory bus, printed as one JSON object.

A radial network of ``--nodes`` nodes (feeders of 10); each estimate is published as the state
estimation service publishes it (one message per node and per branch, then the summary).

- ``clear_estimate_s``: an estimate with every value within its band, from its first message
  to the intelligence having evaluated it (what every estimate costs in a quiet grid).
- ``overload_to_edc_s``: an estimate with one feeder overloaded (no hold-off), from its first
  message until the EDC with capacity-limit exists and its decision is stored and published.

Best of ``--repeat`` runs, since other processes share this machine.

    .venv/bin/python bench/bench_intelligence.py [--nodes 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import platform
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._repeat import best_of

from osed.bus.memory import MemoryBroker, MemoryBus
from osed.domain.envelope import Envelope
from osed.edge.intelligence import GridIntelligence, IntelligenceConfig
from osed.edge.intelligence_areas import AreaMap
from osed.edge.intelligence_rules import Rules
from osed.edge.manager import EdcManager
from osed.sim.feeders import U_RATED_V, radial_feeder
from osed.storage.edc_sqlite import SqliteEdcStateStore
from osed.storage.intelligence_sqlite import SqliteDecisionStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PHASE_V = U_RATED_V / math.sqrt(3)


def estimate(nodes: int, at: datetime, overloaded: set[str]) -> list[tuple[str, bytes]]:
    stamp = at.isoformat(timespec="microseconds")
    out = []
    for i in range(nodes):
        reading = {"measurand": "voltmagnitude", "phase": "ABC", "data": PHASE_V}
        document = {"component": f"n{i}", "timestamp": stamp, "readings": [reading]}
        out.append((f"se/node/n{i}", json.dumps(document).encode()))
    for i in range(1, nodes):
        amps = 500.0 if f"l{i}" in overloaded else 100.0
        readings = [
            {"measurand": "currmagnitude", "phase": "ABC", "data": amps},
            {"measurand": "currmagnitude_to", "phase": "ABC", "data": amps},
        ]
        document = {"component": f"l{i}", "timestamp": stamp, "readings": readings}
        out.append((f"se/branch/l{i}", json.dumps(document).encode()))
    summary = {"timestamp": stamp, "status": "ok"}
    out.append(("se/summary", json.dumps(summary).encode()))
    return out


async def run(nodes: int, folder: Path) -> dict[str, float]:
    broker = MemoryBroker()
    bus = MemoryBus(broker)
    await bus.start()
    feed = MemoryBus(broker)
    await feed.start()
    edc_store = SqliteEdcStateStore(folder / "edc.sqlite")
    decisions = SqliteDecisionStore(folder / "edc.sqlite")
    manager = EdcManager(bus, edc_store, control_cycle=timedelta(hours=1))
    await manager.start()
    rules = Rules(hold_off_s=0, clear_hold_off_s=0)
    intelligence = GridIntelligence(
        bus, manager, AreaMap(radial_feeder(nodes)), decisions, IntelligenceConfig(rules=rules)
    )
    await intelligence.start()
    published: list[Any] = []

    async def record(envelope: Envelope) -> None:
        published.append(envelope)

    await feed.subscribe("osed/intelligence/decisions", record)
    evaluated = asyncio.Event()
    original = intelligence.observe

    async def observed(*args: Any) -> None:
        await original(*args)
        evaluated.set()

    intelligence.observe = observed  # type: ignore[method-assign]
    seq = 0

    async def send(messages: list[tuple[str, bytes]]) -> None:
        nonlocal seq
        envelopes = []
        for topic, payload in messages:
            seq += 1
            envelopes.append(Envelope(topic, "estimation", seq, payload, T0))
        await feed.publish_many(envelopes)

    clear = estimate(nodes, T0, set())
    began = time.perf_counter()
    await send(clear)
    await evaluated.wait()
    clear_s = time.perf_counter() - began
    evaluated.clear()
    overloaded = estimate(nodes, T0 + timedelta(seconds=10), {"l1"})
    began = time.perf_counter()
    await send(overloaded)
    while not published:
        await asyncio.sleep(0.0005)
    overload_s = time.perf_counter() - began
    assert [e.edc_id for e in manager.edcs()] == ["gi-l1"]
    await intelligence.stop()
    await manager.stop()
    await bus.stop()
    await feed.stop()
    edc_store.close()
    decisions.close()
    return {"clear_estimate_s": clear_s, "overload_to_edc_s": overload_s}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    best = best_of(args.repeat, lambda folder: run(args.nodes, folder))
    result = {
        "nodes": args.nodes,
        "messages_per_estimate": 2 * args.nodes,
        **{k: round(v, 4) for k, v in best.items()},
        "repeat": args.repeat,
        "python": platform.python_version(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
