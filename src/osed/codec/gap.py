"""Gap reports on the wire: messages a consumer will never deliver.

One JSON object per report, the same on the bus topic ``_osed/gaps/<consumer>`` and in the
output of ``osed bus gaps`` (docs/bus.md). A report names either the range of a source's seqs
that was lost::

    {"consumer": "bridge.meters.0", "pattern": "field/+", "source": "field.pmu1",
     "first": 3001, "last": 3517, "reason": "unavailable",
     "detectedAt": "2026-07-01T12:00:03.250000Z"}

or, for messages that never had seqs (raw MQTT from field devices), the time window in which
messages may have been lost::

    {"consumer": "bridge.pmu.0", "pattern": "bal/raw/#", "source": "raw.bal.raw.#",
     "lostFrom": "2026-07-01T12:00:01.020000Z", "lostUntil": "2026-07-01T12:00:02.310000Z",
     "reason": "session_lost", "detectedAt": "2026-07-01T12:00:02.310000Z"}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from osed.codec._iso import format_instant, parse_instant
from osed.codec._reader import Reader, identifier, integer_in, json_type
from osed.domain.errors import Problem, ValidationError
from osed.domain.problems import Problems
from osed.domain.time import require_aware

SUBJECT = "gap report"
MAX_SEQ = 2**63 - 1  # what SQLite stores as an INTEGER


@dataclass(frozen=True, slots=True)
class GapReport:
    """Consumer ``consumer`` (subscribed to ``pattern``) lost messages ``first..last`` of
    ``source`` for ``reason`` (``"unavailable"``: the source no longer holds them;
    ``"timeout"``: the source did not answer), found out at ``detected_at``.

    Or, without seqs (``first`` and ``last`` None): messages of ``source`` accepted by the
    broker from ``lost_from`` to ``lost_until`` may be lost (``"session_lost"``: the broker
    restarted without the persistent session that would have kept them)."""

    consumer: str
    pattern: str
    source: str
    first: int | None
    last: int | None
    reason: str
    detected_at: datetime
    lost_from: datetime | None = None
    lost_until: datetime | None = None

    def __post_init__(self) -> None:
        problems = Problems(SUBJECT)
        has_seqs = self.first is not None or self.last is not None
        has_window = self.lost_from is not None or self.lost_until is not None
        if has_seqs == has_window:
            problems.add(
                "$",
                "bad_gap",
                "needs either first and last (the seqs lost) or lostFrom and lostUntil (the "
                "time window of a possible loss), not both",
            )
        elif has_seqs:
            _check_seqs(self.first, self.last, problems)
        else:
            _check_window(self.lost_from, self.lost_until, problems)
        problems.check()
        object.__setattr__(
            self, "detected_at", require_aware(self.detected_at, path="$.detectedAt")
        )

    @property
    def seqs(self) -> tuple[int, int] | None:
        """``(first, last)``, or None for a time-window report."""
        if self.first is None or self.last is None:
            return None
        return (self.first, self.last)

    @property
    def window(self) -> tuple[datetime, datetime] | None:
        """``(lost_from, lost_until)``, or None for a report of seqs."""
        if self.lost_from is None or self.lost_until is None:
            return None
        return (self.lost_from, self.lost_until)


def _check_seqs(first: int | None, last: int | None, problems: Problems) -> None:
    if first is None or last is None:
        path = "$.first" if first is None else "$.last"
        problems.add(path, "missing_field", "is required with the other end of the range")
        return
    if not 1 <= first <= MAX_SEQ:
        problems.add("$.first", "out_of_range", f"must be within 1..{MAX_SEQ}")
    if not first <= last <= MAX_SEQ:
        problems.add("$.last", "out_of_range", "must be from first up to the largest seq")


def _check_window(since: datetime | None, until: datetime | None, problems: Problems) -> None:
    if since is None or until is None:
        path = "$.lostFrom" if since is None else "$.lostUntil"
        problems.add(path, "missing_field", "is required with the other end of the window")
    elif since.tzinfo is None or until.tzinfo is None:
        path = "$.lostFrom" if since.tzinfo is None else "$.lostUntil"
        problems.add(path, "naive_datetime", "must be timezone-aware")
    elif until < since:
        problems.add("$.lostUntil", "out_of_range", "must not be before lostFrom")


def gap_report_to_json(report: GapReport) -> dict[str, object]:
    where: dict[str, object]
    window = report.window
    if window is not None:
        where = {"lostFrom": format_instant(window[0]), "lostUntil": format_instant(window[1])}
    else:
        where = {"first": report.first, "last": report.last}
    return {
        "consumer": report.consumer,
        "pattern": report.pattern,
        "source": report.source,
        **where,
        "reason": report.reason,
        "detectedAt": format_instant(report.detected_at),
    }


def encode_gap_report(report: GapReport) -> bytes:
    """Compact, ASCII-only JSON."""
    return json.dumps(gap_report_to_json(report), separators=(",", ":")).encode("ascii")


def gap_report_from_json(obj: object) -> GapReport:
    """The report a JSON value holds; a :class:`ValidationError` names every problem."""
    if not isinstance(obj, dict):
        raise _rejected("wrong_type", f"must be an object, not {json_type(obj)}")
    problems = Problems(SUBJECT)
    read = Reader(obj, "$", problems)
    seq = integer_in(1, MAX_SEQ)
    report = read.build(
        GapReport,
        consumer=read.required("consumer", identifier),
        pattern=read.required("pattern", identifier),
        source=read.required("source", identifier),
        first=read.optional("first", seq),
        last=read.optional("last", seq),
        reason=read.required("reason", identifier),
        detected_at=read.required("detectedAt", parse_instant),
        lost_from=read.optional("lostFrom", parse_instant),
        lost_until=read.optional("lostUntil", parse_instant),
    )
    problems.check()
    return report


def decode_gap_report(data: bytes | str) -> GapReport:
    """Parse JSON text and :func:`gap_report_from_json` it."""
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError) as error:
        raise _rejected("bad_json", f"is not valid JSON: {error}") from None
    return gap_report_from_json(obj)


def _rejected(code: str, message: str) -> ValidationError:
    return ValidationError([Problem("$", code, message)], subject=SUBJECT)
