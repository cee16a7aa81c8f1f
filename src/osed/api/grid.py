"""The network model and its electric areas: the graph a dashboard draws, nodes and branches
with their parameters and latest estimated values, and the latest estimate. Reading takes any
role: none of it is a party's own."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from osed.api.auth import Caller
from osed.api.estimates import EstimateFollower
from osed.api.listing import CursorQuery, LimitQuery, page_document
from osed.codec.cursor import paginate
from osed.domain.access import READERS, permit
from osed.domain.errors import NotFoundError
from osed.domain.identity import Principal
from osed.edge.intelligence_areas import Area, AreaMap
from osed.grid.graph import graph_document, layout
from osed.grid.network import BRANCHES, Network, component_rows

ElementId = Annotated[str, Path(min_length=1, max_length=200, description="an external id")]


def _area_document(area: Area) -> dict[str, Any]:
    return {
        "element": area.element,
        "kind": area.kind,
        "rating_kw": area.rating_kw,
        "nodes": sorted(area.nodes),
        "branches": sorted(area.branches),
    }


class GridView:
    """The network's rows by id, its areas, and its layout (computed on first use: a large
    network's layout takes a while)."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self.areas = AreaMap(network)
        self.nodes = {row["id"]: row for row in component_rows(network, "node")}
        self.branches: dict[str, dict[str, Any]] = {}
        for kind in BRANCHES:
            for row in component_rows(network, kind):
                self.branches[row["id"]] = {"kind": kind, **row}
        self._graph: dict[str, Any] | None = None

    def graph(self) -> dict[str, Any]:
        if self._graph is None:
            self._graph = graph_document(self.network, layout(self.network))
        return self._graph


def create_router(
    view: GridView, *, estimates: EstimateFollower | None, caller: Caller, described: Any
) -> APIRouter:
    router = APIRouter(tags=["network"])
    who = Depends(caller)

    def reader(principal: Principal) -> None:
        permit(principal, *READERS, to="read the network")

    def latest() -> dict[str, Any] | None:
        if estimates is None or estimates.latest is None:
            return None
        return estimates.latest.document()

    @router.get(
        "/network",
        responses=described({200: "the network model: name, counts, the latest estimate's time"}),
    )
    async def network(principal: Principal = who) -> dict[str, Any]:
        reader(principal)
        model = view.network
        estimate = None if estimates is None else estimates.latest
        return {
            "name": model.name,
            "frequency_hz": model.frequency_hz,
            "counts": model.counts(),
            "unsupported": len(model.unsupported),
            "estimate": None
            if estimate is None
            else {"estimated_at": estimate.estimated_at, "status": estimate.status},
            "links": {
                "graph": "/api/v1/network/graph",
                "nodes": "/api/v1/network/nodes",
                "branches": "/api/v1/network/branches",
                "areas": "/api/v1/areas",
                "estimate": "/api/v1/network/estimate",
            },
        }

    @router.get(
        "/network/graph",
        responses=described({200: "nodes with positions, edges: what a dashboard draws"}),
    )
    async def graph(principal: Principal = who) -> dict[str, Any]:
        reader(principal)
        return view.graph()

    @router.get("/network/nodes", responses=described({200: "nodes by id, a page at a time"}))
    async def nodes(
        limit: LimitQuery = 100, cursor: CursorQuery = None, principal: Principal = who
    ) -> dict[str, Any]:
        reader(principal)
        page = paginate(sorted(view.nodes), str, listing="nodes", limit=limit, cursor=cursor)
        return page_document(
            [view.nodes[n] for n in page.items], page.next_cursor, "/api/v1/network/nodes", limit
        )

    @router.get(
        "/network/nodes/{node_id}",
        responses=described({200: "the node, its area and latest estimated voltage"}, 404),
    )
    async def node(node_id: ElementId, principal: Principal = who) -> dict[str, Any]:
        reader(principal)
        row = view.nodes.get(node_id)
        if row is None:
            raise NotFoundError(f"network {view.network.name!r} has no node {node_id!r}")
        area = view.areas.area_of(node_id)
        estimate = latest()
        return {
            **row,
            "area": None if area is None else area.element,
            "estimate": None
            if estimate is None
            else {"estimated_at": estimate["estimated_at"], **estimate["nodes"].get(node_id, {})},
        }

    @router.get("/network/branches", responses=described({200: "branches by id, a page at a time"}))
    async def branches(
        limit: LimitQuery = 100, cursor: CursorQuery = None, principal: Principal = who
    ) -> dict[str, Any]:
        reader(principal)
        page = paginate(sorted(view.branches), str, listing="branches", limit=limit, cursor=cursor)
        return page_document(
            [view.branches[b] for b in page.items],
            page.next_cursor,
            "/api/v1/network/branches",
            limit,
        )

    @router.get(
        "/network/branches/{branch_id}",
        responses=described({200: "the branch, its area and latest estimated loading"}, 404),
    )
    async def branch(branch_id: ElementId, principal: Principal = who) -> dict[str, Any]:
        reader(principal)
        row = view.branches.get(branch_id)
        if row is None:
            raise NotFoundError(f"network {view.network.name!r} has no branch {branch_id!r}")
        area = view.areas.area_of(branch_id)
        estimate = latest()
        return {
            **row,
            "area": None if area is None else area.element,
            "estimate": None
            if estimate is None
            else {
                "estimated_at": estimate["estimated_at"],
                **estimate["branches"].get(branch_id, {}),
            },
        }

    @router.get(
        "/network/estimate",
        responses=described(
            {200: "the latest estimated state", 404: "no estimate has arrived yet"}
        ),
    )
    async def estimate(principal: Principal = who) -> dict[str, Any]:
        reader(principal)
        found = latest()
        if found is None:
            raise NotFoundError("no estimate has arrived yet (estimation.output_prefix)")
        return found

    @router.get("/areas", responses=described({200: "electric areas by element, a page at a time"}))
    async def areas(
        limit: LimitQuery = 100, cursor: CursorQuery = None, principal: Principal = who
    ) -> dict[str, Any]:
        reader(principal)
        ordered = sorted(view.areas.areas(), key=lambda a: a.element)
        page = paginate(ordered, lambda a: a.element, listing="areas", limit=limit, cursor=cursor)
        return page_document(
            [_area_document(a) for a in page.items], page.next_cursor, "/api/v1/areas", limit
        )

    @router.get("/areas/{element}", responses=described({200: "the area and what lies in it"}, 404))
    async def area(
        element: ElementId,
        principal: Principal = who,
        below: Annotated[
            bool, Query(description="what lies below the element instead of its area")
        ] = False,
    ) -> dict[str, Any]:
        reader(principal)
        found = view.areas.below(element) if below else view.areas.area(element)
        if found is None:
            raise NotFoundError(f"{element!r} heads no electric area of {view.network.name!r}")
        return _area_document(found)

    return router
