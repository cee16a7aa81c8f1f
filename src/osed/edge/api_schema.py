"""What the EDC API's OpenAPI document says of its answers: every error body, and 422 with
every problem and its path."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


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
    """An error: its code and a message."""

    error: str
    message: str


_ERRORS: dict[int, str] = {404: "no such EDC or function", 413: "the body is too large"}


def responses(described: dict[int, str], *errors: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of an operation: its answers, the errors it may give, 413 and 422."""
    answers: dict[int | str, dict[str, Any]] = {
        code: {"description": text} for code, text in described.items()
    }
    for code in (*errors, 413):
        answers[code] = {"description": _ERRORS[code], "model": ErrorBody}
    for code in described:
        if code >= 400:
            answers[code]["model"] = ErrorBody
    answers[422] = {"description": "the request, rejected: every problem", "model": Problems}
    return answers
