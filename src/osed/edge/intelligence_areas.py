"""The electric areas of a network and the ratings the grid intelligence compares with.

An element's area is found on its path to a source, over closed branches (a breadth-first
tree from every source): the nearest transformer upstream of the element (the element itself
when it is a transformer); where the path has no transformer, the first branch below the source
(the feeder head). A node's path starts at the branch that feeds it; the source node itself has
no area. A branch outside the tree (open, or closing a mesh) belongs to its from end's area.
The area's nodes are those below its branch.

What lies below an element (:meth:`AreaMap.below`, the part of the grid an EDC at that element
sees) is its whole subtree, across transformers: below a branch, the node it feeds and every
node fed through it; below a node, the node itself and what it feeds. A branch outside the tree
lies below an element when its from end does.

Ratings: a line's ``i_n`` at both ends; a transformer's or generic branch's ``sn`` as a current
at each end (``sn / (√3 · u)`` with the end's rated voltage); a branch without a rating is not
watched. Voltages are compared in pu of the node's ``u_rated`` (line-to-line).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from osed.grid.network import Network

SQRT3 = math.sqrt(3.0)


@dataclass(frozen=True, slots=True)
class Area:
    element: str  # the transformer or feeder-head branch
    kind: str
    rating_kw: float | None  # its rating as active power (unity power factor), if rated
    nodes: frozenset[str]
    branches: frozenset[str]


class AreaMap:
    def __init__(self, network: Network) -> None:
        self.network = network
        self.u_rated_v: dict[str, float] = {
            network.external_ids[i]: float(u)
            for i, u in zip(
                network.table("node")["id"], network.table("node")["u_rated"], strict=True
            )
        }
        self.branch_amps: dict[str, tuple[float, float]] = {}  # rated current at each end
        self._ends: dict[str, tuple[str, str]] = {}
        self._kinds: dict[str, str] = {}
        self._rating_kw: dict[str, float] = {}
        adjacency: dict[str, list[tuple[str, str]]] = {n: [] for n in self.u_rated_v}
        for kind in ("line", "link", "transformer", "generic_branch"):
            table = network.table(kind)
            for row in table:
                branch = network.external_ids[int(row["id"])]
                a = network.external_ids[int(row["from_node"])]
                b = network.external_ids[int(row["to_node"])]
                self._ends[branch] = (a, b)
                self._kinds[branch] = kind
                self._rate(branch, kind, row, a, b)
                if int(row["from_status"]) == 1 and int(row["to_status"]) == 1:
                    adjacency[a].append((branch, b))
                    adjacency[b].append((branch, a))
        self._feeding: dict[str, tuple[str, str]] = {}  # node → (branch feeding it, parent)
        self._children: dict[str, list[str]] = {}  # node → the nodes it feeds
        sources = [network.external_ids[int(n)] for n in network.table("source")["node"]]
        queue = deque(sources)
        seen = set(sources)
        self._sources = frozenset(sources)
        while queue:
            node = queue.popleft()
            for branch, other in adjacency[node]:
                if other not in seen:
                    seen.add(other)
                    self._feeding[other] = (branch, node)
                    self._children.setdefault(node, []).append(other)
                    queue.append(other)
        self._area_of_node: dict[str, str] = {}
        for node in self._feeding:
            self._area_of_node[node] = self._walk_up(node)
        self._areas: dict[str, Area] = {}
        members: dict[str, tuple[set[str], set[str]]] = {}
        for node, area in self._area_of_node.items():
            nodes, branches = members.setdefault(area, (set(), set()))
            nodes.add(node)
            branches.add(self._feeding[node][0])
        for area, (nodes, branches) in members.items():
            self._areas[area] = Area(
                area,
                self._kinds[area],
                self._rating_kw.get(area),
                frozenset(nodes),
                frozenset(branches),
            )
        self._below: dict[str, Area | None] = {}

    def _rate(self, branch: str, kind: str, row: np.void, a: str, b: str) -> None:
        ua, ub = self.u_rated_v[a], self.u_rated_v[b]
        if kind == "line":
            amps = float(row["i_n"])
            if math.isfinite(amps) and amps > 0:
                self.branch_amps[branch] = (amps, amps)
                self._rating_kw[branch] = SQRT3 * min(ua, ub) * amps / 1e3
        elif kind in ("transformer", "generic_branch"):
            sn = float(row["sn"])
            if math.isfinite(sn) and sn > 0:
                self.branch_amps[branch] = (sn / (SQRT3 * ua), sn / (SQRT3 * ub))
                self._rating_kw[branch] = sn / 1e3

    def _walk_up(self, node: str) -> str:
        """The nearest transformer above ``node``, else the branch right below the source."""
        head = ""
        current = node
        while current in self._feeding:
            branch, parent = self._feeding[current]
            if self._kinds[branch] == "transformer":
                return branch
            head, current = branch, parent
        return head

    def area_of(self, element: str) -> Area | None:
        """The area of a node or branch (None: the source node, an element not fed from a
        source, or one this network does not have)."""
        if element in self._ends:
            if self._kinds[element] == "transformer":
                return self._areas.get(element)
            a, b = self._ends[element]
            below = b if self._feeding.get(b, ("", ""))[0] == element else a
            if self._feeding.get(below, ("", ""))[0] != element:
                # an open branch or one closing a mesh: the area of its from end
                below = a if a in self._area_of_node else b
            name = self._area_of_node.get(below)
            return None if name is None else self._areas.get(name)
        name = self._area_of_node.get(element)
        return None if name is None else self._areas.get(name)

    def area(self, element: str) -> Area | None:
        """The area headed by ``element``, if it heads one."""
        return self._areas.get(element)

    def below(self, element: str) -> Area | None:
        """The nodes and branches at and below ``element`` (a branch or node fed from a source,
        or a source node), across transformers; None for an element this network does not have
        or one no source feeds. Computed once per element."""
        if element not in self._below:
            self._below[element] = self._subtree(element)
        return self._below[element]

    def _subtree(self, element: str) -> Area | None:
        kind = self._kinds.get(element, "node")
        if element in self._ends:
            a, b = self._ends[element]
            root = next((n for n in (b, a) if self._feeding.get(n, ("", ""))[0] == element), None)
        else:
            fed = element in self._feeding or element in self._sources
            root = element if fed else None
        if root is None:
            start = self._ends[element][0] if element in self._ends else None
            if start is None or not (start in self._feeding or start in self._sources):
                return None  # unknown, or not fed from a source
            # a branch outside the tree: nothing is fed through it
            empty: frozenset[str] = frozenset()
            return Area(element, kind, self._rating_kw.get(element), empty, frozenset([element]))
        nodes = {root}
        stack = [root]
        while stack:
            for child in self._children.get(stack.pop(), ()):
                nodes.add(child)
                stack.append(child)
        branches = {self._feeding[n][0] for n in nodes if n != root}
        if element in self._ends:
            branches.add(element)
        tree = {branch for branch, _ in self._feeding.values()}
        branches.update(b for b, (a, _) in self._ends.items() if b not in tree and a in nodes)
        return Area(
            element, kind, self._rating_kw.get(element), frozenset(nodes), frozenset(branches)
        )

    def areas(self) -> list[Area]:
        return [self._areas[k] for k in sorted(self._areas)]
