"""Cursor pagination for list endpoints: a page of at most ``limit`` rows and an opaque cursor
that continues after its last row. Rows are walked in the order of a unique key, so a row
added or removed between pages shifts nothing: every row present throughout is seen once.

A cursor is URL-safe base64 of ``[list, key]``: it names the list (with its filters) it was
made for, so a cursor given to another list is refused with the path ``$query.cursor``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from osed.domain.errors import Problem, ValidationError

T = TypeVar("T")
Key = str | int
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
_PATH = "$query.cursor"


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(listing: str, after: Key) -> str:
    text = json.dumps([listing, after], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, listing: str, kind: type[str] | type[int]) -> Key:
    """The key after which ``cursor`` continues ``listing``; ValidationError at
    ``$query.cursor`` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        named, after = json.loads(raw.decode())
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise _bad("not a cursor this API gave") from None
    if named != listing:
        raise _bad("a cursor of another list or other filters")
    if type(after) is not kind:
        raise _bad("not a cursor this API gave")
    return after


def paginate(
    rows: Iterable[T],
    key: Callable[[T], Key],
    *,
    listing: str,
    limit: int,
    cursor: str | None,
    kind: type[str] | type[int] = str,
) -> Page[T]:
    """One page of ``rows`` (in ascending, unique ``key`` order): those after the cursor's
    key, at most ``limit``, and the cursor of the next page when there are more."""
    after = None if cursor is None else decode_cursor(cursor, listing, kind)
    items: list[T] = []
    for row in rows:
        if after is not None and not key(row) > after:  # type: ignore[operator]
            continue
        if len(items) == limit:
            return Page(items, encode_cursor(listing, key(items[-1])))
        items.append(row)
    return Page(items, None)


def _bad(message: str) -> ValidationError:
    return ValidationError([Problem(_PATH, "bad_cursor", message)], subject="request")
