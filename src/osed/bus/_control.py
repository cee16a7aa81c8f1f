"""The control topics of reliable delivery, and their JSON payloads (see docs/bus.md).

::

    _osed/replay/<source>      consumer -> publisher   ReplayRequest
    _osed/replayed/<consumer>  publisher -> consumer   one FRAME per replayed envelope, then
                                                       ReplaySummary
    _osed/ack/<source>         consumer -> publisher   Ack
    _osed/head/<source>        publisher -> consumers  Head
    _osed/gaps/<consumer>      consumer -> operators   GapReport (osed.codec.gap)

Control envelopes are not sequenced: their ``seq`` is 1 and their key is unique, so a broker
that deduplicates by key (NATS) never drops a repeated request. A gap report's key names its
range instead: one sent again after a crash is recognisably the same report.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from osed.codec.gap import GapReport, encode_gap_report
from osed.domain.envelope import JSON, Envelope
from osed.domain.errors import Problem, ValidationError

CONTROL_PREFIX = "_osed/"
# A replayed envelope travels as its original frame inside a control envelope of this type.
FRAME = "application/vnd.osed.frame"

Range = tuple[int, int]


def replay_topic(source: str) -> str:
    return f"{CONTROL_PREFIX}replay/{source}"


def replayed_topic(consumer: str) -> str:
    return f"{CONTROL_PREFIX}replayed/{consumer}"


def ack_topic(source: str) -> str:
    return f"{CONTROL_PREFIX}ack/{source}"


def head_topic(source: str) -> str:
    return f"{CONTROL_PREFIX}head/{source}"


def gaps_topic(consumer: str) -> str:
    return f"{CONTROL_PREFIX}gaps/{consumer}"


HEAD_PATTERN = f"{CONTROL_PREFIX}head/+"
GAPS_PATTERN = f"{CONTROL_PREFIX}gaps/+"


def is_control(topic: str) -> bool:
    return topic.startswith(CONTROL_PREFIX)


def check_name(name: str, *, path: str) -> str:
    """A source or consumer name must be one topic level."""
    if not name or any(c in name for c in "/+#\x00") or not name.isprintable():
        raise ValidationError([Problem(path, "bad_name", f"not a topic level: {name!r}")])
    return name


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    """Resend ``[first, last]`` to ``consumer``, only what matches ``pattern``."""

    consumer: str
    first: int
    last: int
    pattern: str


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    """Sent after the frames of one replay: which seqs of ``[first, last]`` will not come.

    ``skipped``: not on the consumer's pattern; ``unavailable``: no longer (or never) in the
    outbox. Seqs of the request after ``last`` were not answered (a capped reply).
    """

    source: str
    first: int
    last: int
    skipped: tuple[Range, ...] = ()
    unavailable: tuple[Range, ...] = ()


@dataclass(frozen=True, slots=True)
class Ack:
    """``consumer`` has delivered everything of the source through ``through``."""

    consumer: str
    through: int


@dataclass(frozen=True, slots=True)
class Head:
    """The source has published ``last`` messages (announced periodically and at start)."""

    source: str
    last: int


def control_envelope(topic: str, sender: str, body: dict[str, Any], at: datetime) -> Envelope:
    payload = json.dumps(body, separators=(",", ":")).encode()
    return Envelope(topic, sender, 1, payload, at, JSON, key=_unique_key())


def frame_envelope(topic: str, sender: str, frame: bytes, at: datetime) -> Envelope:
    return Envelope(topic, sender, 1, frame, at, FRAME, key=_unique_key())


def gap_envelope(report: GapReport) -> Envelope:
    seqs, window = report.seqs, report.window
    if seqs is not None:
        where = f"{seqs[0]}-{seqs[1]}"
    else:
        assert window is not None
        where = window[0].astimezone(UTC).isoformat()
    key = f"_osed:gap:{report.consumer}:{report.source}:{where}"
    body = encode_gap_report(report)
    return Envelope(
        gaps_topic(report.consumer), report.consumer, 1, body, report.detected_at, JSON, key=key
    )


def _unique_key() -> str:
    return f"_osed:{uuid.uuid4().hex}"


def encode_request(request: ReplayRequest) -> dict[str, Any]:
    return {
        "consumer": request.consumer,
        "first": request.first,
        "last": request.last,
        "pattern": request.pattern,
    }


def decode_request(payload: bytes) -> ReplayRequest:
    body = _object(payload, "replay request")
    request = ReplayRequest(
        consumer=_string(body, "consumer"),
        first=_seq(body, "first"),
        last=_seq(body, "last"),
        pattern=_string(body, "pattern"),
    )
    if request.last < request.first:
        raise _bad("$.last", "out_of_range", "last is before first", "replay request")
    return request


def encode_summary(summary: ReplaySummary) -> dict[str, Any]:
    return {
        "source": summary.source,
        "first": summary.first,
        "last": summary.last,
        "skipped": [list(r) for r in summary.skipped],
        "unavailable": [list(r) for r in summary.unavailable],
    }


def decode_summary(payload: bytes) -> ReplaySummary:
    body = _object(payload, "replay summary")
    return ReplaySummary(
        source=_string(body, "source"),
        first=_seq(body, "first"),
        last=_seq(body, "last"),
        skipped=_ranges(body, "skipped"),
        unavailable=_ranges(body, "unavailable"),
    )


def encode_ack(ack: Ack) -> dict[str, Any]:
    return {"consumer": ack.consumer, "through": ack.through}


def decode_ack(payload: bytes) -> Ack:
    body = _object(payload, "ack")
    return Ack(consumer=_string(body, "consumer"), through=_seq(body, "through", low=0))


def encode_head(head: Head) -> dict[str, Any]:
    return {"source": head.source, "last": head.last}


def decode_head(payload: bytes) -> Head:
    body = _object(payload, "head")
    return Head(source=_string(body, "source"), last=_seq(body, "last", low=0))


def _object(payload: bytes, subject: str) -> dict[str, Any]:
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise _bad("$", "bad_json", f"not JSON: {exc}", subject) from exc
    if not isinstance(body, dict):
        raise _bad("$", "bad_json", "not an object", subject)
    return body


def _string(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise _bad(f"$.{name}", "wrong_type", "must be a non-empty string", "control message")
    return value


def _seq(body: dict[str, Any], name: str, *, low: int = 1) -> int:
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise _bad(f"$.{name}", "out_of_range", f"must be an integer >= {low}", "control message")
    return value


def _ranges(body: dict[str, Any], name: str) -> tuple[Range, ...]:
    value = body.get(name, [])
    ranges: list[Range] = []
    if isinstance(value, list):
        for item in value:
            if not (isinstance(item, list) and len(item) == 2):
                break
            first, last = item
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in item):
                break
            if not 1 <= first <= last:
                break
            ranges.append((first, last))
        else:
            return tuple(ranges)
    raise _bad(f"$.{name}", "bad_ranges", "must be a list of [first, last]", "control message")


def _bad(path: str, code: str, message: str, subject: str) -> ValidationError:
    return ValidationError([Problem(path, code, message)], subject=subject)
