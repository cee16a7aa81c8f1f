"""The EDC management API (FastAPI), for a grid-level manager (ADMS, DERMS, aggregator, VPP).

    POST   /api/v1/edcs                          create (Idempotency-Key header) → 201
    GET    /api/v1/edcs                          list
    GET    /api/v1/edcs/{id}                     one, with its functions' status
    DELETE /api/v1/edcs/{id}                     destroy → 204
    POST   /api/v1/edcs/{id}/functions/{name}    assign with {"parameters": {…}} → 201
    GET    /api/v1/edcs/{id}/functions/{name}    the function's status
    DELETE /api/v1/edcs/{id}/functions/{name}    remove (restorations sent) → 204
    POST   /api/v1/edcs/{id}/buildings           enrol {"building_id", "functions"} → token
    POST   /api/v1/edcs/{id}/buildings/batch     enrol {"buildings": [...]} (up to 10,000)
    DELETE /api/v1/edcs/{id}/buildings/{building}  unenrol → 204
    GET    /api/v1/edcs/{id}/aggregate           demand, production, flexibility of the area
    GET    /api/v1/edcs/{id}/grid-state          the grid state its functions see, with its age
    PUT    /api/v1/edcs/{id}/grid-state          put the area's state (no estimator of OSED's)
    GET    /api/v1/grid-functions                the installed functions' manifests
    GET    /api/v1/grid-intelligence/decisions   the grid intelligence's last decisions

A rejected request gets 422 with every problem and its path (``$.parameters.limit_kw``,
``$header.Idempotency-Key``, ``$path.edc_id``); nothing is applied. OpenAPI at /openapi.json.

:func:`create_router` holds the operations (under ``/api/v1``); :func:`create_app` serves them
alone, as the EDC manager's own service, and the platform API (``osed.api``) joins the same
router with its callers' principals: reading takes any role, changing an EDC an operator or
the grid manager of its element's area.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from osed.codec.cursor import MAX_LIMIT, paginate
from osed.domain.access import READERS, anonymous, permit
from osed.domain.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    Problem,
    ValidationError,
)
from osed.domain.identity import Principal, Role
from osed.edge.api_schema import responses
from osed.edge.coordinator import Coordinator
from osed.edge.grid_state_document import TIME_PATTERN
from osed.edge.manager import EdcManager
from osed.edge.names import BUILDING_ID_PATTERN, EDC_ID_PATTERN, FUNCTION_NAME_PATTERN
from osed.ports.edc import MAX_EDC_ID
from osed.ports.intelligence import DecisionStore

BASE = "/api/v1"
PREFIX = BASE + "/edcs"
MAX_REQUEST_BYTES = 1024 * 1024

EdcId = Annotated[str, Path(pattern=EDC_ID_PATTERN, max_length=MAX_EDC_ID)]
FunctionName = Annotated[str, Path(pattern=FUNCTION_NAME_PATTERN, max_length=64)]
BuildingId = Annotated[str, Path(pattern=BUILDING_ID_PATTERN, max_length=128)]

DECISIONS_PATH = BASE + "/grid-intelligence/decisions"
MAX_DECISIONS = 10_000


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class NewEdc(_Body):
    id: str = Field(pattern=EDC_ID_PATTERN, max_length=MAX_EDC_ID, description="the EDC's id")
    element: str = Field(
        min_length=1,
        max_length=200,
        description="the substation, transformer or feeder of the network model it manages",
    )


class Assignment(_Body):
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="checked against the function's manifest"
    )


class Enrolment(_Body):
    building_id: str = Field(pattern=BUILDING_ID_PATTERN, max_length=128)
    functions: list[Annotated[str, Field(pattern=FUNCTION_NAME_PATTERN, max_length=64)]] | None = (
        Field(None, max_length=64, description="default: every function, also those assigned later")
    )


MAX_BATCH = 10_000


class Enrolments(_Body):
    buildings: list[Enrolment] = Field(min_length=1, max_length=MAX_BATCH)


class GridStateBody(_Body):
    """What the OpenAPI document states of a put grid state; the body itself is read by
    ``read_grid_state``, which names every problem at once (also ids outside the area)."""

    estimated_at: str | None = Field(
        None, pattern=TIME_PATTERN, description="RFC 3339 with its zone; default: on arrival"
    )
    voltages_pu: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict, description="node → voltage in pu of its rated voltage"
    )
    loading: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, description="branch → loading as a share of its rating"
    )


_GRID_STATE_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": GridStateBody.model_json_schema()}},
    }
}


def edc_document(edc: Coordinator, *, detail: bool = False) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": edc.edc_id,
        "element": edc.element,
        "created_at": edc.created_at.isoformat(),
        "functions": edc.function_names(),
        "links": {
            "self": f"{PREFIX}/{edc.edc_id}",
            "aggregate": f"{PREFIX}/{edc.edc_id}/aggregate",
        },
    }
    if detail:
        document["function_status"] = {n: edc.function_status(n) for n in edc.function_names()}
        document["aggregate"] = edc.aggregate()
        document["enrolled"] = edc.enrolment()
    return document


def decision_document(number: int, stored: bytes) -> dict[str, Any]:
    """A stored decision with its number in the log (``seq``, from 1)."""
    decision: dict[str, Any] = json.loads(stored)
    return {"seq": number, **decision}


def _request_problems(exc: RequestValidationError) -> ValidationError:
    """FastAPI's parameter errors as OSED problems: ``$.id``, ``$header.Idempotency-Key``."""
    problems = []
    for item in exc.errors():
        where, *rest = list(item.get("loc", ())) or ["body"]
        tail = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rest)
        if where == "header" and tail.lower() == ".idempotency-key":
            tail = ".Idempotency-Key"
        path = f"${tail}" if where == "body" else f"${where}{tail}"
        code, message = str(item.get("type", "invalid")), str(item.get("msg", ""))
        if code == "json_invalid":  # the location is a character offset, not a JSON path
            path, message = "$", f"{message} at character {rest[0] if rest else 0}"
        problems.append(Problem(path, code, message))
    return ValidationError(problems or [Problem("$", "invalid", "bad request")], subject="request")


Responses = Callable[..., dict[int | str, dict[str, Any]]]
Caller = Callable[..., Awaitable[Principal]]
CHANGERS = (Role.OPERATOR, Role.GRID_MANAGER)


def may_change(principal: Principal, element: str) -> None:
    """An EDC is changed by an operator, or by the grid manager of its element's area."""
    permit(principal, *CHANGERS, to="change EDCs")
    if not principal.runs_area(element):
        raise PermissionDeniedError(
            f"{principal.subject} does not run the area of {element!r}: it may not change its EDC"
        )


class _SizeLimit:
    """Refuses a body declared larger than ``max_bytes`` before it is read (413). Plain ASGI:
    a request costs no extra task, as an ``http`` middleware's would."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = Headers(scope=scope).get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                message = f"the body is larger than {self.max_bytes} bytes"
                answer = JSONResponse({"error": "too_large", "message": message}, 413)
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(
    manager: EdcManager,
    *,
    max_request_bytes: int = MAX_REQUEST_BYTES,
    run_manager: bool = False,
    decisions: DecisionStore | None = None,
    caller: Caller = anonymous,
) -> FastAPI:
    """The API over ``manager``, which its owner starts and stops in the server's event loop
    (``run_manager``: the app does, as the server starts and stops); ``decisions``: the grid
    intelligence's log when it runs beside the manager; ``caller`` yields the request's
    principal (default: anonymous; the runtime checks tokens in front of the app)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if run_manager:
            await manager.start()
        try:
            yield
        finally:
            if run_manager:
                await manager.stop()

    app = FastAPI(
        title="OSED EDC manager",
        version="1",
        description="EDGE DERMS Coordinators per electric area (docs/edge.md).",
        lifespan=lifespan,
    )

    app.add_middleware(_SizeLimit, max_bytes=max_request_bytes)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(_request_problems(exc).to_dict(), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # a body that is not JSON (not UTF-8, malformed, too deep)
            problem = Problem("$", "bad_json", f"the body is not JSON text: {exc.detail}")
            return JSONResponse(ValidationError([problem], subject="request").to_dict(), 422)
        code = "not_found" if exc.status_code == 404 else "http_error"
        body = {"error": code, "message": str(exc.detail)}
        return JSONResponse(body, exc.status_code, headers=exc.headers)

    @app.exception_handler(ValidationError)
    async def invalid(_: Request, exc: ValidationError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=422)

    @app.exception_handler(NotFoundError)
    async def missing(_: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse({"error": "not_found", "message": str(exc)}, status_code=404)

    @app.exception_handler(ConflictError)
    async def conflict(_: Request, exc: ConflictError) -> JSONResponse:
        return JSONResponse({"error": "conflict", "message": str(exc)}, status_code=409)

    @app.exception_handler(PermissionDeniedError)
    async def forbidden(_: Request, exc: PermissionDeniedError) -> JSONResponse:
        return JSONResponse({"error": "forbidden", "message": str(exc)}, status_code=403)

    app.include_router(create_router(manager, decisions=decisions, caller=caller), prefix=BASE)

    @app.get("/healthz")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def create_router(
    manager: EdcManager,
    *,
    decisions: DecisionStore | None = None,
    caller: Caller = anonymous,
    described: Responses = responses,
) -> APIRouter:
    """The EDC operations, relative to ``/api/v1``. ``caller`` yields the request's principal
    (default: anonymous, which may do everything); ``described`` states each operation's
    answers in the OpenAPI document."""
    router = APIRouter()
    responses = described
    who = Depends(caller)  # a default, not an annotation: ``caller`` is local to this call

    def reader(principal: Principal) -> None:
        permit(principal, *READERS, to="read EDCs")

    def changing(principal: Principal, edc_id: str) -> Coordinator:
        edc = manager.get(edc_id)
        may_change(principal, edc.element)
        return edc

    @router.post(
        "/edcs",
        status_code=201,
        responses=responses(
            {201: "created", 200: "the EDC this key created", 409: "the id is taken"}
        ),
    )
    async def create(
        body: NewEdc,
        response: Response,
        idempotency_key: Annotated[
            str,
            Header(
                min_length=1,
                max_length=200,
                pattern=r"^[!-~]+$",
                description="a retry with the same key and body returns the same EDC",
            ),
        ],
        principal: Principal = who,
    ) -> dict[str, Any]:
        may_change(principal, body.element)
        edc, created = await manager.create(body.id, body.element, idempotency_key=idempotency_key)
        response.status_code = 201 if created else 200
        response.headers["Location"] = f"{PREFIX}/{edc.edc_id}"
        return edc_document(edc)

    @router.get("/edcs", responses=responses({200: "the EDCs by id, a page at a time"}))
    async def listing(
        principal: Principal = who,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="at most this many")] = (
            MAX_LIMIT
        ),
        cursor: Annotated[
            str | None, Query(max_length=512, description="next_cursor of the page before")
        ] = None,
    ) -> dict[str, Any]:
        reader(principal)
        edcs = sorted(manager.edcs(), key=lambda edc: edc.edc_id)
        page = paginate(edcs, lambda edc: edc.edc_id, listing="edcs", limit=limit, cursor=cursor)
        return {
            "items": [edc_document(edc) for edc in page.items],
            "next_cursor": page.next_cursor,
        }

    @router.get("/edcs/{edc_id}", responses=responses({200: "the EDC"}, 404))
    async def one(edc_id: EdcId, principal: Principal = who) -> dict[str, Any]:
        reader(principal)
        return edc_document(manager.get(edc_id), detail=True)

    @router.delete("/edcs/{edc_id}", status_code=204, responses=responses({204: "gone"}, 404))
    async def destroy(edc_id: EdcId, principal: Principal = who) -> Response:
        changing(principal, edc_id)
        await manager.destroy(edc_id)
        return Response(status_code=204)

    @router.post(
        "/edcs/{edc_id}/functions/{name}",
        status_code=201,
        responses=responses({201: "assigned: its status", 409: "it runs already"}, 404),
    )
    async def assign(
        edc_id: EdcId,
        name: FunctionName,
        body: Assignment,
        principal: Principal = who,
    ) -> dict[str, Any]:
        return await changing(principal, edc_id).assign(name, body.parameters)

    @router.get(
        "/edcs/{edc_id}/functions/{name}",
        responses=responses({200: "the function's status"}, 404),
    )
    async def function(
        edc_id: EdcId, name: FunctionName, principal: Principal = who
    ) -> dict[str, Any]:
        reader(principal)
        return manager.get(edc_id).function_status(name)

    @router.delete(
        "/edcs/{edc_id}/functions/{name}",
        status_code=204,
        responses=responses({204: "removed"}, 404),
    )
    async def remove(edc_id: EdcId, name: FunctionName, principal: Principal = who) -> Response:
        await changing(principal, edc_id).remove_function(name)
        return Response(status_code=204)

    @router.post(
        "/edcs/{edc_id}/buildings",
        status_code=201,
        responses=responses({201: "enrolled: the building's token, shown only now"}, 404),
    )
    async def enrol(edc_id: EdcId, body: Enrolment, principal: Principal = who) -> dict[str, Any]:
        token = await changing(principal, edc_id).enrol(body.building_id, body.functions)
        return {"building_id": body.building_id, "functions": body.functions, "token": token}

    @router.post(
        "/edcs/{edc_id}/buildings/batch",
        status_code=201,
        responses=responses({201: "enrolled: each building's token, shown only now"}, 404),
    )
    async def enrol_batch(
        edc_id: EdcId, body: Enrolments, principal: Principal = who
    ) -> dict[str, Any]:
        pairs = [(e.building_id, e.functions) for e in body.buildings]
        tokens = await changing(principal, edc_id).enrol_many(pairs)
        return {
            "items": [
                {"building_id": e.building_id, "functions": e.functions, "token": t}
                for e, t in zip(body.buildings, tokens, strict=True)
            ]
        }

    @router.delete(
        "/edcs/{edc_id}/buildings/{building_id}",
        status_code=204,
        responses=responses({204: "unenrolled: its token no longer holds"}, 404),
    )
    async def unenrol(
        edc_id: EdcId, building_id: BuildingId, principal: Principal = who
    ) -> Response:
        await changing(principal, edc_id).unenrol(building_id)
        return Response(status_code=204)

    @router.get("/edcs/{edc_id}/aggregate", responses=responses({200: "the area"}, 404))
    async def aggregate(edc_id: EdcId, principal: Principal = who) -> dict[str, Any]:
        reader(principal)
        return manager.get(edc_id).aggregate()

    @router.get(
        "/edcs/{edc_id}/grid-state",
        responses=responses({200: "the grid state its functions see, with its age"}, 404),
    )
    async def grid_state(edc_id: EdcId, principal: Principal = who) -> dict[str, Any]:
        reader(principal)
        return manager.get(edc_id).grid_state()

    @router.put(
        "/edcs/{edc_id}/grid-state",
        responses=responses({200: "applied: the grid state its functions see"}, 404),
        openapi_extra=_GRID_STATE_BODY,
    )
    async def put_grid_state(
        edc_id: EdcId,
        body: Annotated[dict[str, Any], Body()],
        principal: Principal = who,
    ) -> dict[str, Any]:
        changing(principal, edc_id)
        return manager.put_grid_state(edc_id, body)

    @router.get("/grid-functions", responses=responses({200: "installed functions"}))
    async def grid_functions(principal: Principal = who) -> dict[str, Any]:
        reader(principal)
        return {"items": manager.manifests()}

    @router.get(
        "/grid-intelligence/decisions",
        responses=responses(
            {
                200: "the last decisions, oldest first, each with its number",
                404: "no grid intelligence runs beside this manager",
            }
        ),
    )
    async def intelligence_decisions(
        limit: Annotated[
            int, Query(ge=1, le=MAX_DECISIONS, description="how many of the last decisions")
        ] = 100,
        *,
        principal: Principal = who,
    ) -> dict[str, Any]:
        reader(principal)
        if decisions is None:
            raise NotFoundError("no grid intelligence runs beside this EDC manager")
        return {"items": [decision_document(n, raw) for n, raw in decisions.recent(limit)]}

    return router
