"""The REST job API of the balancer (FastAPI).

    POST /optimizations                 queue a request (Idempotency-Key header) → 202 + id
    GET  /optimizations                 list, newest first (?status=&before=&limit=)
    GET  /optimizations/{id}            status
    GET  /optimizations/{id}/result     the result document once succeeded
    POST /optimizations/{id}/cancel     cancel (queued: at once; running: at the next heartbeat)

A request is checked before it is queued: a malformed one gets 422 with every problem and its
path (``$.…`` in the body, ``$header.…``, ``$query.…``, ``$path.…``), and nothing is stored.
The body is pymfm's input, OSED's balancing document (docs/optimizer.md) or OSED's fleet
document (docs/optimizer-fleet.md), as ``application/json`` (else 415) of at most
``max_request_bytes`` (else 413, counted as it arrives); the OpenAPI schema at /openapi.json
describes all three and every answer of every operation.

:func:`create_router` holds the operations; :func:`create_app` serves them alone, as the
balancer's own service, and the platform API (``osed.api``) joins the same router under
``/api/v1`` with its callers' principals: reading takes any role, submitting and cancelling
an operator.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from osed.codec.cursor import decode_cursor, encode_cursor
from osed.domain.access import READERS, anonymous, permit
from osed.domain.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    Problem,
    ValidationError,
)
from osed.domain.identity import Principal, Role
from osed.domain.time import Clock, SystemClock
from osed.optimizer.budget import MAX_REQUEST_BYTES
from osed.optimizer_service.api_schema import (
    IDEMPOTENCY_KEY_PATTERN,
    MAX_IDEMPOTENCY_KEY,
    MAX_JOB_ID,
    body_schemas,
    responses,
)
from osed.optimizer_service.body import read_document
from osed.optimizer_service.requests import KIND, checked_request
from osed.ports.jobs import MAX_PAGE, Job, JobStatus, JobStore

PREFIX = "/optimizations"
JobId = Annotated[int, Path(ge=1, le=MAX_JOB_ID, description="a job id")]
Responses = Callable[..., dict[int | str, dict[str, Any]]]
Caller = Callable[..., Awaitable[Principal]]


def job_document(job: Job, base: str = "") -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": job.job_id,
        "status": job.status.value,
        "submitted_at": job.submitted_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "attempts": job.attempts,
        "cancel_requested": job.cancel_requested,
        "links": {
            "self": f"{base}{PREFIX}/{job.job_id}",
            "result": f"{base}{PREFIX}/{job.job_id}/result",
        },
    }
    if job.error is not None:
        document["error"] = job.error
    return document


def _problems(exc: ValidationError) -> JSONResponse:
    return JSONResponse(exc.to_dict(), status_code=422)


def _request_problems(exc: RequestValidationError) -> ValidationError:
    """FastAPI's parameter errors as OSED problems: ``$header.Idempotency-Key``, …"""
    problems = []
    for item in exc.errors():
        where, *rest = [str(part) for part in item.get("loc", ())] or ["body"]
        name = ".".join(rest)
        if where == "header" and name.lower() == "idempotency-key":
            name = "Idempotency-Key"
        path = f"${where}.{name}" if where != "body" else "$"
        problems.append(Problem(path, str(item.get("type", "invalid")), str(item.get("msg", ""))))
    return ValidationError(problems or [Problem("$", "invalid", "bad request")], subject="request")


def create_app(
    open_store: Callable[[], JobStore],
    *,
    clock: Clock | None = None,
    max_time_limit_s: float = 600.0,
    queue_timeout: timedelta | None = None,
    max_request_bytes: int = MAX_REQUEST_BYTES,
    caller: Caller = anonymous,
) -> FastAPI:
    """The API over the job store ``open_store()`` opens (in the server's event loop, which
    serves every request). ``queue_timeout``: a job not started by then fails;
    ``max_request_bytes``: larger bodies are refused before they are parsed; ``caller``
    yields the request's principal (default: anonymous; the runtime checks tokens in front
    of the app)."""
    clock = clock or SystemClock()
    stores: list[JobStore] = []

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stores.append(open_store())
        try:
            yield
        finally:
            stores.pop().close()

    app = FastAPI(
        title="OSED balancer optimizer",
        version="1",
        description="Community microgrid balancing jobs (docs/optimizer.md).",
        lifespan=lifespan,
    )

    def store() -> JobStore:
        return stores[0]

    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = default_openapi()
            schema.setdefault("components", {}).setdefault("schemas", {}).update(components())
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(RequestValidationError)
    async def bad_parameters(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _problems(_request_problems(exc))

    @app.exception_handler(ValidationError)
    async def invalid(_: Request, exc: ValidationError) -> JSONResponse:
        return _problems(exc)

    @app.exception_handler(NotFoundError)
    async def missing(_: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse({"error": "not_found", "message": str(exc)}, status_code=404)

    @app.exception_handler(ConflictError)
    async def conflict(_: Request, exc: ConflictError) -> JSONResponse:
        return JSONResponse({"error": "conflict", "message": str(exc)}, status_code=409)

    @app.exception_handler(PermissionDeniedError)
    async def forbidden(_: Request, exc: PermissionDeniedError) -> JSONResponse:
        return JSONResponse({"error": "forbidden", "message": str(exc)}, status_code=403)

    app.include_router(
        create_router(
            store,
            clock=clock,
            max_time_limit_s=max_time_limit_s,
            queue_timeout=queue_timeout,
            max_request_bytes=max_request_bytes,
            caller=caller,
        )
    )

    @app.get("/healthz")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def components() -> dict[str, Any]:
    """The models the request bodies refer to: an app serving the router adds them to the
    ``components/schemas`` of its OpenAPI document."""
    return body_schemas()[1]


def create_router(
    store: Callable[[], JobStore],
    *,
    clock: Clock | None = None,
    max_time_limit_s: float = 600.0,
    queue_timeout: timedelta | None = None,
    max_request_bytes: int = MAX_REQUEST_BYTES,
    caller: Caller = anonymous,
    described: Responses = responses,
    base: str = "",
) -> APIRouter:
    """The job operations over the job store ``store()`` returns; ``caller`` yields the
    request's principal (default: anonymous, which may do everything), ``described`` states
    the answers in the OpenAPI document, ``base`` is where the router is mounted (links)."""
    clock = clock or SystemClock()
    router = APIRouter()
    responses = described
    who = Depends(caller)  # a default, not an annotation: ``caller`` is local to this call
    members, _ = body_schemas()

    def submit_route(endpoint: Any) -> Any:
        # The budget's bound is this app's setting: a real annotation, not a string.
        endpoint.__annotations__["time_limit_s"] = Annotated[
            float | None,
            Query(gt=0, le=max_time_limit_s, description="the time budget in seconds"),
        ]
        return router.post(
            PREFIX,
            status_code=202,
            openapi_extra={
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"anyOf": members}}},
                }
            },
            responses=responses(
                {202: "queued (or the job of this key)", 409: "key used for another request"},
                413,
                415,
            ),
        )(endpoint)

    @submit_route
    async def submit(
        request: Request,
        response: Response,
        *,
        idempotency_key: Annotated[
            str,
            Header(
                min_length=1,
                max_length=MAX_IDEMPOTENCY_KEY,
                pattern=IDEMPOTENCY_KEY_PATTERN,
                description="a retry with the same key and request returns the same job",
            ),
        ],
        format: Annotated[
            Literal["pymfm", "osed", "fleet"] | None,
            Query(description="the body's format (default: recognised from its keys)"),
        ] = None,
        native: Annotated[bool, Query(description="pymfm inputs: drop pymfm's rules")] = False,
        time_limit_s: float | None = None,
        principal: Principal = who,
    ) -> Any:
        permit(principal, Role.OPERATOR, to="submit optimisations")
        document = await read_document(request, max_request_bytes)
        if isinstance(document, JSONResponse):
            return document
        checked = await asyncio.to_thread(
            checked_request,
            document,
            format=format,
            native=native,
            time_limit_s=time_limit_s,
            max_time_limit_s=max_time_limit_s,
        )
        now = clock.now()
        deadline = None if queue_timeout is None else now + queue_timeout
        job = store().submit(
            KIND,
            checked.encode(),
            idempotency_key=idempotency_key,
            submitted_at=now,
            deadline=deadline,
        )
        response.headers["Location"] = f"{base}{PREFIX}/{job.job_id}"
        return job_document(job, base)

    @router.get(PREFIX, responses=responses({200: "jobs, newest first"}))
    async def listing(
        status: JobStatus | None = None,
        before: Annotated[
            int | None, Query(ge=1, le=MAX_JOB_ID, description="jobs older than this id")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
        cursor: Annotated[
            str | None,
            Query(max_length=512, description="next_cursor of the page before (not with before)"),
        ] = None,
        principal: Principal = who,
    ) -> dict[str, Any]:
        permit(principal, *READERS, to="read optimisations")
        listed = f"optimizations:{status.value if status else ''}"
        if cursor is not None:
            if before is not None:
                raise ValidationError(
                    [Problem("$query.before", "exclusive", "give either before or cursor")],
                    subject="request",
                )
            before = int(decode_cursor(cursor, listed, int))
        jobs = store().jobs(kind=KIND, status=status, before=before, limit=limit)
        following = jobs[-1].job_id if len(jobs) == limit else None
        return {
            "items": [job_document(j, base) for j in jobs],
            "next_before": following,
            "next_cursor": None if following is None else encode_cursor(listed, following),
        }

    @router.get(PREFIX + "/{job_id}", responses=responses({200: "the job"}, 404))
    async def status(job_id: JobId, principal: Principal = who) -> dict[str, Any]:
        permit(principal, *READERS, to="read optimisations")
        return job_document(store().get(job_id), base)

    @router.get(
        PREFIX + "/{job_id}/result",
        responses=responses({200: "the result document", 409: "no result (yet)"}, 404),
    )
    async def result(job_id: JobId, principal: Principal = who) -> Response:
        permit(principal, *READERS, to="read optimisations")
        job = store().get(job_id)
        if job.status is not JobStatus.SUCCEEDED or job.result is None:
            message = f"job {job.job_id} is {job.status.value}: it has no result"
            return JSONResponse(
                {"error": "no_result", "message": message, **job_document(job, base)},
                status_code=409,
            )
        return Response(job.result, media_type="application/json")

    @router.post(PREFIX + "/{job_id}/cancel", responses=responses({200: "the job"}, 404))
    async def cancel(job_id: JobId, principal: Principal = who) -> dict[str, Any]:
        permit(principal, Role.OPERATOR, to="cancel optimisations")
        return job_document(store().cancel(job_id, now=clock.now()), base)

    return router
