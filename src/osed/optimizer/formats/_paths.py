"""pydantic's validation errors as OSED problems with the paths of the user's document.

pydantic's locations also name the members of a union (``list[nullable[constrained-float]]``)
and the validators it ran; a user never wrote those. A location is therefore walked through
the document itself, and only the keys and indices found there are kept. The errors of a
union's members are reduced to the one that fits the value given (a list's element error
for a list, the number's bound for a number), or to one message listing the accepted forms.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import pydantic

from osed.domain.errors import Problem, ValidationError

Model = TypeVar("Model", bound=pydantic.BaseModel)

# Magnitudes beyond a terawatt (kW, kWh, money per kWh) describe no distribution grid; bounding
# them keeps the solver's numbers meaningful instead of ending in an unexplained failure.
MAGNITUDE_LIMIT = 1e9


def json_path(location: Sequence[int | str]) -> str:
    path = "$"
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _in_document(
    location: Sequence[int | str], document: object, *, missing: bool
) -> tuple[list[int | str], int | None]:
    """The parts of ``location`` that are keys or indices of ``document``, and the position of
    the first other part: the rest are names pydantic gives to union members and validators.
    A missing field is named although absent."""
    kept: list[int | str] = []
    first_dropped: int | None = None
    node: Any = document
    last = len(location) - 1
    for n, part in enumerate(location):
        if _has(node, part):
            node = node[part]
        elif missing and n == last and isinstance(node, Mapping) and isinstance(part, str):
            pass
        else:
            first_dropped = n if first_dropped is None else first_dropped
            continue
        kept.append(part)
    return kept, first_dropped


def _has(node: object, part: int | str) -> bool:
    if isinstance(node, Mapping):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _is_type_mismatch(code: str) -> bool:
    """A member's "not my kind of value" (list_type, float_type, …): uninformative when another
    member of the same union says what is wrong with the value."""
    return code.endswith("_type") or code == "union_tag_invalid"


def problems_of(error: pydantic.ValidationError, document: object) -> list[Problem]:
    problems: list[Problem] = []
    unions: dict[str, list[tuple[str, str, str]]] = {}  # union path → (path, code, message)
    for item in error.errors(include_url=False):
        location = list(item["loc"])
        code = str(item["type"])
        kept, first_tag = _in_document(location, document, missing=code == "missing")
        path = json_path(kept)
        message = str(item["msg"])
        if first_tag is None:
            problems.append(Problem(path, code, message))
        else:
            unions.setdefault(json_path(location[:first_tag]), []).append((path, code, message))
    for union_path, members in unions.items():
        informative = [m for m in members if not _is_type_mismatch(m[1])]
        if informative:
            problems.extend(Problem(*m) for m in dict.fromkeys(informative))
            continue
        forms = " or ".join(dict.fromkeys(m[2].removeprefix("Input should be ") for m in members))
        problems.append(Problem(union_path, "wrong_type", f"expected {forms}"))
    return problems


def validated(
    model: type[Model],
    document: object,
    more_problems: Callable[[Model], list[Problem]],
    *,
    subject: str,
    independent: Callable[[object], list[Problem]] = lambda document: [],
    engine_problems: Callable[[Model], list[Problem]] = lambda data: [],
) -> Model:
    """``document`` as ``model``, after its field checks and then ``more_problems`` (checks
    across fields); :class:`ValidationError` names every problem with its path.

    ``independent`` checks parts of the raw document that are valid on their own (a battery's
    SoC window), so that they are reported beside the field errors of other parts;
    ``engine_problems`` (the engine's own checks, at the document's paths) runs once the
    document's shape is right."""
    try:
        data = model.model_validate(document)
    except pydantic.ValidationError as exc:
        problems = problems_of(exc, document) + independent(document)
        raise ValidationError(problems, subject=subject) from None
    problems = more_problems(data)
    if not problems:
        problems = engine_problems(data)
    problems = independent(document) + problems
    if problems:
        unique = {(p.path, p.code): p for p in reversed(problems)}  # the first of each kept
        raise ValidationError(reversed(unique.values()), subject=subject)
    return data


def valid_parts(
    model: type[Model],
    parts: Sequence[tuple[str, object]],
    check: Callable[[Model, str], list[Problem]],
) -> list[Problem]:
    """``check`` of each (path, raw value) in ``parts`` that is a valid ``model`` on its own."""
    problems: list[Problem] = []
    for path, raw in parts:
        try:
            part = model.model_validate(raw)
        except pydantic.ValidationError:
            continue  # its field errors are reported with the document's
        problems.extend(check(part, path))
    return problems
