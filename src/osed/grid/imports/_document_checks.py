"""Checks of an OSED network document before it is built: the header, and every value at its
own path (``$.components.line[0].r1``), so that NaN, infinities, absurd magnitudes and wrong
types are named as what they are rather than as "missing" by power-grid-model."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from osed.domain.errors import Problem
from osed.grid.network import REFERENCES

VERSION = 1
# No quantity of a distribution grid model exceeds this in SI units (V, Ω, S, W, var, VA, A):
# beyond it the solver's numbers mean nothing. An ideal source's short-circuit power is written
# as 1e18 VA (the pandapower import does so), which must stay inside.
MAGNITUDE_LIMIT = 1e20
MAX_FREQUENCY_HZ = 1000.0
MIN_RATED_VOLTAGE_V = 1.0  # below it a node's per-unit base is meaningless to the solver
_ROW_KEYS = ("id", "name", "x", "y")


def header_problems(document: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    if "version" in document and (
        isinstance(document["version"], bool) or document["version"] != VERSION
    ):
        problems.append(
            Problem(
                "$.version",
                "unsupported_version",
                f"version {document['version']!r}: this OSED reads version {VERSION}",
            )
        )
    if "name" in document and not isinstance(document["name"], str):
        problems.append(Problem("$.name", "not_a_string", "expected a string"))
    if "frequency_hz" in document:
        frequency = document["frequency_hz"]
        if not _is_number(frequency) or not 0 < frequency <= MAX_FREQUENCY_HZ:
            problems.append(
                Problem(
                    "$.frequency_hz",
                    "out_of_range",
                    f"expected a number in (0, {MAX_FREQUENCY_HZ:g}] Hz, got {frequency!r}",
                )
            )
    return problems


def row_problems(kind: str, row: Mapping[str, Any], path: str) -> list[Problem]:
    """The values of one component row, each checked at its path."""
    problems: list[Problem] = []
    if "name" in row and not isinstance(row["name"], str):
        problems.append(Problem(f"{path}.name", "not_a_string", "expected a string"))
    if ("x" in row) != ("y" in row):
        problems.append(Problem(path, "half_coordinates", "give both x and y, or neither"))
    for axis in ("x", "y"):
        if axis in row:
            problems.extend(_number_problems(row[axis], f"{path}.{axis}"))
    references = REFERENCES.get(kind, ())
    for attribute, value in row.items():
        if attribute in _ROW_KEYS:
            continue
        where = f"{path}.{attribute}"
        if attribute in references:
            if isinstance(value, bool) or not isinstance(value, str | int):
                problems.append(Problem(where, "bad_reference", "expected a component id"))
        elif isinstance(value, list):
            for n, item in enumerate(value):
                problems.extend(_number_problems(item, f"{where}[{n}]"))
        else:
            problems.extend(_number_problems(value, where))
            if attribute == "u_rated" and _is_number(value) and 0 < value < MIN_RATED_VOLTAGE_V:
                problems.append(
                    Problem(where, "too_small", f"{value:g} V is below {MIN_RATED_VOLTAGE_V:g} V")
                )
    return problems


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _number_problems(value: object, path: str) -> list[Problem]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return [Problem(path, "not_a_number", f"expected a number, got {value!r}")]
    if not math.isfinite(value):
        return [Problem(path, "not_finite", f"must be a finite number, got {value!r}")]
    if abs(value) > MAGNITUDE_LIMIT:
        return [Problem(path, "too_large", f"{value:g} is beyond {MAGNITUDE_LIMIT:g}")]
    return []
