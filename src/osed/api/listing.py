"""The conventions of every list endpoint: ``limit`` and an opaque ``cursor`` in, ``items``,
``next_cursor`` and a ``next`` link out (docs/api.md, "Lists")."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Query

from osed.codec.cursor import DEFAULT_LIMIT, MAX_LIMIT

LimitQuery = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"at most this many items (default {DEFAULT_LIMIT})")
]
CursorQuery = Annotated[
    str | None,
    Query(max_length=1024, description="where to go on: next_cursor of the page before"),
]


def page_document(
    items: list[Any],
    next_cursor: str | None,
    path: str,
    limit: int,
    filters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``{"items", "next_cursor", "links": {"next"}}``; ``next`` repeats the page's filters."""
    following = None
    if next_cursor is not None:
        query = {**(filters or {}), "limit": str(limit), "cursor": next_cursor}
        following = f"{path}?{urlencode(query)}"
    return {"items": items, "next_cursor": next_cursor, "links": {"next": following}}
