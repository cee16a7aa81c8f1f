"""Strict JSON text: finite numbers only, a depth limit, every problem with its line."""

from __future__ import annotations

import json
import math

import pytest

from osed.codec.json_text import MAX_DEPTH, dumps, loads, nesting_depth
from osed.domain.errors import ValidationError


def problem(text: str | bytes) -> tuple[str, str]:
    with pytest.raises(ValidationError) as caught:
        loads(text, subject="doc")
    (found,) = caught.value.problems
    return found.code, found.message


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1E+999"])
def test_non_finite_literals_are_refused_with_their_line_and_column(literal: str) -> None:
    assert problem(f'{{"a": 1,\n  "b": [2, {literal}]}}') == (
        "not_finite",
        f"line 2 column 12: {literal} is not a finite number",
    )


def test_the_largest_finite_numbers_and_underflow_are_accepted() -> None:
    assert loads("[1.7976931348623157e308, 1e-400]", subject="doc") == [
        1.7976931348623157e308,
        0.0,
    ]


def test_nesting_beyond_the_limit_is_refused_before_parsing() -> None:
    assert loads("[" * MAX_DEPTH + "]" * MAX_DEPTH, subject="doc") is not None
    code, message = problem("[" * 100_000 + "]" * 100_000)
    assert code == "too_deep"
    assert "100000 deep" in message


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ('{"a": [[1], [[2]]], "b": "[[[[{{"}', 4),
        ("[{[{}]}]", 4),
        ("[[[]],[]]", 3),
        ('["]]]]", ' + "[" * 150 + "]" * 150 + "]", 151),
        ('["\\"[[["' + ", []" * 200 + "]", 2),
    ],
)
def test_the_depth_ignores_brackets_inside_strings(text: str, depth: int) -> None:
    assert nesting_depth(text) == depth


def test_bytes_that_are_not_utf8_name_line_and_offset() -> None:
    assert problem(b'{"a":\n"\xff"}') == (
        "not_utf8",
        "line 2: byte 0xff at offset 7 is not UTF-8 (invalid start byte)",
    )


def test_output_never_holds_nan_or_infinity_and_names_the_path() -> None:
    assert json.loads(dumps({"a": [1.5, None]})) == {"a": [1.5, None]}
    with pytest.raises(ValidationError) as caught:
        dumps({"fills": [{"quantity": 1.0}, {"quantity": math.inf}]})
    assert caught.value.problems[0].path == "$.fills[1].quantity"
    with pytest.raises(ValidationError):
        dumps([math.nan])
