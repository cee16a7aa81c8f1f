"""Reading input files (or standard input) for CLI commands, with errors that name the line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from osed.domain.errors import NotFoundError, Problem, ValidationError


def read_text(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    path = Path(source)
    if not path.is_file():
        raise NotFoundError(f"no such file: {source}")
    return path.read_text(encoding="utf-8")


def parse_json(text: str, *, subject: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            [Problem("$", "bad_json", f"line {exc.lineno} column {exc.colno}: {exc.msg}")],
            subject=subject,
        ) from exc


def print_json(value: object) -> None:
    sys.stdout.write(json.dumps(value, separators=(",", ":")) + "\n")
