"""A request body read with limits: its media type, its size (declared and counted as it
arrives, before anything is parsed), its JSON (strict: no NaN or Infinity, no number that
overflows to infinity, no integer of more digits than Python converts) and its nesting
depth."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from osed.domain.errors import Problem, ValidationError

MAX_DEPTH = 64
"""Deeper JSON is refused: no request format nests more than a few levels."""
SUBJECT = "balancing request"


def _unsupported(media_type: str) -> JSONResponse:
    message = f"the body must be application/json, not {media_type or 'unstated'}"
    return JSONResponse({"error": "unsupported_media_type", "message": message}, 415)


def _too_large(limit: int) -> JSONResponse:
    message = f"the body is larger than {limit} bytes (balancer.max_request_bytes)"
    return JSONResponse({"error": "too_large", "message": message}, 413)


def _json(media_type: str) -> bool:
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def read_document(request: Request, limit: int) -> Any:
    """The parsed body, or the 413/415 response to give; :class:`ValidationError` for a
    body that is not strict JSON or nests too deep."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not _json(media_type):
        return _unsupported(media_type)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return _too_large(limit)
        chunks.append(chunk)
    # Parsing a large body takes a while: off the event loop that serves every request.
    return await asyncio.to_thread(parse_strict, b"".join(chunks))


class _NotFiniteError(ValueError):
    pass


def _no_constant(name: str) -> None:
    raise _NotFiniteError(f"{name} is not a finite number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFiniteError(f"{text} is not a finite number")
    return value


def parse_strict(body: bytes) -> Any:
    try:
        document = json.loads(body, parse_constant=_no_constant, parse_float=_finite)
    except UnicodeDecodeError as exc:
        problem = Problem("$", "not_utf8", f"not UTF-8 text at byte {exc.start}")
        raise ValidationError([problem], subject=SUBJECT) from None
    except json.JSONDecodeError as exc:
        message = f"line {exc.lineno} column {exc.colno}: {exc.msg}"
        raise ValidationError([Problem("$", "bad_json", message)], subject=SUBJECT) from None
    except _NotFiniteError as exc:
        raise ValidationError([Problem("$", "not_finite", str(exc))], subject=SUBJECT) from None
    except RecursionError:
        problem = Problem("$", "too_deep", f"nested more than {MAX_DEPTH} levels")
        raise ValidationError([problem], subject=SUBJECT) from None
    except ValueError as exc:  # NaN, Infinity, an integer too long to convert
        raise ValidationError([Problem("$", "bad_json", str(exc))], subject=SUBJECT) from None
    path = _too_deep(document)
    if path is not None:
        problem = Problem(path, "too_deep", f"nested more than {MAX_DEPTH} levels")
        raise ValidationError([problem], subject=SUBJECT)
    return document


def _too_deep(document: Any) -> str | None:
    """The path of the first value nested deeper than :data:`MAX_DEPTH` (none: ``None``)."""
    stack: list[tuple[Any, str, int]] = [(document, "$", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            return path
        if isinstance(value, dict):
            stack.extend((v, f"{path}.{k}", depth + 1) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{path}[{n}]", depth + 1) for n, v in enumerate(value))
    return None
