"""The EDC manager following the estimated grid state on the in-memory bus, printed as one
JSON object.

A radial network of ``--nodes`` nodes (feeders of 10) with an EDC at every feeder head and one
at the source node (the whole network). Each estimate is published as the state estimation
service publishes it: one message per node and per branch, then the summary.

- ``estimate_to_edcs_s``: from an estimate's first message until every EDC holds its area's
  part (gathered, cut per area, given).
- ``feed_s``: of that, cutting the gathered estimate for every EDC and giving it.

Best of ``--repeat`` runs, since other processes share this machine.

    .venv/bin/python bench/bench_grid_state.py [--nodes 1000] [--repeat 3]
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._repeat import best_of

from osed.bus.memory import MemoryBroker, MemoryBus
from osed.domain.envelope import Envelope
from osed.edge.estimate_follower import EstimateFollower
from osed.edge.grid_state import Estimate
from osed.edge.intelligence_areas import AreaMap
from osed.edge.manager import EdcManager
from osed.sim.feeders import U_RATED_V, radial_feeder
from osed.storage.edc_sqlite import SqliteEdcStateStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PHASE_V = U_RATED_V / math.sqrt(3)


def estimate(nodes: int, at: datetime) -> list[Envelope]:
    stamp = at.isoformat(timespec="microseconds")
    out: list[tuple[str, dict[str, object]]] = []
    for i in range(nodes):
        reading = {"measurand": "voltmagnitude", "phase": "ABC", "data": PHASE_V * 0.97}
        out.append(
            (f"se/node/n{i}", {"component": f"n{i}", "timestamp": stamp, "readings": [reading]})
        )
    for i in range(1, nodes):
        readings = [
            {"measurand": "currmagnitude", "phase": "ABC", "data": 120.0},
            {"measurand": "currmagnitude_to", "phase": "ABC", "data": 119.0},
        ]
        out.append(
            (f"se/branch/l{i}", {"component": f"l{i}", "timestamp": stamp, "readings": readings})
        )
    out.append(("se/summary", {"timestamp": stamp, "status": "ok"}))
    return [
        Envelope(topic, "estimation", seq, json.dumps(doc).encode(), at)
        for seq, (topic, doc) in enumerate(out, start=1)
    ]


async def run(nodes: int, folder: Path) -> dict[str, float]:
    broker = MemoryBroker()
    bus = MemoryBus(broker)
    await bus.start()
    feed = MemoryBus(broker)
    await feed.start()
    areas = AreaMap(radial_feeder(nodes))
    store = SqliteEdcStateStore(folder / "edc.sqlite")
    manager = EdcManager(bus, store, control_cycle=timedelta(hours=1), areas=areas)
    await manager.start()
    heads = [a.element for a in areas.areas()]
    for element in [*heads, "n0"]:
        await manager.create(f"edc-{element}", element, idempotency_key=element)
    follower = EstimateFollower(bus, manager, areas, "se")
    await follower.start()
    fed: list[float] = []
    original = manager.feed_estimate

    def timed(given: Estimate) -> int:
        began = time.perf_counter()
        count = original(given)
        fed.append(time.perf_counter() - began)
        return count

    manager.feed_estimate = timed  # type: ignore[method-assign]
    envelopes = estimate(nodes, T0)
    began = time.perf_counter()
    await feed.publish_many(envelopes)
    while not follower.estimates:
        await asyncio.sleep(0.0005)
    total = time.perf_counter() - began
    whole = manager.get("edc-n0").grid_state()
    assert len(whole["voltages_pu"]) == nodes
    assert len(manager.get(f"edc-{heads[0]}").grid_state()["voltages_pu"]) == 10
    await follower.stop()
    await manager.stop()
    await bus.stop()
    await feed.stop()
    store.close()
    return {"estimate_to_edcs_s": total, "feed_s": fed[0], "edcs": float(len(heads) + 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    best = best_of(args.repeat, lambda folder: run(args.nodes, folder))
    result = {
        "nodes": args.nodes,
        "edcs": int(best.pop("edcs")),
        "messages_per_estimate": 2 * args.nodes,
        **{k: round(v, 4) for k, v in best.items()},
        "repeat": args.repeat,
        "python": platform.python_version(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
