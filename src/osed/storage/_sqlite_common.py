"""What every SQLite store shares: its error translation and its instant encoding."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from osed.domain.errors import ConflictError, IntegrityError, Problem, ValidationError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(instant: datetime) -> int:
    """Microseconds since the Unix epoch: instants stored as integers sort and compare exactly."""
    return (instant - _EPOCH) // _MICROSECOND


def instant_of(us: int) -> datetime:
    """The UTC instant ``us`` microseconds after the Unix epoch (inverse of :func:`micros`)."""
    return _EPOCH + us * _MICROSECOND


@contextmanager
def translated(subject: str) -> Iterator[None]:
    """SQLite's errors, said in OSED's terms; ``subject`` names the store ("ledger", …)."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        if "UNIQUE" in str(exc):
            raise ConflictError(f"{subject} write conflicts with recorded state: {exc}") from exc
        raise ValidationError(
            [Problem("$", "rejected_by_store", str(exc))], subject=f"{subject} write"
        ) from exc
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise ConflictError(f"{subject} is busy with another writer: {exc}") from exc
        raise IntegrityError(f"{subject} storage failed: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        raise IntegrityError(f"{subject} storage failed: {exc}") from exc
