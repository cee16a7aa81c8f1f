"""A JWS in compact serialisation taken apart strictly, before any key is looked at.

Python's base64 decoder skips characters outside the alphabet and ignores the unused low bits
of the last character, so ``abc!d`` and ``abce`` can decode to the bytes of ``abcd``. A token
is accepted only in its one canonical spelling: every segment strict base64url without padding
and re-encoding to itself, the header and payload JSON objects without duplicate members.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from osed.identity.errors import TokenRefusedError

MAX_TOKEN_CHARS = 16 * 1024
"""Longer bearer tokens are refused unread (Keycloak's carry a few kilobytes at most)."""

_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")


@dataclass(frozen=True, slots=True)
class CompactToken:
    """The parts of a JWS: its protected header, its claims and what the signature covers."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def parse(token: str) -> CompactToken:
    """Split and decode ``token``; a :class:`TokenRefusedError` (``malformed``) otherwise."""
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenRefusedError("malformed", f"longer than {MAX_TOKEN_CHARS} characters")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenRefusedError(
            "malformed", f"a JWS has 3 dot-separated segments, this token has {len(parts)}"
        )
    names = ("header", "payload", "signature")
    raw = [_segment(text, name) for text, name in zip(parts, names, strict=True)]
    header = _json_object(raw[0], "header")
    claims = _json_object(raw[1], "payload")
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    return CompactToken(header, claims, signing_input, raw[2])


def _segment(text: str, name: str) -> bytes:
    if not text and name != "signature":  # an empty signature (alg none) fails later, by name
        raise TokenRefusedError("malformed", f"the {name} segment is empty")
    if not _SEGMENT.fullmatch(text) or len(text) % 4 == 1:
        raise TokenRefusedError("malformed", f"the {name} segment is not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise TokenRefusedError("malformed", f"the {name} segment is not base64url") from None
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii") != text:
        raise TokenRefusedError(
            "malformed", f"the {name} segment is not in canonical base64url (unused bits set)"
        )
    return data


def _json_object(data: bytes, name: str) -> dict[str, Any]:
    try:
        value = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_unique_members,
            parse_constant=_no_constant,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise TokenRefusedError("malformed", f"the {name} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise TokenRefusedError("malformed", f"the {name} is not a JSON object")
    return value


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # RFC 7519 §4: a duplicate claim name makes a token ambiguous between parsers; refuse it.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"member {key!r} appears twice")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
