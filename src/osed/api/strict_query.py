"""Query parameters an operation does not take are refused (422 naming each at
``$query.<name>``), as unknown keys of a body are: a misspelt filter never goes unnoticed."""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from osed.domain.errors import Problem, ValidationError

_TAKEN: dict[int, frozenset[str]] = {}


def _taken(route: APIRoute) -> frozenset[str]:
    known = _TAKEN.get(id(route))
    if known is None:
        known = _TAKEN[id(route)] = frozenset(_names(route.dependant))
    return known


def _names(dependant: Dependant) -> list[str]:
    names = [field.alias for field in dependant.query_params]
    for inner in dependant.dependencies:
        names += _names(inner)
    return names


async def strict_query(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    taken = _taken(route)
    unknown = sorted({name for name in request.query_params if name not in taken})
    if unknown:
        names = ", ".join(sorted(taken)) or "none"
        raise ValidationError(
            [
                Problem(f"$query.{name}", "unexpected_parameter", f"not taken here ({names} are)")
                for name in unknown
            ],
            subject="request",
        )
