"""A balancing request as a job: checked before it is queued, stored as canonical JSON.

The payload holds the document and the options; the same request always encodes to the same
bytes, so a retry under the same idempotency key finds its job, and another request under a
used key is a conflict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from osed.domain.errors import Problem, ValidationError
from osed.optimizer.documents import DEFAULT_TIME_LIMIT_S, Format, detect_format, solve_document
from osed.optimizer.formats import fleet, pymfm
from osed.optimizer.formats import native as osed_format

KIND = "balancer"


@dataclass(frozen=True, slots=True)
class BalancingRequest:
    document: dict[str, Any]
    format: Format
    native: bool
    time_limit_s: float

    def encode(self) -> bytes:
        body = {
            "document": self.document,
            "format": self.format.value,
            "native": self.native,
            "time_limit_s": self.time_limit_s,
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, payload: bytes) -> BalancingRequest:
        body = json.loads(payload)
        return cls(body["document"], Format(body["format"]), body["native"], body["time_limit_s"])

    def solve(self) -> dict[str, Any]:
        """The result document; the time budget counts from now."""
        return solve_document(
            self.document, format=self.format, native=self.native, time_limit_s=self.time_limit_s
        )


def payload_time_limit(payload: bytes) -> float:
    """The time budget of an encoded request."""
    return float(BalancingRequest.decode(payload).time_limit_s)


def checked_request(
    document: object,
    *,
    format: str | None = None,
    native: bool = False,
    time_limit_s: float | None = None,
    max_time_limit_s: float = 600.0,
) -> BalancingRequest:
    """The request, checked as the solver will read it; :class:`ValidationError` names every
    problem with its path and nothing is queued."""
    problems: list[Problem] = []
    chosen: Format | None = None
    if format is not None:
        try:
            chosen = Format(format)
        except ValueError:
            problems.append(Problem("$query.format", "unknown", "format is pymfm, osed or fleet"))
    if time_limit_s is not None and not 0 < time_limit_s <= max_time_limit_s:
        problems.append(
            Problem("$query.time_limit_s", "out_of_range", f"must be in (0, {max_time_limit_s}]")
        )
    if not isinstance(document, dict):
        problems.append(Problem("$", "not_object", "the request must be a JSON object"))
    if problems:
        raise ValidationError(problems, subject="balancing request")
    assert isinstance(document, dict)
    chosen = chosen or detect_format(document)
    if chosen is Format.PYMFM:
        pymfm.parse(document)
        limit = time_limit_s or DEFAULT_TIME_LIMIT_S
    elif chosen is Format.FLEET:
        fleet_document = fleet.parse(document)
        limit = time_limit_s or min(fleet_document.time_limit_s, max_time_limit_s)
    else:
        parsed = osed_format.parse(document)
        limit = time_limit_s or min(parsed.time_limit_s, max_time_limit_s)
    return BalancingRequest(document, chosen, native, limit)
