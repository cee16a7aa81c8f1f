"""Reading input files (or standard input) for CLI commands.

Every command reads a user's file through :func:`read_text` and parses JSON through
:func:`parse_json`, so a missing file, a directory, bytes that are not UTF-8, NaN, overflowing
numbers and deep nesting are reported the same way everywhere: a ValidationError naming the
file and the line, never a traceback. Results are written by :mod:`osed.cli._output`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from osed.codec import json_text
from osed.domain.errors import NotFoundError

STDIN = "-"


def read_bytes(source: str) -> bytes:
    """The bytes of file ``source`` (``-``: standard input); a file that cannot be read is a
    NotFoundError saying why (exit 1), its content's problems are ValidationErrors (exit 2)."""
    if source == STDIN:
        stream = getattr(sys.stdin, "buffer", None)
        return stream.read() if stream is not None else sys.stdin.read().encode("utf-8")
    path = Path(source)
    if path.is_dir():
        raise NotFoundError(f"{source} is a directory, not a file")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"no such file: {source}") from None
    except OSError as exc:
        raise NotFoundError(f"cannot read {source}: {exc.strerror or exc}") from None


def read_text(source: str, *, subject: str = "input") -> str:
    """The UTF-8 text of file ``source`` (``-``: standard input)."""
    where = "<stdin>" if source == STDIN else source
    return json_text.decode_utf8(read_bytes(source), where=where, subject=subject)


def read_json(source: str, *, subject: str) -> Any:
    """The JSON document in file ``source`` (``-``: standard input)."""
    return parse_json(read_text(source, subject=subject), subject=subject)


def parse_json(text: str, *, subject: str) -> Any:
    return json_text.loads(text, subject=subject)
