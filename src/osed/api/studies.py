"""Scenario runs: a study submitted as a scenario document, played by the runtime's worker
processes, read back as status, KPIs, the HTML report and the tables as Parquet or CSV.

    POST   /studies                      queue a run (operator; Idempotency-Key) → 202
    GET    /studies                      runs, newest first (limit, cursor, status)
    GET    /studies/{id}                 status, progress while it runs, KPIs once done
    DELETE /studies/{id}                 cancel (operator): queued at once, running stopped
    GET    /studies/{id}/report          the report (text/html)
    GET    /studies/{id}/data/{table}    a table (format=parquet|csv, or Accept)

The API sees the runs through the :class:`~osed.ports.studies.StudyRuns` port only: which
simulator plays them, and where, is the runtime's business.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from fastapi.responses import FileResponse
from starlette.exceptions import HTTPException

from osed.api.dashboard import REPORT_POLICY
from osed.api.idempotency import IdempotencyKey, owner_of, shape_problems
from osed.api.listing import CursorQuery, LimitQuery, page_document
from osed.api.problems import problem
from osed.api.series_formats import accepted_media
from osed.codec.cursor import decode_cursor, encode_cursor
from osed.domain.access import READERS, permit
from osed.domain.errors import Problem, ValidationError
from osed.domain.identity import Principal, Role
from osed.domain.time import Clock
from osed.ports.jobs import JobStatus
from osed.ports.studies import (
    NoResultError,
    StudyPlan,
    StudyRequest,
    StudyRun,
    StudyRuns,
    TableFormat,
)

PREFIX = "/studies"
MAX_ID = 2**63 - 1
MAX_SEED = 2**63 - 1
MEDIA_TYPES: dict[TableFormat, str] = {
    "parquet": "application/vnd.apache.parquet",
    "csv": "text/csv",
}
StudyId = Annotated[int, Path(ge=1, le=MAX_ID, description="a study's id")]
TableName = Annotated[
    str, Path(pattern=r"^[a-z][a-z_]{0,63}$", description="a table: grid, buses, lines, …")
]
Caller = Callable[..., Awaitable[Principal]]
Described = Callable[..., dict[int | str, dict[str, Any]]]
_KEYS = ("scenario", "bundled", "seed")


def _body(bundled: tuple[str, ...]) -> dict[str, Any]:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "scenario": {
                "description": "the scenario document (docs/simulation.md): YAML or JSON "
                "text, or the object",
                "anyOf": [{"type": "string", "minLength": 1}, {"type": "object"}],
            },
            "bundled": {
                "type": "string",
                "enum": list(bundled),
                "description": "a scenario shipped with OSED, instead of scenario",
            },
            "seed": {
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_SEED,
                "description": "replaces the scenario's seed",
            },
        },
    }
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def study_document(run: StudyRun, base: str) -> dict[str, Any]:
    here = f"{base}{PREFIX}/{run.study_id}"
    progress = None
    if run.progress is not None:
        total = run.progress.steps
        progress = {
            "steps_done": run.progress.steps_done,
            "steps": total,
            "share": run.progress.steps_done / total if total else None,
        }
    document: dict[str, Any] = {
        "id": run.study_id,
        "status": run.status.value,
        "scenario": run.scenario,
        "seed": run.seed,
        "households": run.households,
        "steps": run.steps,
        "submitted_at": run.submitted_at.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "cancel_requested": run.cancel_requested,
        "progress": progress,
        "kpis": None if run.kpis is None else dict(run.kpis),
        "links": {
            "self": here,
            "report": f"{here}/report",
            "data": {name: f"{here}/data/{name}" for name in run.tables},
        },
    }
    if run.error is not None:
        document["error"] = run.error
    return document


def _request(body: Mapping[str, Any], key: str | None) -> tuple[StudyRequest, list[Problem]]:
    """The request in a body, and what is wrong with its shape (the scenario itself is the
    port's to check)."""
    problems = shape_problems(body, _KEYS, key)
    scenario, bundled, seed = body.get("scenario"), body.get("bundled"), body.get("seed")
    if scenario is not None and not isinstance(scenario, str | dict):
        problems.append(Problem("$.scenario", "wrong_type", "YAML or JSON text, or an object"))
        scenario = None
    if bundled is not None and not isinstance(bundled, str):
        problems.append(Problem("$.bundled", "wrong_type", "a bundled scenario's name"))
        bundled = None
    if seed is not None and (type(seed) is not int or not 0 <= seed <= MAX_SEED):
        problems.append(Problem("$.seed", "out_of_range", f"an integer from 0 to {MAX_SEED}"))
        seed = None
    return StudyRequest(scenario=scenario, bundled=bundled, seed=seed), problems


def _plan(studies: StudyRuns, request: StudyRequest, problems: list[Problem]) -> StudyPlan:
    """The port's plan, every problem of the body and of the scenario reported together."""
    plan = None
    try:
        plan = studies.check(request)
    except ValidationError as exc:
        problems = [*problems, *exc.problems]
    if problems:
        raise ValidationError(problems, subject="study")
    assert plan is not None
    return plan


def _table_format(asked: TableFormat | None, accept: str | None) -> TableFormat:
    if asked is not None:
        return asked
    if not accept:
        return "parquet"
    for media in accepted_media(accept):
        for name, offered in MEDIA_TYPES.items():
            if media == offered:
                return name
        if media in ("*/*", "application/*"):
            return "parquet"
        if media == "text/*":
            return "csv"
    raise HTTPException(406, f"can give {', '.join(MEDIA_TYPES.values())}, not {accept}")


def create_router(
    studies: Callable[[], StudyRuns],
    *,
    bundled: tuple[str, ...],
    clock: Clock,
    caller: Caller,
    described: Described,
    base: str,
) -> APIRouter:
    """The scenario runs over the port ``studies()`` returns (opened in the server's event
    loop); ``base``: where the router is mounted (for links)."""
    router = APIRouter(tags=["studies"])
    who = Depends(caller)

    @router.post(
        PREFIX,
        status_code=202,
        openapi_extra=_body(bundled),
        responses=described(
            {202: "queued (or the run of this key)", 409: "the key was used for another plan"}
        ),
    )
    async def submit(
        request: Request,
        response: Response,
        body: Annotated[dict[str, Any], Body()],
        idempotency_key: IdempotencyKey = None,
        principal: Principal = who,
    ) -> dict[str, Any]:
        permit(principal, Role.OPERATOR, to="submit studies")
        asked, problems = _request(body, idempotency_key)
        runs = studies()
        plan = await asyncio.to_thread(_plan, runs, asked, problems)
        assert idempotency_key is not None
        key = hashlib.sha256(f"{owner_of(principal)}\x1f{idempotency_key}".encode()).hexdigest()
        run = runs.submit(plan, idempotency_key=f"study-{key[:40]}", now=clock.now())
        response.headers["Location"] = f"{base}{PREFIX}/{run.study_id}"
        return study_document(run, base)

    @router.get(PREFIX, responses=described({200: "runs, newest first"}))
    async def listing(
        request: Request,
        status: Annotated[JobStatus | None, Query(description="only runs in this state")] = None,
        limit: LimitQuery = 100,
        cursor: CursorQuery = None,
        principal: Principal = who,
    ) -> dict[str, Any]:
        permit(principal, *READERS, to="read studies")
        listed = f"studies:{status.value if status else ''}"
        before = None if cursor is None else int(decode_cursor(cursor, listed, int))
        runs = studies().runs(status=status, before=before, limit=limit)
        following = runs[-1].study_id if len(runs) == limit else None
        filters = {} if status is None else {"status": status.value}
        return page_document(
            [study_document(run, base) for run in runs],
            None if following is None else encode_cursor(listed, following),
            request.url.path,
            limit,
            filters,
        )

    @router.get(PREFIX + "/{study_id}", responses=described({200: "the run"}, 404))
    async def status(study_id: StudyId, principal: Principal = who) -> dict[str, Any]:
        permit(principal, *READERS, to="read studies")
        return study_document(studies().get(study_id), base)

    @router.delete(PREFIX + "/{study_id}", responses=described({200: "the run"}, 404))
    async def cancel(study_id: StudyId, principal: Principal = who) -> dict[str, Any]:
        permit(principal, Role.OPERATOR, to="cancel studies")
        return study_document(studies().cancel(study_id, now=clock.now()), base)

    @router.get(
        PREFIX + "/{study_id}/report",
        response_class=FileResponse,
        responses=_with_content(
            described({200: "the report", 409: "the run has no outputs (yet)"}, 404),
            ["text/html"],
        ),
    )
    async def report(request: Request, study_id: StudyId, principal: Principal = who) -> Any:
        permit(principal, *READERS, to="read studies")
        try:
            path = studies().report(study_id)
        except NoResultError as exc:
            return _no_result(exc, request, base)
        return FileResponse(
            path,
            media_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": REPORT_POLICY, "X-Content-Type-Options": "nosniff"},
        )

    @router.get(
        PREFIX + "/{study_id}/data/{table}",
        response_class=FileResponse,
        responses=_with_content(
            described(
                {
                    200: "the table: both runs' rows, the baseline's first",
                    406: "a format it cannot give",
                    409: "the run has no outputs (yet)",
                },
                404,
            ),
            list(MEDIA_TYPES.values()),
        ),
    )
    async def data(
        request: Request,
        study_id: StudyId,
        table: TableName,
        format: Annotated[
            TableFormat | None, Query(description="default: from the Accept header, else parquet")
        ] = None,
        principal: Principal = who,
    ) -> Any:
        permit(principal, *READERS, to="read studies")
        chosen = _table_format(format, request.headers.get("accept"))
        try:
            path = studies().table(study_id, table, chosen)
        except NoResultError as exc:
            return _no_result(exc, request, base)
        return FileResponse(
            path,
            media_type=MEDIA_TYPES[chosen],
            filename=f"study-{study_id}-{table}.{chosen}",
        )

    return router


def _with_content(
    answers: dict[int | str, dict[str, Any]], media: list[str]
) -> dict[int | str, dict[str, Any]]:
    """The 200 answer stated with its media types (a file, not JSON)."""
    answers[200]["content"] = {
        name: {"schema": {"type": "string", "format": "binary"}} for name in media
    }
    return answers


def _no_result(exc: NoResultError, request: Request, base: str) -> Response:
    return problem(
        409,
        "no_result",
        detail=str(exc),
        instance=request.url.path,
        extensions=study_document(exc.run, base),
    )
