"""The idempotency-key port: what an API answered to a request carrying an ``Idempotency-Key``
header, kept per caller for a while, so a retry gets the same answer and nothing is done twice.

A key is claimed before the request runs (a concurrent retry sees it is under way), then
completed with the response, or released when the request failed on the server's side (a 5xx:
the retry runs again). A claim nobody completes (the process died) lapses after its lease.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

MAX_KEY = 200
"""Longest key taken: a key travels in an HTTP header."""


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True, slots=True)
class Claimed:
    """What a key already holds: the request it was first used for (``fingerprint``) and,
    once that request finished, its response (``None``: still under way)."""

    fingerprint: bytes
    response: StoredResponse | None


class IdempotencyStore(Protocol):
    def claim(
        self, owner: str, key: str, fingerprint: bytes, *, now: datetime, lease: timedelta
    ) -> Claimed | None:
        """Reserve ``key`` of ``owner`` for the request ``fingerprint`` until ``now + lease``
        and return None; if the key is held (by a completed request, or a claim whose lease
        has not lapsed), reserve nothing and return what it holds. Atomic across processes."""
        ...

    def complete(
        self, owner: str, key: str, response: StoredResponse, *, now: datetime, ttl: timedelta
    ) -> None:
        """Keep ``response`` as the answer to the claimed key until ``now + ttl``."""
        ...

    def release(self, owner: str, key: str) -> None:
        """Give a claimed key up without an answer: the next request with it runs afresh."""
        ...

    def close(self) -> None: ...
