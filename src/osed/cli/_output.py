"""One rule for every command's standard output: JSON for programs, text for people.

A command prints JSON when standard output is not a terminal (piped, redirected, captured) or
when ``--json`` is given, and a readable table or summary on a terminal. JSON is compact, one
document (or one per line for streams), and strict: a result holding NaN or Infinity is not
printed but is an error naming the value's JSON path (exit 1), because null would pass a
missing number off as a value. Standard output carries only the result; notes, progress and
logs go to standard error.

This module imports only the standard library and the small strict JSON codec: every command
registers through it.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from osed.codec import json_text
from osed.domain.errors import OsedError, ValidationError

JSON_HELP = "print JSON (the default when standard output is not a terminal)"


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` and every sub-command below it the ``--json`` flag."""
    subcommands = [
        action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
    ]
    if not subcommands:
        if "--json" not in parser._option_string_actions:
            parser.add_argument("--json", action="store_true", help=JSON_HELP)
        return
    for action in subcommands:
        for child in dict.fromkeys(action.choices.values()):  # aliases share one parser
            add_json_flag(child)


def wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False)) or not sys.stdout.isatty()


def emit(result: Any, human: Callable[[Any], str], args: argparse.Namespace) -> None:
    """Print ``result`` as JSON, or as ``human(result)`` on a terminal."""
    if wants_json(args):
        print_json(result)
    else:
        sys.stdout.write(human(result).rstrip("\n") + "\n")


def emit_lines(
    results: Iterable[Any], human: Callable[[list[Any]], str], args: argparse.Namespace
) -> None:
    """A stream: one JSON document per line, or ``human(all results)`` on a terminal."""
    if wants_json(args):
        for result in results:
            print_json(result)
        return
    text = human(list(results)).rstrip("\n")
    if text:
        sys.stdout.write(text + "\n")


def print_json(value: Any) -> None:
    """One line of compact JSON on standard output, also on a terminal."""
    sys.stdout.write(to_json(value) + "\n")


def to_json(value: Any) -> str:
    """Compact, strict JSON; a NaN or an infinity is an OsedError naming its path (exit 1: the
    input was accepted, the result cannot be written), so nothing of it is printed."""
    try:
        return json_text.dumps(value)
    except ValidationError as exc:
        where = exc.problems[0].path
        raise OsedError(f"the result holds a non-finite number at {where}; not printed") from None


def note(message: str) -> None:
    """A remark for the person at the terminal (or the log): standard error."""
    sys.stderr.write(message.rstrip("\n") + "\n")


# ------------------------------------------------------------------------ text rendering


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain text table: columns padded, numbers right-aligned."""
    cells = [[_cell(value) for value in row] for row in rows]
    numeric = [
        bool(cells) and all(_is_number(row[k]) for row in cells if row[k] != "")
        for k in range(len(headers))
    ]
    widths = [
        max([len(header), *(len(row[k]) for row in cells)]) for k, header in enumerate(headers)
    ]
    lines = [_line(headers, widths, [False] * len(headers))]
    lines.append("  ".join("-" * width for width in widths))
    lines += [_line(row, widths, numeric) for row in cells]
    return "\n".join(lines)


def fields(pairs: Iterable[tuple[str, Any]]) -> str:
    """``label  value`` lines, labels aligned."""
    items = [(label, _cell(value)) for label, value in pairs]
    width = max((len(label) for label, _ in items), default=0)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in items)


def number(value: Any, digits: int = 6) -> str:
    """A number as a person reads it: no exponent for everyday sizes, no trailing zeros."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return "-"
    if value != 0 and not 1e-4 <= abs(value) < 1e12:
        return f"{value:.{digits}g}"
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _cell(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float) or value is None:
        return number(value)
    if isinstance(value, dict):
        return ", ".join(f"{key} {_cell(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_cell(item) for item in value)
    return str(value)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text == "-"
    return True


def _line(cells: Sequence[str], widths: Sequence[int], right: Sequence[bool]) -> str:
    parts = [
        cell.rjust(width) if align else cell.ljust(width)
        for cell, width, align in zip(cells, widths, right, strict=True)
    ]
    return "  ".join(parts).rstrip()


def document_text(value: Any, title: str = "") -> str:
    """Any JSON result as text: scalars as aligned fields, lists of records and equal-length
    series as tables, nested objects as titled sections."""
    if isinstance(value, list):
        return _list_text(value, title)
    if not isinstance(value, dict):
        return f"{title}  {_cell(value)}" if title else _cell(value)
    scalars = [(key, item) for key, item in value.items() if not _is_nested(item)]
    parts = [title] if title else []
    if scalars:
        parts.append(fields(scalars))
    series = {key: item for key, item in value.items() if _is_series(item)}
    lengths = {len(item) for item in series.values()}
    if len(lengths) == 1:
        rows = zip(range(lengths.pop()), *series.values(), strict=False)
        parts.append(table(["step", *series], rows))
    else:
        series = {}
    for key, item in value.items():
        if _is_nested(item) and key not in series:
            parts.append(document_text(item, f"{title}.{key}" if title else key))
    return "\n\n".join(part for part in parts if part)


def _list_text(items: list[Any], title: str) -> str:
    if not items:
        return f"{title}  none" if title else "none"
    if all(isinstance(item, dict) and not any(map(_is_nested, item.values())) for item in items):
        headers = list(dict.fromkeys(key for item in items for key in item))
        rows = ([item.get(key, "") for key in headers] for item in items)
        return f"{title}\n{table(headers, rows)}" if title else table(headers, rows)
    if all(isinstance(item, dict) for item in items):
        return "\n\n".join(
            document_text(item, f"{title}[{item.get('id', index)}]")
            for index, item in enumerate(items)
        )
    return f"{title}  {_cell(items)}" if title else _cell(items)


def _is_nested(value: Any) -> bool:
    if isinstance(value, dict):
        return bool(value)
    if isinstance(value, list):
        return any(isinstance(item, dict | list) for item in value) or _is_series(value)
    return False


def _is_series(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) > 1
        and all(isinstance(item, int | float) and not isinstance(item, bool) for item in value)
    )
