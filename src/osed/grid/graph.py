"""The network as a graph for the dashboard: topology, a layout and a JSON document to draw.

Pure computation, no I/O. Three steps, each usable on its own:

* :func:`network_graph` — a :class:`networkx.MultiGraph` with one graph node per network node
  (keyed by external id) and one edge per branch keyed by the branch's external id. A
  three-winding transformer is drawn as a *triangle*: three edges (sides 1-2, 2-3, 1-3)
  between its three nodes, each keyed by the transformer's id and carrying ``sides``. A
  triangle keeps the graph's nodes exactly the network's nodes (a star point would add a node
  the network does not have) and two nodes are adjacent exactly when power can pass between
  them.
* :func:`layout` — positions in node table order: the network's coordinates when every node
  has them, otherwise a radial tree layout from the sources (refined by a seeded spring layout
  on small graphs); see its docstring for the rules.
* :func:`graph_document` / :func:`refresh_state` — the JSON-ready document a dashboard draws,
  and the cheap update of its state fields when a new power flow or estimate arrives (the
  positions are computed once and kept by the caller).

The layout uses every branch, open switches and out-of-service branches included, so that
positions do not move when the grid is switched.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components
from scipy.spatial import cKDTree

from osed.grid.network import APPLIANCES, BRANCHES, SENSORS, Network
from osed.grid.state import GridState

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]

# Computed layouts of graphs up to this size are refined by a spring layout. networkx's dense
# Fruchterman-Reingold solver takes about 0.5 s at 500 nodes; from 500 nodes on it switches to
# a solver that takes 2 s at 500 and 14 s at 2,000 nodes, too slow for a dashboard request.
SPRING_MAX_NODES = 499
SPRING_ITERATIONS = 50
GOLDEN_ANGLE = math.pi * (3.0 - math.sqrt(5.0))
TAU = 2.0 * math.pi
SIDES = ((1, 2), (2, 3), (1, 3))  # the sides of a three-winding transformer's triangle


# --- topology shared by the graph, the layout and the document ---------------------------


@dataclass(frozen=True, eq=False)
class _Branches:
    """Every graph edge in document order: BRANCHES kinds in table order, then triangles."""

    ids: list[str]
    kinds: list[str]
    rows_from: Ints  # node table rows
    rows_to: Ints
    in_service: NDArray[np.bool_]
    sides: list[tuple[int, int] | None]
    solver_ids: Ints  # of the branch (a three-winding transformer's for each of its sides)


def _node_rows(network: Network) -> Ints:
    """Node table row of every solver id (-1 for components that are not nodes)."""
    rows = np.full(len(network.external_ids), -1, dtype=np.int64)
    node_ids = network.table("node")["id"]
    rows[node_ids] = np.arange(len(node_ids))
    return rows


def _safe(rows: Ints, solver_ids: NDArray[Any]) -> Ints:
    """``rows[solver_ids]`` with out-of-range references (an unvalidated model) as -1."""
    ids = np.asarray(solver_ids, dtype=np.int64)
    ok = (ids >= 0) & (ids < len(rows))
    found: Ints = np.full(len(ids), -1, dtype=np.int64)
    found[ok] = rows[ids[ok]]
    return found


def _branches(network: Network, rows: Ints) -> _Branches:
    ids: list[str] = []
    kinds: list[str] = []
    froms: list[Ints] = []
    tos: list[Ints] = []
    service: list[NDArray[np.bool_]] = []
    sides: list[tuple[int, int] | None] = []
    solver: list[Ints] = []
    for kind in BRANCHES:
        table = network.table(kind)
        if not len(table):
            continue
        ids += network.ids(kind)
        kinds += [kind] * len(table)
        froms.append(_safe(rows, table["from_node"]))
        tos.append(_safe(rows, table["to_node"]))
        service.append((table["from_status"] != 0) & (table["to_status"] != 0))
        sides += [None] * len(table)
        solver.append(table["id"].astype(np.int64))
    table3 = network.table("three_winding_transformer")
    if len(table3):
        three_ids = network.ids("three_winding_transformer")
        for a, b in SIDES:
            ids += three_ids
            kinds += ["three_winding_transformer"] * len(table3)
            froms.append(_safe(rows, table3[f"node_{a}"]))
            tos.append(_safe(rows, table3[f"node_{b}"]))
            service.append((table3[f"status_{a}"] != 0) & (table3[f"status_{b}"] != 0))
            sides += [(a, b)] * len(table3)
            solver.append(table3["id"].astype(np.int64))

    def joined(parts: list[Any], dtype: Any) -> Any:
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

    return _Branches(
        ids=ids,
        kinds=kinds,
        rows_from=joined(froms, np.int64),
        rows_to=joined(tos, np.int64),
        in_service=joined(service, np.bool_),
        sides=sides,
        solver_ids=joined(solver, np.int64),
    )


def _sensor_counts(network: Network, rows: Ints, branches: _Branches) -> tuple[Ints, Ints]:
    """Sensors per node row and per edge.

    A node counts the sensors measuring it and those measuring an appliance connected to it;
    an edge counts the sensors measuring its branch (each side of a triangle the
    transformer's).
    """
    n = len(network.table("node"))
    size = len(network.external_ids)
    attach = rows.copy()  # solver id -> node row, for nodes and appliances
    for kind in APPLIANCES:
        table = network.table(kind)
        if len(table):
            attach[table["id"]] = _safe(rows, table["node"])
    measured = [network.table(kind)["measured_object"] for kind in SENSORS]
    objects = np.concatenate(measured).astype(np.int64) if measured else np.zeros(0, np.int64)
    objects = objects[(objects >= 0) & (objects < size)]
    at_node = attach[objects]
    per_node: Ints = np.bincount(at_node[at_node >= 0], minlength=n).astype(np.int64)
    per_object = np.bincount(objects, minlength=size)
    per_edge: Ints = per_object[branches.solver_ids].astype(np.int64)
    return per_node, per_edge


@contextmanager
def _collection_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many dicts (a third faster at 100k
    nodes: the collector would otherwise rescan the growing containers again and again)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# --- the graph ----------------------------------------------------------------------------


def network_graph(network: Network) -> nx.MultiGraph:
    """The network as a multigraph keyed by external ids.

    Node attributes: ``name``, ``u_rated`` (V), ``appliances`` (``{kind: [ids]}``, only the
    kinds present) and ``sensors`` (how many sensors measure the node or an appliance on it).
    Edge attributes: ``kind``, ``from_node``/``to_node`` (external ids; the graph itself is
    undirected), ``in_service`` (both ends' statuses closed), ``sensors`` and, for links,
    ``closed`` (the switch position, the same as ``in_service``); a three-winding transformer
    is three edges with the same key and ``sides`` ``(1, 2)``, ``(2, 3)``, ``(1, 3)``.
    """
    with _collection_paused():
        return _graph(network)


def _graph(network: Network) -> nx.MultiGraph:
    nodes = network.table("node")
    node_ids = network.ids("node")
    rows = _node_rows(network)
    branches = _branches(network, rows)
    per_node, per_edge = _sensor_counts(network, rows, branches)
    appliances: list[dict[str, list[str]]] = [{} for _ in node_ids]
    for kind in APPLIANCES:
        table = network.table(kind)
        if not len(table):
            continue
        for row, appliance in zip(
            _safe(rows, table["node"]).tolist(), network.ids(kind), strict=True
        ):
            if row >= 0:
                appliances[row].setdefault(kind, []).append(appliance)
    names = [network.names[i] for i in nodes["id"].tolist()]
    graph = nx.MultiGraph(name=network.name, frequency_hz=network.frequency_hz)
    graph.add_nodes_from(
        (node, {"name": name, "u_rated": u, "appliances": owned, "sensors": count})
        for node, name, u, owned, count in zip(
            node_ids, names, nodes["u_rated"].tolist(), appliances, per_node.tolist(), strict=True
        )
    )
    starts = _lookup(node_ids, branches.rows_from)
    ends = _lookup(node_ids, branches.rows_to)
    edges = [
        (start, end, branch, {"kind": kind, "from_node": start, "to_node": end, "in_service": on})
        for start, end, branch, kind, on in zip(
            starts, ends, branches.ids, branches.kinds, branches.in_service.tolist(), strict=True
        )
    ]
    for edge, count, side in zip(edges, per_edge.tolist(), branches.sides, strict=True):
        attributes = edge[3]
        attributes["sensors"] = count
        if side is not None:
            attributes["sides"] = side
        elif attributes["kind"] == "link":
            attributes["closed"] = attributes["in_service"]
    # A reference to something that is not a node (an unvalidated model) has no edge.
    edges = [edge for edge in edges if edge[0] is not None and edge[1] is not None]
    graph.add_edges_from(edges)
    return graph


# --- the layout ---------------------------------------------------------------------------


def layout(network: Network, *, seed: int = 0) -> Floats:
    """Node positions ``(nodes, 2)`` in node table order; the same seed gives the same layout.

    * Every node has coordinates (``network.node_xy`` finite): they are returned as given.
    * No node has coordinates: a radial tree layout. A breadth-first spanning tree grows from
      the source nodes; a single source sits at the centre (several share the first ring),
      each node's children share its angular wedge in proportion to their subtree sizes, and
      the ring of depth d has radius ``max(r[d-1] + 1, nodes_at_d / 2π)`` so that neighbours
      on a ring are about one unit apart. Graphs of at most ``SPRING_MAX_NODES`` nodes are
      then refined by :func:`networkx.spring_layout` started from the tree positions with
      ``seed``. Parts not connected to any source get the same layout around their first
      node and are packed in rows in a band below the sourced part.
    * Some nodes have coordinates: they keep them. Every other node connected to one is placed
      by walking a breadth-first tree out of the located nodes: one typical edge length (the
      median length of edges between located nodes, else half the median distance from a
      located node to the nearest other one) from its parent, a located parent's
      children spread by the golden angle, other nodes continuing their parent's heading with
      siblings fanned out within ±45°. Parts with no located node get the computed layout,
      scaled to that edge length, in a band below the located nodes.
    """
    n = len(network.table("node"))
    xy = np.asarray(network.node_xy, dtype=np.float64).reshape(n, 2)
    located = np.isfinite(xy[:, 0]) & np.isfinite(xy[:, 1])
    if n == 0 or located.all():
        return xy.copy()
    rows = _node_rows(network)
    branches = _branches(network, rows)
    valid = (branches.rows_from >= 0) & (branches.rows_to >= 0)
    a = branches.rows_from[valid]
    b = branches.rows_to[valid]
    sources = np.unique(_safe(rows, network.table("source")["node"]))
    sources = sources[sources >= 0]
    if not located.any():
        return _computed(n, a, b, sources, seed=seed)
    return _partial(xy, located, a, b, sources, seed=seed)


def _adjacency(n: int, a: Ints, b: Ints, extra: Ints | None = None) -> csr_matrix:
    """Symmetric adjacency of ``n`` nodes, plus a virtual node ``n`` joined to ``extra``."""
    size = n + (1 if extra is not None else 0)
    heads = [a, b]
    tails = [b, a]
    if extra is not None:
        hub = np.full(len(extra), n, dtype=np.int64)
        heads += [hub, extra]
        tails += [extra, hub]
    i = np.concatenate(heads)
    j = np.concatenate(tails)
    keep = i != j
    matrix = coo_matrix(
        (np.ones(int(keep.sum()), dtype=np.int8), (i[keep], j[keep])), shape=(size, size)
    )
    return matrix.tocsr()


def _forest(n: int, a: Ints, b: Ints, roots: Ints) -> tuple[list[int], list[int]]:
    """BFS order (without the virtual root ``n``) and predecessors of a forest from ``roots``."""
    order, pred = breadth_first_order(
        _adjacency(n, a, b, roots), n, directed=True, return_predecessors=True
    )
    return order[1:].tolist(), pred.tolist()


def _computed(n: int, a: Ints, b: Ints, sources: Ints, *, seed: int) -> Floats:
    """Radial tree layout (spring-refined when small) for nodes ``0..n-1``, islands banded."""
    if n == 0:
        return np.zeros((0, 2))
    _, labels = connected_components(_adjacency(n, a, b), directed=False)
    sourced = np.zeros(labels.max() + 1, dtype=bool)
    sourced[labels[sources]] = True
    first_rows = np.unique(labels, return_index=True)[1]  # the lowest row of each component
    island_roots = first_rows[~sourced[labels[first_rows]]]
    roots = np.concatenate([sources, island_roots]).astype(np.int64)
    order, pred = _forest(n, a, b, roots)

    # Group 0 is the sourced part, group k the k-th island; depth is counted within a group
    # from its centre (a lone source or island root at depth 0, several sources at depth 1).
    group = [0] * (n + 1)
    depth = [0] * (n + 1)
    for k, root in enumerate(island_roots.tolist(), start=1):
        group[root] = k
    base = 0 if len(sources) == 1 else 1
    for root in sources.tolist():
        depth[root] = base
    size = [1] * (n + 1)
    for v in reversed(order):
        size[pred[v]] += size[v]
    wedge = [0.0] * (n + 1)
    cursor = [0.0] * (n + 1)
    angle = [0.0] * (n + 1)
    sourced_total = sum(size[s] for s in sources.tolist())
    start = 0.0
    for root in sources.tolist():
        width = TAU * size[root] / sourced_total
        wedge[root], cursor[root], angle[root] = width, start, start + width / 2
        start += width
    for root in island_roots.tolist():
        wedge[root] = TAU
    for v in order:
        p = pred[v]
        if p == n:
            continue
        group[v] = group[p]
        depth[v] = depth[p] + 1
        width = wedge[p] * size[v] / (size[p] - 1)
        begin = cursor[p]
        cursor[p] = begin + width
        wedge[v], cursor[v], angle[v] = width, begin, begin + width / 2

    groups = np.asarray(group[:n], dtype=np.int64)
    depths = np.asarray(depth[:n], dtype=np.int64)
    radius = _ring_radii(groups, depths)
    theta = np.asarray(angle[:n])
    positions = np.column_stack([radius * np.cos(theta), radius * np.sin(theta)])
    members = _members(groups)
    if n <= SPRING_MAX_NODES:
        for nodes in members:
            positions[nodes] = _spring(positions[nodes], nodes, a, b, seed=seed)
    return _pack(positions, members, has_main=len(sources) > 0)


def _ring_radii(groups: Ints, depths: Ints) -> Floats:
    """Radius of each node's ring: r[0] = 0, r[d] = max(r[d-1] + 1, count[d] / 2π) per group."""
    top = int(depths.max()) + 1
    count = np.bincount(groups * top + depths, minlength=(int(groups.max()) + 1) * top)
    levels = np.tile(np.arange(top, dtype=np.float64), int(groups.max()) + 1)
    wanted = count / TAU - levels
    wanted[levels == 0] = 0.0  # each group's centre
    # A cumulative maximum per group: offsets larger than any value keep groups apart.
    offset = np.repeat(np.arange(int(groups.max()) + 1, dtype=np.float64), top) * (
        len(groups) + top + 1.0
    )
    slack = np.maximum.accumulate(wanted + offset) - offset
    radii: Floats = (slack + levels)[groups * top + depths]
    return radii


def _members(groups: Ints) -> list[Ints]:
    order = np.argsort(groups, kind="stable")
    bounds = np.flatnonzero(np.diff(groups[order])) + 1
    return list(np.split(order, bounds))


def _spring(positions: Floats, nodes: Ints, a: Ints, b: Ints, *, seed: int) -> Floats:
    """A seeded spring layout of one group, started from and scaled like ``positions``."""
    m = len(nodes)
    if m < 3:
        return positions
    local = np.full(max(int(nodes.max()) + 1, 1), -1, dtype=np.int64)
    local[nodes] = np.arange(m)
    inside = (a < len(local)) & (b < len(local))
    la = local[a[inside]]
    lb = local[b[inside]]
    keep = (la >= 0) & (lb >= 0) & (la != lb)
    graph = nx.Graph()
    graph.add_nodes_from(range(m))
    graph.add_edges_from(zip(la[keep].tolist(), lb[keep].tolist(), strict=True))
    centre = positions.mean(axis=0)
    extent = float(np.abs(positions - centre).max()) or 1.0
    start = (positions - centre) / extent
    refined = nx.spring_layout(
        graph,
        pos={i: start[i] for i in range(m)},
        seed=seed,
        iterations=SPRING_ITERATIONS,
        method="force",
    )
    result: Floats = np.array([refined[i] for i in range(m)], dtype=np.float64) * extent
    return result


def _pack(positions: Floats, members: list[Ints], *, has_main: bool) -> Floats:
    """Group 0 (the sourced part) stays around the origin; islands in rows of a band below it."""
    packed = positions.copy()
    islands = members[1:] if has_main else members
    top = 0.0
    width = 0.0
    if has_main:
        half = float(np.abs(positions[members[0]]).max(initial=0.0))  # centred at the origin
        top = -(half + 2.0)
        width = 2.0 * half
    halves = [
        float(np.abs(positions[g] - positions[g].mean(axis=0)).max(initial=0.0)) for g in islands
    ]
    if not islands:
        return packed
    area = sum((2.0 * h + 1.0) ** 2 for h in halves)
    width = max(width, math.sqrt(area), *(2.0 * h + 1.0 for h in halves))
    left = -width / 2
    x = left
    row_height = 0.0
    for nodes, half in zip(islands, halves, strict=True):
        side = 2.0 * half + 1.0
        if x > left and x + side > left + width:
            x = left
            top -= row_height
            row_height = 0.0
        centre = positions[nodes].mean(axis=0)
        packed[nodes] = positions[nodes] - centre + (x + side / 2, top - side / 2)
        x += side
        row_height = max(row_height, side)
    return packed


def _partial(
    xy: Floats, located: NDArray[np.bool_], a: Ints, b: Ints, sources: Ints, *, seed: int
) -> Floats:
    n = len(xy)
    positions = xy.copy()
    both = located[a] & located[b]
    lengths = np.hypot(*(xy[a[both]] - xy[b[both]]).T)
    lengths = lengths[lengths > 0]
    if len(lengths):
        step = float(np.median(lengths))
    elif located.sum() > 1:
        # No edge joins two located nodes: half the typical distance between located nodes.
        distances = cKDTree(xy[located]).query(xy[located], k=2)[0][:, 1]
        distances = distances[distances > 0]
        step = float(np.median(distances)) / 2 if len(distances) else 1.0
    else:
        step = 1.0
    order, pred = _forest(n, a, b, np.flatnonzero(located))
    walked = [v for v in order if not located[v]]
    children = np.bincount(
        np.asarray([pred[v] for v in walked], dtype=np.int64), minlength=n + 1
    ).tolist()
    seen = [0] * (n + 1)
    heading = [math.nan] * (n + 1)
    px = positions[:, 0].tolist()
    py = positions[:, 1].tolist()
    for v in walked:
        p = pred[v]
        k = seen[p]
        seen[p] += 1
        if located[p]:
            direction = math.pi / 2 + k * GOLDEN_ANGLE
        else:
            fan = math.pi / 2 / max(children[p], 1)
            direction = heading[p] + (k - (children[p] - 1) / 2) * fan
        heading[v] = direction
        px[v] = px[p] + step * math.cos(direction)
        py[v] = py[p] + step * math.sin(direction)
    positions = np.column_stack([px, py])
    rest = np.flatnonzero(~np.isfinite(positions).all(axis=1))
    if len(rest):
        local = np.full(n, -1, dtype=np.int64)
        local[rest] = np.arange(len(rest))
        inside = (local[a] >= 0) & (local[b] >= 0)
        island_sources = local[sources]
        island = _computed(
            len(rest),
            local[a[inside]],
            local[b[inside]],
            island_sources[island_sources >= 0],
            seed=seed,
        )
        island *= step
        done = np.isfinite(positions).all(axis=1)
        low = positions[done].min(axis=0)
        shift = (low[0] - island[:, 0].min(), low[1] - 2.0 * step - island[:, 1].max())
        positions[rest] = island + shift
    return positions


# --- the document -------------------------------------------------------------------------


def graph_document(
    network: Network, positions: Floats, state: GridState | None = None
) -> dict[str, Any]:
    """What a dashboard draws: nodes with positions, edges, and the state when one is given.

    ``{"network", "nodes": [{"id", "name", "x", "y", "u_rated"}], "edges": [{"id", "kind",
    "from", "to", "in_service"}], "calculation"}``; with a state the nodes also carry
    ``u_pu``, ``u_angle_rad``, ``p_w``, ``q_var``, ``energized`` and the edges ``p_from_w``,
    ``q_from_var``, ``i_from_a``, ``loading`` (see :func:`refresh_state`). A three-winding
    transformer's triangle sides are three edges with its id and ``sides``. Non-finite
    numbers are ``None``.
    """
    with _collection_paused():
        return _document(network, positions, state)


def _document(network: Network, positions: Floats, state: GridState | None) -> dict[str, Any]:
    nodes = network.table("node")
    node_ids = network.ids("node")
    xy = np.asarray(positions, dtype=np.float64)
    if xy.shape != (len(node_ids), 2):
        raise ValueError(f"positions have shape {xy.shape}, expected ({len(node_ids)}, 2)")
    rows = _node_rows(network)
    branches = _branches(network, rows)
    names = [network.names[i] for i in nodes["id"].tolist()]
    document_nodes = [
        {"id": node, "name": name, "x": x, "y": y, "u_rated": u}
        for node, name, x, y, u in zip(
            node_ids,
            names,
            _json_column(xy[:, 0]),
            _json_column(xy[:, 1]),
            _json_column(nodes["u_rated"]),
            strict=True,
        )
    ]
    ends_from = _lookup(node_ids, branches.rows_from)
    ends_to = _lookup(node_ids, branches.rows_to)
    edges: list[dict[str, Any]] = []
    for i, (branch, kind, start, end, service) in enumerate(
        zip(
            branches.ids,
            branches.kinds,
            ends_from,
            ends_to,
            branches.in_service.tolist(),
            strict=True,
        )
    ):
        edge: dict[str, Any] = {
            "id": branch,
            "kind": kind,
            "from": start,
            "to": end,
            "in_service": service,
        }
        side = branches.sides[i]
        if side is not None:
            edge["sides"] = list(side)
        edges.append(edge)
    document: dict[str, Any] = {
        "network": network.name,
        "nodes": document_nodes,
        "edges": edges,
        "calculation": None,
    }
    if state is not None:
        refresh_state(document, network, state)
    return document


def refresh_state(document: dict[str, Any], network: Network, state: GridState) -> dict[str, Any]:
    """Replace the state fields of a document from :func:`graph_document` (in place).

    Positions and the static fields are left alone. Symmetric states give numbers (three-phase
    powers), asymmetric ones per-phase lists; anything the state does not cover (a node or
    branch it lacks, every three-winding transformer side) and every non-finite number is
    ``None``. Returns the document.
    """
    node_ids = network.ids("node")
    nodes: list[dict[str, Any]] = document["nodes"]
    if len(nodes) != len(node_ids) or any(
        node["id"] != expected for node, expected in zip(nodes, node_ids, strict=True)
    ):
        raise ValueError(f"the document does not show the nodes of network {network.name!r}")
    node_index = _index(node_ids, state.node_ids)
    node_columns = [
        _json_column(state.u_pu, node_index),
        _json_column(state.u_angle, node_index),
        _json_column(state.p_w, node_index),
        _json_column(state.q_var, node_index),
        _json_column(state.energized, node_index),
    ]
    for node, u_pu, u_angle, p_w, q_var, energized in zip(nodes, *node_columns, strict=True):
        node["u_pu"] = u_pu
        node["u_angle_rad"] = u_angle
        node["p_w"] = p_w
        node["q_var"] = q_var
        node["energized"] = energized

    edges: list[dict[str, Any]] = document["edges"]
    flows = state.branches
    edge_ids = [edge["id"] if "sides" not in edge else None for edge in edges]
    edge_index = _index(edge_ids, flows.ids)
    edge_columns = [
        _json_column(flows.p_from_w, edge_index),
        _json_column(flows.q_from_var, edge_index),
        _json_column(flows.i_from_a, edge_index),
        _json_column(flows.loading, edge_index),
    ]
    for edge, p_from, q_from, i_from, loading in zip(edges, *edge_columns, strict=True):
        edge["p_from_w"] = p_from
        edge["q_from_var"] = q_from
        edge["i_from_a"] = i_from
        edge["loading"] = loading
    document["calculation"] = state.calculation
    return document


def _lookup(node_ids: list[str], rows: Ints) -> list[str | None]:
    return [node_ids[r] if r >= 0 else None for r in rows.tolist()]


def _index(wanted: list[str | None] | list[str], have: list[str]) -> Ints | None:
    """Row in ``have`` of each wanted id (-1 when absent); None when the lists are equal."""
    if wanted == have:
        return None
    where = {name: i for i, name in enumerate(have)}
    return np.fromiter(
        (where.get(name, -1) if name is not None else -1 for name in wanted),
        dtype=np.int64,
        count=len(wanted),
    )


def _json_column(values: NDArray[Any], index: Ints | None = None) -> list[Any]:
    """Values (rows of ``(n,)`` or per-phase ``(n, 3)``) as JSON-ready lists, in index order.

    Non-finite numbers and rows the index marks missing (-1) become None.
    """
    array = np.asarray(values)
    if index is not None:
        array = array[np.maximum(index, 0)] if len(array) else np.zeros((len(index),))
    if array.dtype == np.bool_:
        out: list[Any] = array.tolist()
    else:
        floats = array.astype(np.float64)
        objects = floats.astype(object)
        objects[~np.isfinite(floats)] = None
        out = objects.tolist()
    if index is not None:
        for row in np.flatnonzero(index < 0).tolist():
            out[row] = None
    return out
