"""The generic JSON format: ``{"series", "value", "unit", "time"}`` objects, or a list of them.

``time`` is ISO 8601 with a UTC offset; ``unit`` is free text (normalise-units knows the
electrical ones). The device of every point is the source of the envelope it came in.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from osed.bridge.samples import Message, Sample
from osed.domain.envelope import Envelope
from osed.domain.errors import Problem, ValidationError

_FIELDS = frozenset({"series", "value", "unit", "time"})


def decode_points(envelope: Envelope) -> Message:
    """The points in ``envelope``'s payload; a ValidationError names every problem."""
    try:
        document: Any = json.loads(envelope.payload)
    except (ValueError, RecursionError) as exc:
        raise _rejected([Problem("$", "not_json", f"payload is not JSON: {exc}")]) from None
    single = isinstance(document, dict)
    items = [document] if single else document
    if not isinstance(items, list) or not items:
        raise _rejected(
            [Problem("$", "wrong_type", "must be a point object or a non-empty list of them")]
        )
    problems: list[Problem] = []
    samples = []
    for index, item in enumerate(items):
        sample = _point(item, "$" if single else f"$[{index}]", envelope.source, problems)
        if sample is not None:
            samples.append(sample)
    if problems:
        raise _rejected(problems)
    first = min(sample.time for sample in samples)
    return Message(envelope, "json", envelope.source, first, tuple(samples))


def encode_points(message: Message) -> bytes:
    points = [
        {
            "series": s.component,
            "value": s.value,
            "unit": s.unit,
            "time": s.time.astimezone(UTC).isoformat(timespec="microseconds"),
        }
        for s in message.samples
    ]
    return json.dumps(points, separators=(",", ":"), allow_nan=False).encode()


def _point(item: object, path: str, device: str, problems: list[Problem]) -> Sample | None:
    if not isinstance(item, dict):
        problems.append(Problem(path, "not_an_object", "a point is a JSON object"))
        return None
    found = len(problems)
    for name in sorted(_FIELDS - item.keys()):
        problems.append(Problem(f"{path}.{name}", "missing_field", "required"))
    for name in sorted(item.keys() - _FIELDS):
        problems.append(Problem(f"{path}.{name}", "unknown_field", "not a point field"))
    for name in ("series", "unit"):
        value = item.get(name)
        if name in item and (not isinstance(value, str) or not value or not value.isprintable()):
            problems.append(Problem(f"{path}.{name}", "wrong_type", "must be non-empty text"))
    value = item.get("value")
    if "value" in item:
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(Problem(f"{path}.value", "not_a_number", "must be a number"))
        elif not _finite(value):
            problems.append(Problem(f"{path}.value", "not_finite", "must be finite"))
    instant = None
    if "time" in item:
        instant = _instant(item["time"], f"{path}.time", problems)
    if len(problems) > found:
        return None
    assert instant is not None
    assert isinstance(value, int | float)
    return Sample(device, item["series"], "", "", float(value), item["unit"], instant)


def _instant(value: object, path: str, problems: list[Problem]) -> datetime | None:
    if not isinstance(value, str):
        problems.append(Problem(path, "wrong_type", "must be an ISO 8601 string"))
        return None
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        problems.append(Problem(path, "bad_datetime", f"not ISO 8601: {value!r}"))
        return None
    if instant.utcoffset() is None:
        problems.append(Problem(path, "naive_datetime", "needs a UTC offset"))
        return None
    return instant.astimezone(UTC)


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _rejected(problems: list[Problem]) -> ValidationError:
    return ValidationError(problems, subject="JSON points")
