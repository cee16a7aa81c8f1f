"""The time budget of one balancing request, and the size limit that bounds its memory.

A budget starts when the request does (before its file is read or its body parsed) and
covers parsing, model building and solving: each phase checks what is left, and HiGHS gets
only that. HiGHS itself checks its clock only between iterations (its presolve and the setup
of a large simplex may run past the limit), so the callers that own a process (the CLI, the
service's workers) also stop the work outright shortly after the deadline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

MAX_REQUEST_BYTES = 8 * 1024 * 1024
"""Default largest request (JSON bytes): a parsed request takes about a hundred times its
size in memory while its model is built and solved, so this bounds the memory of a solve."""

MIN_SOLVER_S = 0.05
"""HiGHS is never given less than this (a zero limit would mean none)."""

HARD_STOP_GRACE_S = 1.0
"""How long past its deadline a request may run before its process is stopped."""


@dataclass(frozen=True, slots=True)
class Deadline:
    """``seconds`` from ``started`` (``time.monotonic()``)."""

    seconds: float
    started: float = field(default_factory=time.monotonic)

    def left(self) -> float:
        return max(self.started + self.seconds - time.monotonic(), 0.0)

    def expired(self) -> bool:
        return self.left() <= 0.0

    def solver_s(self) -> float:
        """The time limit to give HiGHS now."""
        return max(self.left(), MIN_SOLVER_S)

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def time_limit_message(seconds: float) -> str:
    return f"no schedule found within the time budget of {seconds:g} s"
