"""Errors as ``application/problem+json`` (RFC 9457): ``type``, ``title``, ``status``,
``detail``, ``instance`` and, for a rejected request, ``errors``: every problem with its JSON
path (``$.tender.price``, ``$query.limit``, ``$header.Idempotency-Key``) and code.

Every error status the API gives goes through here: OSED's own errors, FastAPI's 422s,
Starlette's 404s and 405s, and (through :class:`ProblemBodies`) the JSON error bodies the
joined routers answer with directly, whose fields become extension members.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from osed.domain.errors import (
    AuthenticationError,
    ConflictError,
    IntegrityError,
    NotFoundError,
    OsedError,
    PermissionDeniedError,
    Problem,
    UnavailableError,
    ValidationError,
)

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:osed:problem:"
"""A problem's ``type`` is ``urn:osed:problem:<code>`` (docs/api.md lists the codes), or
``about:blank`` when the HTTP status says it all."""
REALM = "osed"

log = logging.getLogger("osed.api")


_STANDARD = frozenset({"type", "title", "status", "detail", "instance", "errors"})


class ProblemResponse(JSONResponse):
    media_type = MEDIA_TYPE


def problem(
    status: int,
    code: str | None = None,
    *,
    detail: str | None = None,
    instance: str | None = None,
    errors: Iterable[Problem] = (),
    headers: Mapping[str, str] | None = None,
    title: str | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> ProblemResponse:
    """The problem response of ``status``; ``code`` names its type (none: ``about:blank``).
    An extension member named as one of RFC 9457's is left out."""
    document: dict[str, Any] = {
        "type": TYPE_PREFIX + code if code else "about:blank",
        "title": title or _phrase(status),
        "status": status,
    }
    if detail:
        document["detail"] = detail
    if instance:
        document["instance"] = instance
    listed = [{"path": p.path, "code": p.code, "detail": p.message} for p in errors]
    if listed:
        document["errors"] = listed
    for name, value in (extensions or {}).items():
        if name not in _STANDARD:
            document[name] = value
    return ProblemResponse(document, status_code=status, headers=dict(headers or {}))


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def bearer_challenge(error: str | None = None, description: str | None = None) -> str:
    """The ``WWW-Authenticate`` value of RFC 6750: no error code when no token came."""
    parts = [f'realm="{REALM}"']
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append('error_description="{}"'.format(description.replace('"', "'")))
    return "Bearer " + ", ".join(parts)


class BearerError(AuthenticationError):
    """A refused request's bearer credentials: no token (``code`` None), a malformed header
    (``invalid_request``, 400) or a token the validator refused (``invalid_token``, 401)."""

    def __init__(self, message: str, code: str | None) -> None:
        super().__init__(message)
        self.code = code


def refused_credentials(exc: AuthenticationError, instance: str) -> ProblemResponse:
    """RFC 6750's answer: 401 with a challenge, 400 for a malformed header."""
    code = exc.code if isinstance(exc, BearerError) else "invalid_token"
    status = 400 if code == "invalid_request" else 401
    return problem(
        status,
        code or "unauthenticated",
        detail=str(exc),
        instance=instance,
        headers={"WWW-Authenticate": bearer_challenge(code, str(exc) if code else None)},
    )


def unavailable_problem(exc: UnavailableError, instance: str) -> ProblemResponse:
    """503: a part (a broker, a database, the issuer's keys) cannot be reached now."""
    return problem(
        503, "unavailable", detail=str(exc), instance=instance, headers={"Retry-After": "5"}
    )


def request_problems(exc: RequestValidationError) -> list[Problem]:
    """FastAPI's parameter and body errors as problems with JSON paths: ``$.tender.price``
    in the body, ``$query.limit``, ``$path.edc_id``, ``$header.Idempotency-Key``."""
    problems = []
    for item in exc.errors():
        where, *rest = list(item.get("loc", ())) or ["body"]
        tail = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rest)
        if where == "header":
            tail = "." + "-".join(part.capitalize() for part in tail[1:].split("-"))
        path = f"${tail}" if where == "body" else f"${where}{tail}"
        code, message = str(item.get("type", "invalid")), str(item.get("msg", ""))
        if code == "json_invalid":  # the location is a character offset, not a JSON path
            path, message = "$", f"{message} at character {rest[0] if rest else 0}"
        problems.append(Problem(path, code, message))
    return problems or [Problem("$", "invalid", "bad request")]


def install_handlers(app: FastAPI) -> None:
    """Every error the app raises, answered as a problem."""

    def at(request: Request) -> str:
        return request.url.path

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> ProblemResponse:
        return problem(
            422,
            "validation",
            detail="the request was rejected: every problem is listed under errors",
            instance=at(request),
            errors=request_problems(exc),
        )

    @app.exception_handler(ValidationError)
    async def invalid(request: Request, exc: ValidationError) -> ProblemResponse:
        return problem(
            422,
            "validation",
            detail=f"{exc.subject} rejected: every problem is listed under errors",
            instance=at(request),
            errors=exc.problems,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> ProblemResponse:
        if exc.status_code == 400:  # a body that is not JSON (not UTF-8, malformed, too deep)
            found = Problem("$", "bad_json", f"the body is not JSON text: {exc.detail}")
            return problem(422, "validation", instance=at(request), errors=[found])
        detail = None if exc.detail == _phrase(exc.status_code) else str(exc.detail)
        return problem(exc.status_code, detail=detail, instance=at(request), headers=exc.headers)

    @app.exception_handler(NotFoundError)
    async def missing(request: Request, exc: NotFoundError) -> ProblemResponse:
        return problem(404, "not_found", detail=str(exc), instance=at(request))

    @app.exception_handler(ConflictError)
    async def conflict(request: Request, exc: ConflictError) -> ProblemResponse:
        return problem(409, "conflict", detail=str(exc), instance=at(request))

    @app.exception_handler(AuthenticationError)
    async def unauthenticated(request: Request, exc: AuthenticationError) -> ProblemResponse:
        return refused_credentials(exc, at(request))

    @app.exception_handler(PermissionDeniedError)
    async def forbidden(request: Request, exc: PermissionDeniedError) -> ProblemResponse:
        return problem(403, "forbidden", detail=str(exc), instance=at(request))

    @app.exception_handler(UnavailableError)
    async def unavailable(request: Request, exc: UnavailableError) -> ProblemResponse:
        return unavailable_problem(exc, at(request))

    @app.exception_handler(IntegrityError)
    async def damaged(request: Request, exc: IntegrityError) -> ProblemResponse:
        log.error("stored data failed verification at %s: %s", at(request), exc)
        return problem(500, "integrity", detail=str(exc), instance=at(request))

    @app.exception_handler(OsedError)
    async def refused(request: Request, exc: OsedError) -> ProblemResponse:
        log.error("%s at %s: %s", type(exc).__name__, at(request), exc)
        return problem(500, "internal", detail=str(exc), instance=at(request))

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> ProblemResponse:
        log.exception("unexpected error at %s", at(request))
        return problem(500, "internal", detail="an unexpected error", instance=at(request))


class ProblemBodies:
    """An error answered with a plain JSON body (``{"error", "message", …}``, as the joined
    routers answer 409, 413 and 415 themselves) goes out as a problem: ``error`` becomes the
    type, ``message`` the detail, OSED problems the ``errors``, the rest extension members.
    Plain ASGI: only error responses are held back, and only until their body is read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def relay(message: Message) -> None:
            if message["type"] == "http.response.start" and _plain_error(message):
                held.append(message)
                return
            if held:
                held.append(message)
                if not message.get("more_body", False):
                    await _send_as_problem(scope, held, send)
                return
            await send(message)

        await self.app(scope, receive, relay)


def _plain_error(start: Message) -> bool:
    if int(start["status"]) < 400:
        return False
    for name, value in start.get("headers", []):
        if name.lower() == b"content-type":
            return bool(value.split(b";")[0].strip().lower() == b"application/json")
    return False


async def _send_as_problem(scope: Scope, held: list[Message], send: Send) -> None:
    start, *parts = held
    body = b"".join(part.get("body", b"") for part in parts)
    try:
        document = json.loads(body)
    except ValueError:
        document = {}
    if not isinstance(document, dict):
        document = {"detail": document}
    status = int(start["status"])
    code = str(document.pop("error", "") or "") or None
    detail = document.pop("message", None)
    errors = [
        Problem(str(p.get("path", "$")), str(p.get("code", "")), str(p.get("message", "")))
        for p in document.pop("problems", None) or []
        if isinstance(p, dict)
    ]
    document.pop("subject", None)
    keep = {
        name: value
        for name, value in start.get("headers", [])
        if name.lower() not in (b"content-type", b"content-length")
    }
    answer = problem(
        status,
        code,
        detail=None if detail is None else str(detail),
        instance=str(scope.get("path", "")),
        errors=errors,
        extensions=document,
    )
    headers = [*keep.items(), *answer.raw_headers]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})
