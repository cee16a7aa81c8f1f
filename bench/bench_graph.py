"""Network graph for the dashboard: build, layout, document and refresh times, printing JSON.

Synthetic radial feeders (``osed.sim.feeders.radial_feeder``, 10 nodes per feeder, no
coordinates, so the layout is computed) of 1,000, 10,000 and 100,000 nodes. Figures are
best-of-``--repeats`` seconds for ``network_graph``, ``layout``, ``graph_document`` without a
state and ``refresh_state`` with a power-flow state (the power flow itself is not timed).
Graphs of at most ``SPRING_MAX_NODES`` nodes would add a spring refinement; ``--sizes 400``
shows its cost.

    .venv/bin/python bench/bench_graph.py [--sizes 1000 10000 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import networkx as nx
import numpy as np

from osed.grid.graph import SPRING_MAX_NODES, graph_document, layout, network_graph, refresh_state
from osed.grid.powerflow import power_flow
from osed.sim.feeders import radial_feeder


def best(repeats: int, call: Callable[[], Any]) -> tuple[float, Any]:
    seconds = float("inf")
    result: Any = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        seconds = min(seconds, time.perf_counter() - start)
    return seconds, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    figures: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "numpy": np.__version__,
        "networkx": nx.__version__,
        "spring_max_nodes": SPRING_MAX_NODES,
        "repeats": args.repeats,
    }
    for nodes in args.sizes:
        network = radial_feeder(nodes)
        state = power_flow(network)
        graph_s, graph = best(args.repeats, partial(network_graph, network))
        layout_s, positions = best(args.repeats, partial(layout, network))
        document_s, document = best(args.repeats, partial(graph_document, network, positions))
        refresh_s, _ = best(args.repeats, partial(refresh_state, document, network, state))
        figures[str(nodes)] = {
            "graph_nodes": graph.number_of_nodes(),
            "graph_edges": graph.number_of_edges(),
            "graph_s": round(graph_s, 4),
            "layout_s": round(layout_s, 4),
            "document_s": round(document_s, 4),
            "refresh_state_s": round(refresh_s, 4),
            "json_bytes": len(json.dumps(document, allow_nan=False)),
        }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
