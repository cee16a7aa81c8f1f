"""What the platform's OpenAPI document says of answers: every error as a problem
(``application/problem+json``), and on every operation that asks for a token the 400, 401,
403 and 503 it may give, so that a response is always one the document states."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

PROBLEM_REF = "#/components/schemas/Problem"
PROBLEM_SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details; more members may follow (extensions)",
        "required": ["type", "title", "status"],
        "properties": {
            "type": {"type": "string", "description": "urn:osed:problem:<code> or about:blank"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "errors": {
                "type": "array",
                "description": "every problem of a rejected request, with its JSON path",
                "items": {"$ref": "#/components/schemas/ProblemError"},
            },
        },
        "additionalProperties": True,
    },
    "ProblemError": {
        "type": "object",
        "required": ["path", "code", "detail"],
        "properties": {
            "path": {"type": "string", "description": "$.body.path, $query.x, $header.X"},
            "code": {"type": "string"},
            "detail": {"type": "string"},
        },
    },
}
_ERRORS = {
    400: "a malformed Authorization header (invalid_request)",
    401: "no access token, or one that is not valid (WWW-Authenticate: Bearer)",
    403: "the caller's roles or rows do not allow it",
    404: "no such resource",
    409: "a conflict with recorded state, or the same Idempotency-Key still running",
    413: "the body is larger than the limit",
    415: "the body is not application/json",
    422: "the request, rejected: every problem with its JSON path under errors",
    503: "a part cannot be reached now (a broker, a database, the issuer's keys)",
}
_PROBLEM_CONTENT = {"application/problem+json": {"schema": {"$ref": PROBLEM_REF}}}
_SECURED = (400, 401, 403, 422, 503)


def described(answers: dict[int, str], *errors: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of an operation: its answers and the errors it may give (the
    routers call this with the same arguments as their own services' helpers)."""
    out: dict[int | str, dict[str, Any]] = {
        code: {"description": text} for code, text in answers.items()
    }
    for code in (*errors, 422):
        out.setdefault(code, {"description": _ERRORS.get(code) or HTTPStatus(code).phrase})
    return out


def rewrite(schema: dict[str, Any], *, open_paths: frozenset[str]) -> dict[str, Any]:
    """Every error answer as a problem; the errors authentication adds, on every operation
    outside ``open_paths``; 413 on every operation with a body."""
    schema.setdefault("components", {}).setdefault("schemas", {}).update(PROBLEM_SCHEMAS)
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            answers: dict[str, Any] = operation["responses"]
            if path not in open_paths:
                for secured in _SECURED:
                    answers.setdefault(str(secured), {"description": _ERRORS[secured]})
            if method in ("post", "put", "patch"):
                answers.setdefault("413", {"description": _ERRORS[413]})
            for code, answer in answers.items():
                if code.isdigit() and int(code) >= 400:
                    answer.pop("model", None)
                    answer["content"] = dict(_PROBLEM_CONTENT)
    return schema
