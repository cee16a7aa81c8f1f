"""pydantic's validation errors as OSED problems with JSON paths."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import pydantic

from osed.domain.errors import Problem, ValidationError

Model = TypeVar("Model", bound=pydantic.BaseModel)


def json_path(location: Sequence[int | str]) -> str:
    path = "$"
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def problems_of(error: pydantic.ValidationError) -> list[Problem]:
    problems = []
    for item in error.errors(include_url=False):
        # Union members repeat the location with the member's name: keep the useful part.
        location = [part for part in item["loc"] if part not in ("list[...]",)]
        problems.append(Problem(json_path(location), str(item["type"]), str(item["msg"])))
    return problems


def validated(
    model: type[Model],
    document: object,
    more_problems: Callable[[Model], list[Problem]],
    *,
    subject: str,
) -> Model:
    """``document`` as ``model``, after its field checks and then ``more_problems`` (checks
    across fields); :class:`ValidationError` names every problem with its path."""
    try:
        data = model.model_validate(document)
    except pydantic.ValidationError as exc:
        raise ValidationError(problems_of(exc), subject=subject) from None
    problems = more_problems(data)
    if problems:
        raise ValidationError(problems, subject=subject)
    return data
