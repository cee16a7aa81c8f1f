"""The user manager of one grid function in one EDC: who is enrolled (with a hashed token),
what may come in on the function's inbound channel, what goes out, and who still owes an
answer.

An inbound message reaches the function only when its building is enrolled here, its token
matches, its type is declared ``inbound`` by the function's manifest (or is the channel's
``report``) and it is within that type's size limit; otherwise it is rejected with every
reason that applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from osed.domain.errors import Problem
from osed.edge.tokens import TokenHash
from osed.edge.wire import REPORT, REPORT_MAX_BYTES, parse_inbound, report_problems
from osed.gridfunctions.spec import Manifest


@dataclass(frozen=True, slots=True)
class Accepted:
    building_id: str
    message_type: str
    body: Mapping[str, Any]


class UserManager:
    def __init__(self, manifest: Manifest, *, deadline: timedelta) -> None:
        self.manifest = manifest
        self.deadline = deadline
        self._tokens: dict[str, TokenHash] = {}
        self._buildings: tuple[str, ...] | None = None  # the enrolled, as sessions see them
        self._inbound = {m.name: m.max_bytes for m in manifest.messages if m.direction == "inbound"}
        self._inbound.setdefault(REPORT, REPORT_MAX_BYTES)
        self._outbound = {m.name for m in manifest.messages if m.direction == "outbound"}
        self._max_bytes = max(self._inbound.values())
        self._awaiting: dict[str, datetime] = {}  # building → when the oldest unanswered went out
        self._answered: dict[str, datetime] = {}

    # ---------------------------------------------------------------- enrolment

    @property
    def buildings(self) -> tuple[str, ...]:
        if self._buildings is None:
            self._buildings = tuple(self._tokens)
        return self._buildings

    def is_enrolled(self, building_id: str) -> bool:
        return building_id in self._tokens

    def admit(self, building_id: str, token: TokenHash) -> None:
        """``building_id`` takes part in this function, proving itself with ``token``."""
        if building_id not in self._tokens:
            self._buildings = None
        self._tokens[building_id] = token

    def withdraw(self, building_id: str) -> None:
        if self._tokens.pop(building_id, None) is not None:
            self._buildings = None
        self._awaiting.pop(building_id, None)
        self._answered.pop(building_id, None)

    # ---------------------------------------------------------------- inbound

    def check(self, payload: bytes) -> tuple[Accepted | None, list[Problem]]:
        """The message if it may reach the function, else every reason it may not."""
        if len(payload) > self._max_bytes:
            return None, [
                Problem(
                    "$",
                    "too_large",
                    f"{len(payload)} bytes; no message type of {self.manifest.name} takes"
                    f" more than {self._max_bytes}",
                )
            ]
        document, problems = parse_inbound(payload)
        if document is None:
            return None, problems
        building, token, kind = document["building"], document["token"], document["type"]
        body: dict[str, Any] = document.get("body", {})
        hashed = self._tokens.get(building)
        if hashed is None:
            problems.append(
                Problem(
                    "$.building",
                    "not_enrolled",
                    f"{building!r} is not enrolled in {self.manifest.name} on this EDC",
                )
            )
        elif not hashed.matches(token):
            problems.append(Problem("$.token", "wrong_token", f"not {building!r}'s token"))
        limit = self._inbound.get(kind)
        if limit is None:
            declared = ", ".join(sorted(self._inbound))
            problems.append(
                Problem(
                    "$.type",
                    "undeclared_type",
                    f"{kind!r} is not an inbound message of {self.manifest.name}"
                    f" (declared: {declared})",
                )
            )
        elif len(payload) > limit:
            problems.append(
                Problem("$", "too_large", f"{len(payload)} bytes; {kind} takes at most {limit}")
            )
        if kind == REPORT:
            problems.extend(report_problems(body))
        if problems:
            return None, problems
        return Accepted(building, kind, body), []

    def answered(self, building_id: str, at: datetime) -> None:
        self._awaiting.pop(building_id, None)
        self._answered[building_id] = at

    # ---------------------------------------------------------------- outbound

    def declares_outbound(self, message_type: str) -> bool:
        return message_type in self._outbound

    def requested(self, building_id: str, at: datetime) -> None:
        self._awaiting.setdefault(building_id, at)

    def responses(self, now: datetime) -> dict[str, Any]:
        """What the function learns of its requests: who owes an answer, who is overdue."""
        overdue = sorted(b for b, sent in self._awaiting.items() if now - sent > self.deadline)
        return {
            "awaiting": sorted(self._awaiting),
            "overdue": overdue,
            "answered": {b: at.isoformat() for b, at in sorted(self._answered.items())},
            "deadline_s": self.deadline.total_seconds(),
        }

    # ---------------------------------------------------------------- state

    def to_dict(self) -> dict[str, Any]:
        return {
            "awaiting": {b: at.isoformat() for b, at in self._awaiting.items()},
            "answered": {b: at.isoformat() for b, at in self._answered.items()},
        }

    def restore(self, stored: Mapping[str, Any]) -> None:
        """The deadlines' state as :meth:`to_dict` gave it, for the buildings admitted now
        (tokens come from the enrolment, stored apart: one that left since is not awaited)."""
        self._awaiting = {
            b: datetime.fromisoformat(at)
            for b, at in stored.get("awaiting", {}).items()
            if b in self._tokens
        }
        self._answered = {
            b: datetime.fromisoformat(at)
            for b, at in stored.get("answered", {}).items()
            if b in self._tokens
        }
