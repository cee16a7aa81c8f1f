"""Envelopes on the wire: one JSON header line, a newline, then the payload bytes untouched.

The same frame serves every broker (MQTT 3.1.1 has no message headers) and the outbox, so a
replayed message is byte-for-byte what was first published.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from osed.domain.envelope import Envelope
from osed.domain.errors import Problem, ValidationError

_HEADER_FIELDS = {"topic", "source", "seq", "key", "eventTime", "contentType"}


def encode_envelope(envelope: Envelope) -> bytes:
    header = {
        "topic": envelope.topic,
        "source": envelope.source,
        "seq": envelope.seq,
        "key": envelope.key,
        "eventTime": envelope.event_time.astimezone(UTC).isoformat(),
        "contentType": envelope.content_type,
    }
    return json.dumps(header, separators=(",", ":")).encode() + b"\n" + envelope.payload


def decode_envelope(frame: bytes) -> Envelope:
    """The envelope in ``frame``; a ValidationError names every problem of a bad frame."""
    head, newline, payload = frame.partition(b"\n")
    if not newline:
        raise _bad("$", "bad_frame", "no header line")
    try:
        header: Any = json.loads(head)
    except (ValueError, RecursionError) as exc:
        raise _bad("$", "bad_header", f"header is not JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise _bad("$", "bad_header", "header is not an object")
    problems = [
        Problem(f"$.{name}", "missing_field", "required") for name in _HEADER_FIELDS - set(header)
    ]
    problems += [
        Problem(f"$.{name}", "unknown_field", "not an envelope field")
        for name in sorted(set(header) - _HEADER_FIELDS)
    ]
    for name in ("topic", "source", "key", "contentType", "eventTime"):
        if name in header and not isinstance(header[name], str):
            problems.append(Problem(f"$.{name}", "wrong_type", "must be a string"))
    seq = header.get("seq")
    if "seq" in header and (not isinstance(seq, int) or isinstance(seq, bool)):
        problems.append(Problem("$.seq", "not_integer", "must be an integer"))
    event_time = None
    if isinstance(header.get("eventTime"), str):
        try:
            event_time = datetime.fromisoformat(header["eventTime"])
        except ValueError:
            problems.append(Problem("$.eventTime", "bad_datetime", "not an ISO 8601 instant"))
    if problems:
        raise ValidationError(sorted(problems, key=lambda p: p.path), subject="envelope")
    assert event_time is not None
    return Envelope(
        topic=header["topic"],
        source=header["source"],
        seq=header["seq"],
        payload=payload,
        event_time=event_time,
        content_type=header["contentType"],
        key=header["key"],
    )


def _bad(path: str, code: str, message: str) -> ValidationError:
    return ValidationError([Problem(path, code, message)], subject="envelope")
