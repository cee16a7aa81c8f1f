"""The REST job API of the balancer (FastAPI).

    POST /optimizations                 queue a request (Idempotency-Key header) → 202 + id
    GET  /optimizations                 list, newest first (?status=&before=&limit=)
    GET  /optimizations/{id}            status
    GET  /optimizations/{id}/result     the result document once succeeded
    POST /optimizations/{id}/cancel     cancel (queued: at once; running: at the next heartbeat)

A request is checked before it is queued: a malformed one gets 422 with every problem and its
JSON path, and nothing is stored. The body is pymfm's input, OSED's balancing document
(docs/optimizer.md) or OSED's fleet document (docs/optimizer-fleet.md); the OpenAPI schema at
/openapi.json describes all three.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated, Any

from fastapi import FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse, Response

from osed.codec import json_text
from osed.domain.errors import ConflictError, NotFoundError, Problem, ValidationError
from osed.domain.time import Clock, SystemClock
from osed.optimizer.formats.fleet import FleetDocument
from osed.optimizer.formats.native import BalancingDocument
from osed.optimizer.formats.pymfm import PymfmInput
from osed.optimizer_service.requests import KIND, checked_request
from osed.ports.jobs import MAX_PAGE, Job, JobStatus, JobStore

PREFIX = "/optimizations"


def _body_schema() -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            BalancingDocument.model_json_schema(),
                            PymfmInput.model_json_schema(),
                            FleetDocument.model_json_schema(),
                        ]
                    }
                }
            },
        }
    }


def job_document(job: Job) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": job.job_id,
        "status": job.status.value,
        "submitted_at": job.submitted_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "attempts": job.attempts,
        "cancel_requested": job.cancel_requested,
        "links": {
            "self": f"{PREFIX}/{job.job_id}",
            "result": f"{PREFIX}/{job.job_id}/result",
        },
    }
    if job.error is not None:
        document["error"] = job.error
    return document


def _problems(exc: ValidationError) -> JSONResponse:
    return JSONResponse(exc.to_dict(), status_code=422)


def create_app(
    open_store: Callable[[], JobStore],
    *,
    clock: Clock | None = None,
    max_time_limit_s: float = 600.0,
    queue_timeout: timedelta | None = None,
) -> FastAPI:
    """The API over the job store ``open_store()`` opens (in the server's event loop, which
    serves every request). ``queue_timeout``: a job not started by then fails."""
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

    @app.exception_handler(ValidationError)
    async def invalid(_: Request, exc: ValidationError) -> JSONResponse:
        return _problems(exc)

    @app.exception_handler(NotFoundError)
    async def missing(_: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse({"error": "not_found", "message": str(exc)}, status_code=404)

    @app.exception_handler(ConflictError)
    async def conflict(_: Request, exc: ConflictError) -> JSONResponse:
        return JSONResponse({"error": "conflict", "message": str(exc)}, status_code=409)

    @app.post(
        PREFIX,
        status_code=202,
        openapi_extra=_body_schema(),
        responses={202: {"description": "queued (or the job of this key)"}, 422: {}, 409: {}},
    )
    async def submit(
        request: Request,
        response: Response,
        *,
        idempotency_key: Annotated[str | None, Header()] = None,
        format: Annotated[str | None, Query(description="pymfm, osed or fleet")] = None,
        native: Annotated[bool, Query(description="pymfm inputs: drop pymfm's rules")] = False,
        time_limit_s: Annotated[float | None, Query(description="solver budget")] = None,
    ) -> dict[str, Any]:
        problems: list[Problem] = []
        if not idempotency_key:
            problems.append(Problem("$header.Idempotency-Key", "missing", "required"))
        try:  # not UTF-8, not JSON, NaN, overflowing numbers, deep nesting: a 422
            document = json_text.loads(await request.body(), subject="balancing request")
        except ValidationError as exc:
            problems.extend(exc.problems)
            document = None
        if problems:
            raise ValidationError(problems, subject="balancing request")
        checked = checked_request(
            document,
            format=format,
            native=native,
            time_limit_s=time_limit_s,
            max_time_limit_s=max_time_limit_s,
        )
        now = clock.now()
        deadline = None if queue_timeout is None else now + queue_timeout
        assert idempotency_key is not None
        job = store().submit(
            KIND,
            checked.encode(),
            idempotency_key=idempotency_key,
            submitted_at=now,
            deadline=deadline,
        )
        response.headers["Location"] = f"{PREFIX}/{job.job_id}"
        return job_document(job)

    @app.get(PREFIX)
    async def listing(
        status: JobStatus | None = None,
        before: int | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    ) -> dict[str, Any]:
        jobs = store().jobs(kind=KIND, status=status, before=before, limit=limit)
        following = jobs[-1].job_id if len(jobs) == limit else None
        return {"items": [job_document(j) for j in jobs], "next_before": following}

    @app.get(PREFIX + "/{job_id}")
    async def status(job_id: int) -> dict[str, Any]:
        return job_document(store().get(job_id))

    @app.get(PREFIX + "/{job_id}/result", responses={409: {"description": "no result (yet)"}})
    async def result(job_id: int) -> Response:
        job = store().get(job_id)
        if job.status is not JobStatus.SUCCEEDED or job.result is None:
            return JSONResponse(
                {"error": "no_result", **job_document(job)},
                status_code=409,
            )
        return Response(job.result, media_type="application/json")

    @app.post(PREFIX + "/{job_id}/cancel")
    async def cancel(job_id: int) -> dict[str, Any]:
        return job_document(store().cancel(job_id, now=clock.now()))

    @app.get("/healthz")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
