"""A cursor over one JSON object that records every problem under its JSON path.

Decoders read every field first and build the domain object last, so one pass reports all
problems of a message. A field that fails to read yields a placeholder; :meth:`Reader.build`
never calls a constructor once a problem was recorded, so the placeholder never escapes.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from enum import Enum
from typing import ParamSpec, TypeVar, cast

from osed.domain.errors import Problem, ValidationError
from osed.domain.problems import Problems

T = TypeVar("T")
E = TypeVar("E", bound=Enum)
P = ParamSpec("P")

Parse = Callable[[object], T]
"""Turns one JSON value into a domain value, or raises :class:`BadValueError`."""

MAX_ID_LENGTH = 128
MAX_TEXT_LENGTH = 4096
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FORBIDDEN_IN_IDS = {"Cc", "Cs"}  # control characters and lone surrogates


class BadValueError(Exception):
    """A JSON value cannot be used; the :class:`Reader` adds the path where it was found."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Invalid:
    """The placeholder for a value that failed to read (see the module docstring)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<invalid>"


_INVALID = _Invalid()


def child_path(path: str, key: str) -> str:
    """``$.a.b`` for plain names, ``$.a["odd key"]`` for anything else."""
    return f"{path}.{key}" if _NAME.fullmatch(key) else f"{path}[{json.dumps(key)}]"


def rebase(prefix: str, path: str) -> str:
    """Move a path relative to some object (``$.duration``) under where that object sits."""
    return prefix + path.removeprefix("$") if path.startswith("$") else prefix


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    names = {int: "integer", float: "number", str: "string", list: "array", dict: "object"}
    return next((n for t, n in names.items() if isinstance(value, t)), type(value).__name__)


def shown(value: str, limit: int = 40) -> str:
    """A quoted, shortened copy of untrusted text for use in a problem message."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


class Reader:
    """Reads the fields of one JSON object; every problem lands in a shared :class:`Problems`."""

    __slots__ = ("_mark", "_obj", "_problems", "_seen", "path")

    def __init__(self, obj: dict[object, object], path: str, problems: Problems) -> None:
        self._obj = obj
        self.path = path
        self._problems = problems
        self._seen: set[str] = set()
        self._mark = len(problems)

    @property
    def failed(self) -> bool:
        """Whether any problem was recorded in this object (or below it) so far."""
        return len(self._problems) > self._mark

    def report(self, path: str, code: str, message: str) -> None:
        self._problems.add(path, code, message)

    def at(self, name: str) -> str:
        return child_path(self.path, name)

    def required(self, name: str, parse: Parse[T]) -> T:
        if not self._expect(name):
            self.report(self.at(name), "missing_field", "is required")
            return cast(T, _INVALID)
        return self._parse(self._obj[name], self.at(name), parse)

    def optional(self, name: str, parse: Parse[T]) -> T | None:
        """A nullable field: absent or ``null`` both mean ``None``."""
        value = self._obj.get(name) if self._expect(name) else None
        return None if value is None else self._parse(value, self.at(name), parse)

    def defaulted(self, name: str, parse: Parse[T], default: T) -> T:
        if not self._expect(name):
            return default
        return self._parse(self._obj[name], self.at(name), parse)

    def nested(self, name: str, decode: Callable[[Reader], T]) -> T:
        if not self._expect(name):
            self.report(self.at(name), "missing_field", "is required")
            return cast(T, _INVALID)
        return read_object(self._obj[name], self.at(name), self._problems, decode)

    def objects(
        self, name: str, decode: Callable[[Reader], T], *, required: bool = True
    ) -> tuple[T, ...]:
        """An array of objects; when not required, an absent array means empty."""
        items = self._array(name, required)
        return tuple(
            read_object(item, f"{self.at(name)}[{i}]", self._problems, decode)
            for i, item in enumerate(items)
        )

    def values(self, name: str, parse: Parse[T]) -> tuple[T, ...]:
        """An optional array of plain values; absent means empty."""
        items = self._array(name, required=False)
        return tuple(
            self._parse(item, f"{self.at(name)}[{i}]", parse) for i, item in enumerate(items)
        )

    def choice(self, decoders: Mapping[str, Callable[[Reader], T]]) -> T:
        """An object holding exactly one of ``decoders``' keys, e.g. ``{"interval": {...}}``."""
        present = [key for key in decoders if self._expect(key)]
        if len(present) != 1:
            code = "ambiguous_choice" if present else "missing_field"
            self.report(self.path, code, f"needs exactly one of: {', '.join(decoders)}")
            return self.build(lambda: cast(T, _INVALID))  # reports unknown keys
        key = present[0]
        value = read_object(self._obj[key], self.at(key), self._problems, decoders[key])
        return self.build(lambda: value)

    def build(self, factory: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Report unknown fields, then construct, unless this object has problems.

        A domain constructor may refuse the values itself; its problems, whose paths are
        relative to the object (``$.duration``), are moved under this object's path.
        """
        for key in self._obj:
            if not isinstance(key, str):
                self.report(self.path, "unknown_field", f"has a {json_type(key)} key")
            elif key not in self._seen:
                self.report(self.at(key), "unknown_field", "is not a field of this object")
        if self.failed:
            return cast(T, _INVALID)
        try:
            return factory(*args, **kwargs)
        except ValidationError as error:
            self._problems.extend(
                [Problem(rebase(self.path, p.path), p.code, p.message) for p in error.problems]
            )
            return cast(T, _INVALID)

    def _expect(self, name: str) -> bool:
        """Mark ``name`` as a field of this object (so it is not unknown); is it present?"""
        self._seen.add(name)
        return name in self._obj

    def _array(self, name: str, required: bool) -> list[object]:
        if not self._expect(name):
            if required:
                self.report(self.at(name), "missing_field", "is required")
            return []
        value = self._obj[name]
        if not isinstance(value, list):
            self.report(self.at(name), "wrong_type", f"must be an array, not {json_type(value)}")
            return []
        return value

    def _parse(self, value: object, path: str, parse: Parse[T]) -> T:
        try:
            return parse(value)
        except BadValueError as bad:
            self.report(path, bad.code, bad.message)
            return cast(T, _INVALID)


def read_object(value: object, path: str, problems: Problems, decode: Callable[[Reader], T]) -> T:
    if not isinstance(value, dict):
        problems.add(path, "wrong_type", f"must be an object, not {json_type(value)}")
        return cast(T, _INVALID)
    return decode(Reader(value, path, problems))


# Parsers of plain JSON values shared by every codec.


def identifier(value: object) -> str:
    """Non-empty, at most 128 characters, no control characters or lone surrogates."""
    if not isinstance(value, str):
        raise BadValueError("wrong_type", f"must be a string, not {json_type(value)}")
    if not 0 < len(value) <= MAX_ID_LENGTH:
        raise BadValueError(
            "bad_id", f"must have 1 to {MAX_ID_LENGTH} characters, not {len(value)}"
        )
    if any(unicodedata.category(c) in _FORBIDDEN_IN_IDS for c in value):
        raise BadValueError("bad_id", "must not contain control characters")
    return value


def text(value: object) -> str:
    """Free text for people (descriptions, reasons); may be empty."""
    if not isinstance(value, str):
        raise BadValueError("wrong_type", f"must be a string, not {json_type(value)}")
    if len(value) > MAX_TEXT_LENGTH:
        raise BadValueError("too_long", f"must have at most {MAX_TEXT_LENGTH} characters")
    return value


def boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise BadValueError("wrong_type", f"must be true or false, not {json_type(value)}")
    return value


def integer_in(low: int, high: int) -> Parse[int]:
    """A JSON integer within ``[low, high]``; ``1.0``, ``true`` and ``"1"`` are refused."""

    def parse(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadValueError("not_integer", f"must be an integer, not {json_type(value)}")
        if not low <= value <= high:
            raise BadValueError("out_of_range", f"must be within {low}..{high}")
        return value

    return parse


def enum_of(kind: type[E]) -> Parse[E]:
    """An enum member given by its value, e.g. ``"BUY"`` for ``Side.BUY``."""
    allowed = ", ".join(str(member.value) for member in kind)

    def parse(value: object) -> E:
        if not isinstance(value, str):
            raise BadValueError("wrong_type", f"must be a string, not {json_type(value)}")
        try:
            return kind(value)
        except ValueError:
            raise BadValueError("bad_enum", f"{shown(value)} is not one of {allowed}") from None

    return parse
