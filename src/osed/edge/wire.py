"""The JSON messages on an EDC's channels.

Inbound (building → EDC), on ``edc/<edc>/<function>/in``::

    {"building": "b1", "token": "…", "type": "response", "body": {…}}

Outbound (EDC → building), on ``edc/<edc>/<function>/out/<building>``::

    {"edc": "area-1", "function": "dlc", "type": "request", "body": {…}, "sent_at": "…"}

Every function channel also carries the ``report`` message type inbound: what a building
reports of itself (``demand_kw``, ``production_kw``, ``flexibility_up_kw``,
``flexibility_down_kw``, each optional, finite and at least 0), from which the EDC aggregates
its area.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from osed.domain.errors import Problem

REPORT = "report"
REPORT_MAX_BYTES = 4096
REPORT_FIELDS = ("demand_kw", "production_kw", "flexibility_up_kw", "flexibility_down_kw")


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a finite number")


def parse_inbound(payload: bytes) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The inbound message's fields, or the problems of its shape."""
    try:
        document = json.loads(payload, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return None, [Problem("$", "bad_json", f"not a JSON message: {exc}")]
    if not isinstance(document, dict):
        return None, [Problem("$", "not_object", "a message is a JSON object")]
    problems: list[Problem] = []
    for name in ("building", "token", "type"):
        if not isinstance(document.get(name), str) or not document[name]:
            problems.append(Problem(f"$.{name}", "missing", "a non-empty string is required"))
    if not isinstance(document.get("body", {}), dict):
        problems.append(Problem("$.body", "not_object", "the body is a JSON object"))
    extra = sorted(set(document) - {"building", "token", "type", "body"})
    if extra:
        problems.append(Problem("$", "unexpected_keys", f"unexpected keys {extra}"))
    return (None if problems else document), problems


def report_problems(body: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    for name, value in body.items():
        where = f"$.body.{name}"
        if name not in REPORT_FIELDS:
            problems.append(Problem(where, "unknown_field", f"known: {', '.join(REPORT_FIELDS)}"))
        elif isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(Problem(where, "not_a_number", "must be a number in kW"))
        elif not math.isfinite(value) or value < 0:
            problems.append(Problem(where, "out_of_range", "must be finite and at least 0"))
    return problems


def outbound_payload(
    edc_id: str, function: str, message_type: str, body: Mapping[str, Any], sent_at: datetime
) -> bytes:
    document = {
        "edc": edc_id,
        "function": function,
        "type": message_type,
        "body": body,
        "sent_at": sent_at.isoformat(),
    }
    return json.dumps(document, separators=(",", ":"), allow_nan=False).encode()


def dead_letter_payload(topic: str, source: str, payload: bytes, problems: list[Problem]) -> bytes:
    """A rejected message with every reason, as the bridge's dead letters read; a token in it
    is replaced by ``<redacted>`` so the dead-letter topic never carries one."""
    document = {
        "topic": topic,
        "source": source,
        "problems": [{"path": p.path, "code": p.code, "message": p.message} for p in problems],
        "payloadText": _redacted(payload),
        "size": len(payload),
    }
    return json.dumps(document, separators=(",", ":")).encode()


def _redacted(payload: bytes) -> str | None:
    try:
        text = payload.decode("utf-8")
        document = json.loads(text, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if isinstance(document, dict) and "token" in document:
        document["token"] = "<redacted>"
        return json.dumps(document, separators=(",", ":"))
    return text
