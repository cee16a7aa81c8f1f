"""Strict JSON text in and out: UTF-8 only, a depth limit, finite numbers only.

Python's ``json`` accepts ``NaN`` and ``Infinity``, turns ``1e400`` into infinity, fails with a
RecursionError on deep nesting and writes ``NaN``/``Infinity`` (which no other JSON parser
reads). Every user document and every JSON output goes through here instead, and each of these
becomes a :class:`ValidationError` naming where the problem is.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from osed.domain.errors import Problem, ValidationError

MAX_DEPTH = 100
"""Arrays and objects nested deeper than this are refused before parsing (OSED's documents
nest fewer than ten levels; Python's parser and every recursive check stop near 1,000)."""

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_EMPTY_PAIR = re.compile(r"\[\]|\{\}")
_RUNS = re.compile(r"([\[{]*)([\]}]*)")


class _NonFiniteNumberError(ValueError):
    def __init__(self, literal: str) -> None:
        super().__init__(literal)
        self.literal = literal


def decode_utf8(data: bytes, *, where: str, subject: str) -> str:
    """``data`` as text; bytes that are not UTF-8 are reported with their line and offset."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        byte = data[exc.start : exc.start + 1].hex()
        message = f"line {line}: byte 0x{byte} at offset {exc.start} is not UTF-8 ({exc.reason})"
        raise ValidationError([Problem(where, "not_utf8", message)], subject=subject) from None


def loads(text: str | bytes, *, subject: str, where: str = "$") -> Any:
    """The JSON value of ``text``; raises ValidationError (code ``bad_json``, ``too_deep``,
    ``not_finite`` or ``not_utf8``) with the line and column of the problem."""
    if isinstance(text, bytes | bytearray):
        text = decode_utf8(bytes(text), where=where, subject=subject)
    # Counting brackets is cheap; the exact depth is computed only when it could be too deep.
    if text.count("[") + text.count("{") > MAX_DEPTH and (depth := nesting_depth(text)) > MAX_DEPTH:
        message = f"arrays and objects nest {depth} deep; at most {MAX_DEPTH} are accepted"
        raise ValidationError([Problem(where, "too_deep", message)], subject=subject)
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except _NonFiniteNumberError as exc:
        line, column = _line_column(text, exc.literal)
        message = f"line {line} column {column}: {exc.literal} is not a finite number"
        raise ValidationError([Problem(where, "not_finite", message)], subject=subject) from None
    except json.JSONDecodeError as exc:
        message = f"line {exc.lineno} column {exc.colno}: {exc.msg}"
        raise ValidationError([Problem(where, "bad_json", message)], subject=subject) from None
    except ValueError as exc:  # an integer of more digits than Python converts
        message = str(exc).split(";")[0]
        raise ValidationError([Problem(where, "bad_number", message)], subject=subject) from None
    except RecursionError:  # the depth check makes this unreachable unless the stack is low
        message = "nested too deeply to parse"
        raise ValidationError([Problem(where, "too_deep", message)], subject=subject) from None


def nesting_depth(text: str) -> int:
    """How deep arrays and objects nest in JSON ``text`` (brackets inside strings ignored)."""
    # Fast path, all in C: keep the brackets and peel off one level of empty pairs per pass.
    # A bracket inside a string spoils the peeling, so then the exact path removes strings.
    brackets = _NOT_BRACKET.sub("", text)
    for level in range(MAX_DEPTH + 1):
        if not brackets:
            return level
        brackets = _EMPTY_PAIR.sub("", brackets)
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    depth = deepest = 0
    for opening, closing in _RUNS.findall(brackets):  # only opening runs raise the depth
        depth += len(opening)
        deepest = max(deepest, depth)
        depth -= len(closing)
    return deepest


def dumps(value: object, *, subject: str = "result") -> str:
    """Compact JSON of ``value``; a NaN or infinity anywhere is a ValidationError naming its
    path, never the non-JSON ``NaN``/``Infinity``."""
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except ValueError:
        path = non_finite_path(value) or "$"
        raise ValidationError(
            [Problem(path, "not_finite", "is not a finite number; JSON cannot carry it")],
            subject=subject,
        ) from None


def non_finite_path(value: object, path: str = "$") -> str | None:
    """The JSON path of the first NaN or infinity in ``value``, or None."""
    stack: list[tuple[object, str]] = [(value, path)]
    while stack:
        item, at = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return at
        if isinstance(item, dict):
            stack.extend((v, f"{at}.{k}") for k, v in reversed(list(item.items())))
        elif isinstance(item, list | tuple):
            stack.extend((v, f"{at}[{i}]") for i, v in reversed(list(enumerate(item))))
    return None


def _refuse_constant(name: str) -> object:
    raise _NonFiniteNumberError(name)


def _finite_float(literal: str) -> float:
    number = float(literal)
    if not math.isfinite(number):
        raise _NonFiniteNumberError(literal)
    return number


def _line_column(text: str, literal: str) -> tuple[int, int]:
    """Where ``literal`` first appears as a value (after ``:``, ``[`` or ``,``)."""
    match = re.search(rf"(?<=[:\[,\s]){re.escape(literal)}(?![\w.])", text)
    offset = match.start() if match else 0
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1
