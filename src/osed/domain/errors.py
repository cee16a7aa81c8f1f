"""The error tree of OSED.

::

    OsedError
    ├── ValidationError (ValueError)   bad input; carries every Problem found
    ├── NotFoundError (LookupError)    a referenced object does not exist
    ├── ConflictError                  a request contradicts recorded state
    ├── IntegrityError                 stored data fails verification
    ├── UnavailableError               a broker or database cannot be reached right now
    └── ConfigurationError             a setting or plugin cannot be used

Third-party errors are translated into this tree where they cross into OSED.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class OsedError(Exception):
    """Root of every error OSED raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input: where (a JSON path), a stable code, and a message."""

    path: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message} [{self.code}]"


class ValidationError(OsedError, ValueError):
    """Input was rejected; ``problems`` names every problem found, each with its path."""

    def __init__(self, problems: Iterable[Problem], *, subject: str = "input") -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        if not self.problems:
            raise ValueError("ValidationError needs at least one problem")
        self.subject = subject
        lines = "\n".join(f"  - {p}" for p in self.problems)
        count = len(self.problems)
        super().__init__(f"{subject} rejected, {count} problem{'s' * (count != 1)}:\n{lines}")

    def to_dict(self) -> dict[str, object]:
        return {
            "error": "validation",
            "subject": self.subject,
            "problems": [
                {"path": p.path, "code": p.code, "message": p.message} for p in self.problems
            ],
        }


class NotFoundError(OsedError, LookupError):
    """A referenced object (tender, order, party, file) does not exist."""


class ConflictError(OsedError):
    """A request contradicts recorded state, e.g. an idempotency key reused with other content."""


class IntegrityError(OsedError):
    """Stored data failed verification (a broken hash chain, a missing entry)."""


class UnavailableError(OsedError):
    """A broker or database cannot be reached now; the same call may succeed later."""


class ConfigurationError(OsedError):
    """A setting, a backend or a plugin cannot be used as configured."""


class AuthenticationError(OsedError):
    """A request carries no access token, or one that is not valid (HTTP 401)."""


class PermissionDeniedError(OsedError):
    """A valid principal asks for what its roles or its rows do not allow (HTTP 403)."""
