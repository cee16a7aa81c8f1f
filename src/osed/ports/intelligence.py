"""The grid intelligence's decision log: every decision it takes (create, keep, destroy,
ignore), with its reason, kept in the order taken."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class DecisionStore(Protocol):
    def append(self, at: datetime, area: str, action: str, document: bytes) -> int:
        """Keep one decision (``document``: its UTF-8 JSON); returns its number, from 1."""
        ...

    def recent(self, limit: int = 100) -> list[tuple[int, bytes]]:
        """The last ``limit`` decisions, oldest first, with their numbers."""
        ...

    def close(self) -> None: ...
