"""Gap reports on the wire: a range of a source's messages a consumer will never deliver.

One JSON object per report, the same on the bus topic ``_osed/gaps/<consumer>`` and in the
output of ``osed bus gaps`` (docs/bus.md)::

    {"consumer": "bridge.meters.0", "pattern": "field/+", "source": "field.pmu1",
     "first": 3001, "last": 3517, "reason": "unavailable",
     "detectedAt": "2026-07-01T12:00:03.250000Z"}
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
    ``"timeout"``: the source did not answer), found out at ``detected_at``."""

    consumer: str
    pattern: str
    source: str
    first: int
    last: int
    reason: str
    detected_at: datetime

    def __post_init__(self) -> None:
        problems = Problems(SUBJECT)
        if not 1 <= self.first <= MAX_SEQ:
            problems.add("$.first", "out_of_range", f"must be within 1..{MAX_SEQ}")
        if not self.first <= self.last <= MAX_SEQ:
            problems.add("$.last", "out_of_range", "must be from first up to the largest seq")
        problems.check()
        object.__setattr__(
            self, "detected_at", require_aware(self.detected_at, path="$.detectedAt")
        )


def gap_report_to_json(report: GapReport) -> dict[str, object]:
    return {
        "consumer": report.consumer,
        "pattern": report.pattern,
        "source": report.source,
        "first": report.first,
        "last": report.last,
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
        first=read.required("first", seq),
        last=read.required("last", seq),
        reason=read.required("reason", identifier),
        detected_at=read.required("detectedAt", parse_instant),
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
