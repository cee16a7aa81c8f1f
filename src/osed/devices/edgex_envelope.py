"""The EdgeX message bus envelope on MQTT: every message on the bus is one JSON object.

Fields (EdgeX ``MessageEnvelope``): ``apiVersion``, ``receivedTopic``, ``correlationID``,
``requestID``, ``errorCode`` (0 no error, 1 error, the payload then holding the message),
``payload``, ``contentType`` and, optionally, ``queryParams`` (string to string).

EdgeX up to 3.x carries the payload as bytes, which JSON spells as a base64 string; EdgeX 4
writes a JSON payload as the object itself unless ``EDGEX_MSG_BASE64_PAYLOAD`` is set. Both
are read here; what is written is chosen by the caller (base64 is what every version reads).
Envelopes encoded whole in CBOR (``EDGEX_MSG_CBOR_ENCODE``) are not JSON and are refused.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

CONTENT_JSON = "application/json"
CONTENT_TEXT = "text/plain"
MAX_ENVELOPE_BYTES = 4_000_000
"""Larger messages are refused before parsing (EdgeX's own MaxEventSize defaults to 25 MB for a
whole event, but a building's readings are a few hundred bytes)."""


class EnvelopeError(ValueError):
    """A message that is not an EdgeX envelope of the expected form; the text says why."""


@dataclass(frozen=True, slots=True)
class Envelope:
    api_version: str
    received_topic: str = ""
    correlation_id: str = ""
    request_id: str = ""
    error_code: int = 0
    payload: Any = None
    """Decoded: a JSON value when ``content_type`` is JSON, a string for text, else bytes."""
    content_type: str = CONTENT_JSON
    query_params: dict[str, str] = field(default_factory=dict)


def encode(envelope: Envelope, *, base64_payload: bool) -> bytes:
    """The envelope as JSON bytes; the payload (a JSON value, text or bytes) as base64 bytes or
    as the value itself."""
    payload: Any = envelope.payload
    if payload is not None and (base64_payload or isinstance(payload, bytes)):
        if isinstance(payload, bytes):
            raw = payload
        elif isinstance(payload, str) and envelope.content_type != CONTENT_JSON:
            raw = payload.encode()
        else:
            raw = json.dumps(payload, separators=(",", ":")).encode()
        payload = base64.b64encode(raw).decode("ascii")
    document: dict[str, Any] = {
        "apiVersion": envelope.api_version,
        "receivedTopic": envelope.received_topic,
        "correlationID": envelope.correlation_id,
        "requestID": envelope.request_id,
        "errorCode": envelope.error_code,
        "payload": payload,
        "contentType": envelope.content_type,
    }
    if envelope.query_params:
        document["queryParams"] = envelope.query_params
    return json.dumps(document, separators=(",", ":")).encode()


def decode(data: bytes, *, api_version: str) -> Envelope:
    """The envelope in ``data``; EnvelopeError naming every problem of its form."""
    if len(data) > MAX_ENVELOPE_BYTES:
        raise EnvelopeError(f"{len(data)} bytes, more than {MAX_ENVELOPE_BYTES}")
    document = _json(data, "the envelope")
    if not isinstance(document, dict):
        raise EnvelopeError("not a JSON object")
    problems: list[str] = []
    version = document.get("apiVersion")
    if version != api_version:
        problems.append(f"$.apiVersion: {version!r}, expected {api_version!r}")
    strings = {}
    for key in ("receivedTopic", "correlationID", "requestID", "contentType"):
        value = document.get(key, "")
        if not isinstance(value, str):
            problems.append(f"$.{key}: not a string")
            value = ""
        strings[key] = value
    error_code = document.get("errorCode", 0)
    if isinstance(error_code, bool) or error_code not in (0, 1):
        problems.append(f"$.errorCode: {error_code!r}, expected 0 or 1")
        error_code = 0
    query = document.get("queryParams") or {}
    if not isinstance(query, dict) or not all(isinstance(v, str) for v in query.values()):
        problems.append("$.queryParams: not an object of strings")
        query = {}
    content_type = strings["contentType"] or CONTENT_JSON
    payload: Any = None
    if not problems:
        try:
            payload = _payload(document.get("payload"), content_type, error_code)
        except EnvelopeError as exc:
            problems.append(f"$.payload: {exc}")
    if problems:
        raise EnvelopeError("; ".join(problems))
    return Envelope(
        api_version=str(version),
        received_topic=strings["receivedTopic"],
        correlation_id=strings["correlationID"],
        request_id=strings["requestID"],
        error_code=error_code,
        payload=payload,
        content_type=content_type,
        query_params=dict(query),
    )


def _payload(raw: Any, content_type: str, error_code: int) -> Any:
    if raw is None:
        return None
    if error_code:
        # An error's payload is its message: text, or (bytes before EdgeX 4) base64 text.
        return _error_text(raw)
    if not isinstance(raw, str):
        if content_type != CONTENT_JSON:
            raise EnvelopeError(f"an inline payload must be JSON, not {content_type!r}")
        return raw  # EdgeX 4: the JSON value itself
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeError("a string payload must be base64") from None
    if content_type == CONTENT_JSON:
        if not data:
            return None
        return _json(data, "the payload")
    if content_type == CONTENT_TEXT:
        return data.decode("utf-8", errors="replace")
    raise EnvelopeError(f"content type {content_type!r} is not supported (JSON and text are)")


def _json(data: bytes, what: str) -> Any:
    """Strict JSON on the hot path: UTF-8 only, no NaN or Infinity (numbers too large for a
    float are caught where a reading's value is checked), nesting as deep as Python parses."""
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise EnvelopeError(f"{what} is not UTF-8 (byte {exc.start})") from None
    except RecursionError:
        raise EnvelopeError(f"{what} nests too deep") from None
    except ValueError as exc:  # JSONDecodeError, and the constants refused below
        raise EnvelopeError(f"{what} is not JSON: {exc}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a finite number")


def _error_text(raw: Any) -> str:
    if not isinstance(raw, str):
        return json.dumps(raw)[:500]
    try:
        decoded = base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return raw[:500]
    return (decoded if decoded.isprintable() else raw)[:500]
