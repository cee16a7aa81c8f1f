"""Topological observability: which parts of the grid the sensors determine, before solving.

The check works on the decoupled measurement model with generic branch parameters:

1. nodes joined by a measured branch (a power or current sensor at either end) or by a
   closed link form *flow islands*, whose internal angle and magnitude differences are known;
2. every island holding a voltage phasor (magnitude and angle) is tied to the same absolute
   angle reference, so they are merged;
3. a measured injection at a node (a node power sensor, every in-service appliance of the
   node measured, or no appliance at all: a zero injection) whose unmeasured branches lead to
   exactly one other island gives one equation for that island's offset: the two merge.
   Step 3 repeats, leaves first, until nothing merges.

Where several injections resolve several islands only together (a ring of zero injections),
the rank of the reduced system (one offset per island, random branch weights standing for
generic parameters) decides exactly, for up to ``REDUCED_LIMIT`` islands.

The grid is observable when each energised connected part (parts fed by their own source,
split by open switches, have independent angle references) is one island, and every island
has a voltage magnitude. Otherwise the report names the islands, the unmeasured branches
between them (measuring any one of them, or an injection that touches only two islands,
merges a pair) and the islands lacking a voltage magnitude. The rule set is the classic
island-merging procedure with an exact rank test on what it leaves; the solver still has the
last word (numerical ill-conditioning is beyond a structural check).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from power_grid_model import MeasuredTerminalType
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components

from osed.grid.network import APPLIANCES, BRANCHES, Network, Table

Ints = NDArray[np.int64]
_BRANCH_ENDS = tuple(
    int(t)
    for t in (
        MeasuredTerminalType.branch_from,
        MeasuredTerminalType.branch_to,
        MeasuredTerminalType.branch3_1,
        MeasuredTerminalType.branch3_2,
        MeasuredTerminalType.branch3_3,
    )
)
_APPLIANCE_ENDS = {
    int(MeasuredTerminalType.source),
    int(MeasuredTerminalType.load),
    int(MeasuredTerminalType.generator),
}
REPORTED_BRANCHES = 20  # per island pair in a report; the count is always complete


@dataclass(frozen=True)
class Island:
    nodes: list[str]
    has_magnitude: bool
    has_angle: bool


@dataclass(frozen=True)
class ObservabilityReport:
    observable: bool
    islands: list[Island]
    unmeasured_branches: list[dict[str, Any]]  # between islands: {id, between: [i, j]}
    unmeasured_branch_count: int
    deenergised_nodes: list[str]
    messages: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "observable": self.observable,
            "islands": [
                {
                    "size": len(island.nodes),
                    "nodes": island.nodes if len(island.nodes) <= 50 else island.nodes[:50],
                    "has_voltage_magnitude": island.has_magnitude,
                    "has_voltage_angle": island.has_angle,
                }
                for island in self.islands
            ],
            "unmeasured_branches": self.unmeasured_branches,
            "unmeasured_branch_count": self.unmeasured_branch_count,
            "deenergised_nodes": self.deenergised_nodes[:50],
            "messages": self.messages,
        }

    def summary(self) -> str:
        return "; ".join(self.messages)


def check_observability(network: Network, sensors: Mapping[str, Table]) -> ObservabilityReport:
    nodes = network.table("node")
    n = len(nodes)
    row_of = np.full(len(network.external_ids), -1, dtype=np.int64)
    row_of[nodes["id"]] = np.arange(n)
    ends = _branch_ends(network, row_of)
    energised, part = _energised(network, row_of, ends)
    measured_branch = _measured_branches(network, sensors, ends)
    parent = np.arange(n)

    def find(i: int) -> int:
        root = i
        while parent[root] != root:
            root = int(parent[root])
        while parent[i] != root:
            parent[i], i = root, int(parent[i])
        return root

    def union(a: int, b: int) -> bool:
        ra, rb = find(a), find(b)
        if ra == rb:
            return False
        parent[max(ra, rb)] = min(ra, rb)
        return True

    f, t, closed, is_link, _branch_ids = ends
    joined = closed & (is_link | measured_branch)
    count, labels = connected_components(
        coo_matrix((np.ones(int(joined.sum())), (f[joined], t[joined])), shape=(n, n)),
        directed=False,
    )
    parent[:] = _first_of_label(labels, count)
    magnitude, angle = _voltage_flags(network, sensors, row_of, n)
    # Phasors share one absolute reference: within a connected part they tie islands.
    first_anchor: dict[int, int] = {}
    for node in np.flatnonzero(angle & energised):
        anchor = first_anchor.setdefault(int(part[node]), int(node))
        union(anchor, int(node))
    injections = _measured_injections(network, sensors, row_of, n) & energised
    incident: dict[int, list[int]] = defaultdict(list)
    open_branches = np.flatnonzero(closed & ~joined)
    for b in open_branches:
        incident[int(f[b])].append(int(b))
        incident[int(t[b])].append(int(b))
    order = _leaves_first(network, row_of, ends, n)
    pending = [int(v) for v in order if injections[v]]
    changed = True
    while changed and pending:
        changed = False
        still: list[int] = []
        for v in pending:
            home = find(v)
            others = {
                find(int(t[b])) if find(int(f[b])) == home else find(int(f[b])) for b in incident[v]
            }
            others.discard(home)
            if len(others) == 1:
                union(home, others.pop())
                changed = True
            elif others:
                still.append(v)
        pending = still
    roots = np.array([find(i) for i in range(n)], dtype=np.int64)
    if _reduced_system_determined(
        roots,
        pending,
        incident,
        ends,
        energised=energised,
        magnitude=magnitude,
        angle=angle,
        part=part,
    ):
        first_of_part: dict[int, int] = {}
        for node in np.flatnonzero(energised):
            union(first_of_part.setdefault(int(part[node]), int(node)), int(node))
    return _report(
        network,
        nodes=nodes,
        find=find,
        n=n,
        energised=energised,
        magnitude=magnitude,
        angle=angle,
        ends=ends,
        joined=joined,
        parts=len(np.unique(part[energised])),
    )


REDUCED_LIMIT = 2_000  # islands: beyond this the exact check is skipped (dense rank)


def _reduced_system_determined(
    roots: Ints,
    pending: list[int],
    incident: Mapping[int, list[int]],
    ends: Ends,
    *,
    energised: NDArray[np.bool_],
    magnitude: NDArray[np.bool_],
    angle: NDArray[np.bool_],
    part: Ints,
) -> bool:
    """Whether the unused injections together fix every island's angle and magnitude offset.

    Island merging takes one injection at a time; several injections can resolve several
    islands jointly (a ring whose nodes are zero injections). With random branch weights
    (generic parameters) the rank of the reduced system decides it exactly.
    """
    islands = np.unique(roots[energised])
    if len(islands) < 2 or len(islands) > REDUCED_LIMIT or not pending:
        return False
    column = {int(root): k for k, root in enumerate(islands)}
    f, t = ends[0], ends[1]
    rng = np.random.default_rng(0)
    matrix = np.zeros((len(pending), len(islands)))
    for row, v in enumerate(pending):
        for b in incident[v]:
            a, c = column[int(roots[f[b]])], column[int(roots[t[b]])]
            if a != c:
                weight = 1.0 + rng.random()
                matrix[row, a] += weight
                matrix[row, c] -= weight
    angle_known = {column[int(r)] for r in np.unique(roots[angle & energised])}
    # each connected part without a phasor takes its angle reference from one of its islands
    part_of = {column[int(r)]: int(part[r]) for r in islands}
    anchored_parts = {part_of[k] for k in angle_known}
    reference = set(angle_known)
    for k, p in sorted(part_of.items()):
        if p not in anchored_parts:
            reference.add(k)
            anchored_parts.add(p)
    magnitude_known = {column[int(r)] for r in np.unique(roots[magnitude & energised])}
    if not magnitude_known:
        return False
    for known in (reference, magnitude_known):
        free = [k for k in range(len(islands)) if k not in known]
        if free and np.linalg.matrix_rank(matrix[:, free]) < len(free):
            return False
    return True


def _first_of_label(labels: NDArray[np.int32], count: int) -> Ints:
    first = np.full(count, -1, dtype=np.int64)
    order = np.arange(len(labels))[::-1]
    first[labels[order]] = order  # the smallest index of each label wins (written last)
    return first[labels]


Ends = tuple[Ints, Ints, NDArray[np.bool_], NDArray[np.bool_], Ints]


def _branch_ends(network: Network, row_of: Ints) -> Ends:
    tables = [(kind, network.table(kind)) for kind in BRANCHES]
    f = np.concatenate([row_of[t["from_node"]] for _, t in tables])
    to = np.concatenate([row_of[t["to_node"]] for _, t in tables])
    closed = np.concatenate([(t["from_status"] == 1) & (t["to_status"] == 1) for _, t in tables])
    is_link = np.concatenate([np.full(len(t), kind == "link") for kind, t in tables])
    ids = np.concatenate([t["id"] for _, t in tables]).astype(np.int64)
    three = network.table("three_winding_transformer")
    if len(three):  # a three-winding transformer as three branches from its first node
        on = (three["status_1"] == 1) & (three["status_2"] == 1) & (three["status_3"] == 1)
        for other in ("node_2", "node_3"):
            f = np.r_[f, row_of[three["node_1"]]]
            to = np.r_[to, row_of[three[other]]]
            closed = np.r_[closed, on]
            is_link = np.r_[is_link, np.zeros(len(three), bool)]
            ids = np.r_[ids, three["id"]]
    return f, to, closed, is_link, ids


def _energised(network: Network, row_of: Ints, ends: Ends) -> tuple[NDArray[np.bool_], Ints]:
    """Nodes connected to an in-service source, and each node's connected part."""
    f, t, closed, _, _ = ends
    n = len(network.table("node"))
    _count, labels = connected_components(
        coo_matrix((np.ones(int(closed.sum())), (f[closed], t[closed])), shape=(n, n)),
        directed=False,
    )
    sources = network.table("source")
    fed = labels[row_of[sources["node"][sources["status"] == 1]]]
    return np.isin(labels, fed), labels.astype(np.int64)


def _measured_branches(
    network: Network, sensors: Mapping[str, Table], ends: Ends
) -> NDArray[np.bool_]:
    ids = ends[4]
    measured: set[int] = set()
    for kind, table in sensors.items():
        if "measured_terminal_type" in (table.dtype.names or ()):
            on_branch = np.isin(table["measured_terminal_type"], _BRANCH_ENDS)
            measured.update(int(i) for i in table["measured_object"][on_branch])
        del kind
    return np.isin(ids, np.fromiter(measured, dtype=np.int64, count=len(measured)))


def _voltage_flags(
    network: Network, sensors: Mapping[str, Table], row_of: Ints, n: int
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    magnitude = np.zeros(n, bool)
    angle = np.zeros(n, bool)
    for kind in ("sym_voltage_sensor", "asym_voltage_sensor"):
        table = sensors.get(kind)
        if table is None or not len(table):
            continue
        rows = row_of[table["measured_object"]]
        magnitude[rows] = True
        has_angle = ~np.isnan(table["u_angle_measured"])
        if has_angle.ndim > 1:
            has_angle = has_angle.all(axis=1)
        angle[rows[has_angle]] = True
    return magnitude, angle


def _measured_injections(
    network: Network, sensors: Mapping[str, Table], row_of: Ints, n: int
) -> NDArray[np.bool_]:
    appliances = np.zeros(n, np.int64)
    measured_appliances = np.zeros(n, np.int64)
    node_sensor = np.zeros(n, bool)
    measured_ids: set[int] = set()
    for table in sensors.values():
        if "measured_terminal_type" not in (table.dtype.names or ()):
            continue
        terminal = table["measured_terminal_type"]
        node_sensor[
            row_of[table["measured_object"][terminal == int(MeasuredTerminalType.node)]]
        ] = True
        on_appliance = np.isin(terminal, list(_APPLIANCE_ENDS))
        measured_ids.update(int(i) for i in table["measured_object"][on_appliance])
    measured = np.fromiter(measured_ids, dtype=np.int64, count=len(measured_ids))
    for kind in APPLIANCES:
        if kind == "shunt":  # a shunt's admittance is known: it is part of the grid model
            continue
        table = network.table(kind)
        on = table["status"] == 1
        rows = row_of[table["node"][on]]
        np.add.at(appliances, rows, 1)
        np.add.at(measured_appliances, rows, np.isin(table["id"][on], measured).astype(np.int64))
    measured_all: NDArray[np.bool_] = node_sensor | (appliances == measured_appliances)
    return measured_all


def _leaves_first(network: Network, row_of: Ints, ends: Ends, n: int) -> Ints:
    f, t, closed, _, _ = ends
    graph = coo_matrix((np.ones(int(closed.sum())), (f[closed], t[closed])), shape=(n, n)).tocsr()
    depth = np.full(n, -1, dtype=np.int64)
    sources = network.table("source")
    for start in row_of[sources["node"]]:
        order, predecessors = breadth_first_order(graph, int(start), directed=False)
        for node in order:
            p = predecessors[node]
            depth[node] = 0 if p < 0 else depth[p] + 1
    return np.argsort(-depth, kind="stable").astype(np.int64)


def _report(
    network: Network,
    *,
    nodes: Table,
    find: Any,
    n: int,
    energised: NDArray[np.bool_],
    magnitude: NDArray[np.bool_],
    angle: NDArray[np.bool_],
    ends: Ends,
    joined: NDArray[np.bool_],
    parts: int,
) -> ObservabilityReport:
    ids = network.external_ids
    roots = np.array([find(i) for i in range(n)], dtype=np.int64)
    live = np.flatnonzero(energised)
    groups: dict[int, list[int]] = defaultdict(list)
    for node in live:
        groups[int(roots[node])].append(int(node))
    ordered = sorted(groups.values(), key=len, reverse=True)
    position = {int(roots[members[0]]): k for k, members in enumerate(ordered)}
    islands = [
        Island(
            [ids[int(nodes["id"][m])] for m in members],
            bool(magnitude[members].any()),
            bool(angle[members].any()),
        )
        for members in ordered
    ]
    f, t, closed, _, branch_ids = ends
    between = closed & ~joined & (roots[f] != roots[t]) & energised[f]
    listed: list[dict[str, Any]] = []
    per_pair: dict[tuple[int, int], int] = defaultdict(int)
    for b in np.flatnonzero(between):
        pair = tuple(sorted((position[int(roots[f[b]])], position[int(roots[t[b]])])))
        per_pair[pair] += 1  # type: ignore[index]
        if per_pair[pair] <= REPORTED_BRANCHES:  # type: ignore[index]
            listed.append({"id": ids[int(branch_ids[b])], "between": list(pair)})
    messages: list[str] = []
    if len(islands) > parts:
        messages.append(
            f"{len(islands)} observable islands in {parts} connected part(s); measure the "
            "power flow on a branch between two of them (see unmeasured_branches), the "
            "injection at a node bordering only two, or add a voltage phasor in each"
        )
    missing = [k for k, island in enumerate(islands) if not island.has_magnitude]
    if missing:
        messages.append(f"islands {missing} have no voltage magnitude measurement")
    deenergised = [ids[int(nodes["id"][i])] for i in np.flatnonzero(~energised)]
    if deenergised:
        messages.append(f"{len(deenergised)} nodes are not energised and are left out")
    observable = len(islands) == parts and not missing
    return ObservabilityReport(
        observable=observable,
        islands=islands,
        unmeasured_branches=listed,
        unmeasured_branch_count=int(between.sum()),
        deenergised_nodes=deenergised,
        messages=messages or ["observable"],
    )
