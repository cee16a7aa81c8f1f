"""pydantic's validation errors as OSED problems with JSON paths."""

from __future__ import annotations

from collections.abc import Sequence

import pydantic

from osed.domain.errors import Problem


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
