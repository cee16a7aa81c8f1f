"""Reading the fields of a grid function's JSON document, collecting every problem with its
JSON path instead of stopping at the first."""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from osed.domain.errors import Problem, ValidationError
from osed.domain.problems import Problems


class FieldReader:
    """Reads numbers, lists and objects at JSON paths; each problem goes to ``problems``, and a
    reader method then returns a harmless placeholder so that reading goes on."""

    def __init__(self, subject: str) -> None:
        self.problems = Problems(subject)

    def root(self, document: Any) -> Mapping[str, Any]:
        """The document, which must be an object; nothing else can be read otherwise."""
        if isinstance(document, Mapping):
            return document
        problem = Problem("$", "not_object", "the document must be a JSON object")
        raise ValidationError([problem], subject=self.problems.subject)

    def object(self, raw: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(raw, Mapping):
            self.problems.add(path, "not_object", "must be an object")
            return {}
        return raw

    def unknown_keys(self, raw: Mapping[str, Any], path: str, known: Sequence[str]) -> None:
        for key in raw:
            if key not in known:
                self.problems.add(
                    f"{path}.{key}", "unknown_field", f"not a field; known: {', '.join(known)}"
                )

    def number(
        self,
        parent: Mapping[str, Any],
        key: str,
        path: str,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        above: float | None = None,
        default: float | None = None,
    ) -> float:
        where = f"{path}.{key}"
        if key not in parent:
            if default is None:
                self.problems.add(where, "missing", "required")
                return math.nan
            return default
        return self.value(parent[key], where, minimum=minimum, maximum=maximum, above=above)

    def optional_number(
        self,
        parent: Mapping[str, Any],
        key: str,
        path: str,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float | None:
        if parent.get(key) is None:
            return None
        return self.value(parent[key], f"{path}.{key}", minimum=minimum, maximum=maximum)

    def value(
        self,
        raw: Any,
        where: str,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        above: float | None = None,
    ) -> float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            self.problems.add(where, "not_a_number", "must be a number")
            return math.nan
        if not math.isfinite(raw):
            self.problems.add(where, "not_finite", "must be a finite number")
            return math.nan
        value = float(raw)
        if minimum is not None and value < minimum:
            self.problems.add(where, "too_small", f"{value:g} is below {minimum:g}")
        elif maximum is not None and value > maximum:
            self.problems.add(where, "too_large", f"{value:g} is above {maximum:g}")
        elif above is not None and value <= above:
            self.problems.add(where, "too_small", f"{value:g} must be above {above:g}")
        return value

    def integer(
        self,
        parent: Mapping[str, Any],
        key: str,
        path: str,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
        default: int | None = None,
    ) -> int:
        where = f"{path}.{key}"
        if key not in parent:
            if default is None:
                self.problems.add(where, "missing", "required")
                return 0
            return default
        raw = parent[key]
        if isinstance(raw, bool) or not isinstance(raw, int | float) or raw != int(raw):
            self.problems.add(where, "not_an_integer", "must be a whole number")
            return 0
        value = int(raw)
        if minimum is not None and value < minimum:
            self.problems.add(where, "too_small", f"{value} is below {minimum}")
        elif maximum is not None and value > maximum:
            self.problems.add(where, "too_large", f"{value} is above {maximum}")
        return value

    def string(self, parent: Mapping[str, Any], key: str, path: str) -> str:
        if key not in parent:
            self.problems.add(f"{path}.{key}", "missing", "required")
            return ""
        raw = parent[key]
        if not isinstance(raw, str) or not raw:
            self.problems.add(f"{path}.{key}", "not_a_string", "must be a non-empty string")
            return ""
        return raw

    def items(
        self,
        parent: Mapping[str, Any],
        key: str,
        path: str,
        *,
        min_length: int = 1,
        max_length: int | None = None,
    ) -> list[Any]:
        """The list at ``key``; one over ``max_length`` is not read item by item (nothing)."""
        where = f"{path}.{key}"
        if key not in parent:
            self.problems.add(where, "missing", "required")
            return []
        raw = parent[key]
        if not isinstance(raw, Sequence) or isinstance(raw, str):
            self.problems.add(where, "not_a_list", "must be a list")
            return []
        if len(raw) < min_length:
            self.problems.add(where, "too_short", f"needs at least {min_length} item(s)")
        if max_length is not None and len(raw) > max_length:
            self.problems.add(where, "too_long", f"has {len(raw)} items, at most {max_length}")
            return []
        return list(raw)

    def series(
        self,
        parent: Mapping[str, Any],
        key: str,
        path: str,
        length: int | None,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        constant: bool = True,
    ) -> list[float]:
        """A list of ``length`` numbers (``length`` None: any); with ``constant``, a single
        number stands for a constant series. Items that are not numbers read as NaN."""
        where = f"{path}.{key}"
        raw = parent.get(key)
        if constant and isinstance(raw, int | float) and not isinstance(raw, bool):
            return [self.value(raw, where, minimum=minimum, maximum=maximum)] * (length or 1)
        items = self.items(parent, key, path)
        if items and length is not None and len(items) != length:
            self.problems.add(where, "wrong_length", f"has {len(items)} values, needs {length}")
        if _all_within(items, minimum, maximum):  # the common case, without a call per item
            return [float(item) for item in items]
        return [
            self.value(item, f"{where}[{index}]", minimum=minimum, maximum=maximum)
            for index, item in enumerate(items)
        ]

    def unique_ids(self, ids: Sequence[str], path: str, key: str = "id") -> None:
        seen: set[str] = set()
        for index, identifier in enumerate(ids):
            if identifier and identifier in seen:
                self.problems.add(f"{path}[{index}].{key}", "duplicate", f"{identifier!r} again")
            seen.add(identifier)

    def check(self) -> None:
        self.problems.check()


def _all_within(items: Sequence[Any], minimum: float | None, maximum: float | None) -> bool:
    """True when every item is a finite number within the bounds (no problem to report)."""
    low = -sys.float_info.max if minimum is None else minimum  # rules out ±inf and NaN too
    high = sys.float_info.max if maximum is None else maximum
    return all((type(item) is float or type(item) is int) and low <= item <= high for item in items)
