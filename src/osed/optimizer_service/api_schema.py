"""What the balancer API's OpenAPI document says: the request bodies (with every model they
refer to under ``components/schemas``), every answer of every operation, and the bounds of
ids and keys, so that a request valid by the schema is one the API takes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from osed.optimizer.formats.fleet import FleetDocument
from osed.optimizer.formats.native import BalancingDocument
from osed.optimizer.formats.pymfm import PymfmInput

MAX_JOB_ID = 2**63 - 1
"""Job ids are 64-bit signed integers in every job store."""
MAX_IDEMPOTENCY_KEY = 200
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]+$"
"""Printable ASCII without spaces: a key travels in an HTTP header."""

_COMPONENT = "#/components/schemas/{model}"


class ProblemItem(BaseModel):
    path: str
    code: str
    message: str


class Problems(BaseModel):
    """422: every problem of the request, each with its path."""

    error: str
    subject: str
    problems: list[ProblemItem]


class ErrorBody(BaseModel):
    """An error: its code and, mostly, a message or the job it concerns."""

    error: str


_ERRORS: dict[int, str] = {
    404: "no such job",
    409: "conflict",
    413: "the body is larger than the limit",
    415: "the body is not application/json",
}


def body_schemas() -> tuple[list[dict[str, str]], dict[str, Any]]:
    """The three request formats as references, and the schemas they refer to."""
    members: list[dict[str, str]] = []
    definitions: dict[str, Any] = {}
    for model in (BalancingDocument, PymfmInput, FleetDocument):
        schema = model.model_json_schema(ref_template=_COMPONENT)
        definitions.update(schema.pop("$defs", {}))
        definitions[model.__name__] = schema
        members.append({"$ref": _COMPONENT.format(model=model.__name__)})
    return members, definitions


def responses(described: dict[int, str], *errors: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of an operation: its answers, the errors it may give, and 422."""
    answers: dict[int | str, dict[str, Any]] = {
        code: {"description": text} for code, text in described.items()
    }
    for code in errors:
        answers[code] = {"description": _ERRORS[code], "model": ErrorBody}
    for code in described:
        if code >= 400:
            answers[code]["model"] = ErrorBody
    answers[422] = {"description": "the request, rejected: every problem", "model": Problems}
    return answers
