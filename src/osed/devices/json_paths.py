"""The JSON paths a device mapping may use, and payload templates for commands.

A path is ``$`` followed by steps: ``.name``, ``['any name']`` or ``[index]`` (``$.state.soc``,
``$.values[0]``, ``$['power (W)']``). It is parsed once, when the configuration is read, and
then only walked.

A command template is any JSON value. Strings in it may hold placeholders: ``{value}``,
``{command_id}``, ``{device}``, ``{action}``. A string that is exactly ``"{value}"`` becomes
the number itself; in a longer string the placeholders are replaced by their text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

Path = tuple[str | int, ...]

PLACEHOLDERS = frozenset({"value", "command_id", "device", "action"})
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_\-]*)|\[(\d+)\]|\['((?:[^'\\]|\\.)*)'\]")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_MISSING = object()


def parse_path(text: str) -> Path | None:
    """The steps of ``text``, or None when it is no path."""
    if not isinstance(text, str) or not text.startswith("$"):
        return None
    steps: list[str | int] = []
    at = 1
    while at < len(text):
        match = _STEP.match(text, at)
        if match is None:
            return None
        name, index, quoted = match.groups()
        if name is not None:
            steps.append(name)
        elif index is not None:
            steps.append(int(index))
        else:
            steps.append(re.sub(r"\\(.)", r"\1", quoted))
        at = match.end()
    return tuple(steps)


def walk(document: Any, path: Path) -> Any:
    """The value at ``path``, or :data:`MISSING` when the document has none there."""
    value = document
    for step in path:
        if isinstance(step, str):
            if not isinstance(value, dict):
                return _MISSING
            value = value.get(step, _MISSING)
        else:
            if not isinstance(value, list) or step >= len(value):
                return _MISSING
            value = value[step]
        if value is _MISSING:
            return _MISSING
    return value


MISSING = _MISSING
"""What :func:`walk` returns where a document has no value."""


def template_problems(template: Any, *, needs_value: bool) -> list[str]:
    """What is wrong with a command template (empty when nothing)."""
    found: set[str] = set()
    problems: list[str] = []
    for text in _strings(template):
        for name in _PLACEHOLDER.findall(text):
            if name not in PLACEHOLDERS:
                problems.append(
                    f"unknown placeholder {{{name}}}; known: "
                    + ", ".join(f"{{{p}}}" for p in sorted(PLACEHOLDERS))
                )
            found.add(name)
    if "command_id" not in found:
        problems.append("must carry {command_id}, which the device's acknowledgement returns")
    if needs_value and "value" not in found:
        problems.append("must carry {value}")
    if not needs_value and "value" in found:
        problems.append("this action carries no {value}")
    return problems


def render(template: Any, values: Mapping[str, str | float]) -> bytes:
    """The command payload: ``template`` with its placeholders filled from ``values``."""
    return json.dumps(_fill(template, values), separators=(",", ":")).encode()


def _fill(template: Any, values: Mapping[str, str | float]) -> Any:
    if isinstance(template, str):
        whole = _PLACEHOLDER.fullmatch(template)
        if whole is not None:
            return values[whole.group(1)]
        return _PLACEHOLDER.sub(lambda m: _text(values[m.group(1)]), template)
    if isinstance(template, Mapping):
        return {key: _fill(item, values) for key, item in template.items()}
    if isinstance(template, Sequence):
        return [_fill(item, values) for item in template]
    return template


def _text(value: str | float) -> str:
    return value if isinstance(value, str) else format(value, "g")


def _strings(template: Any) -> list[str]:
    if isinstance(template, str):
        return [template]
    if isinstance(template, Mapping):
        return [s for item in template.values() for s in _strings(item)]
    if isinstance(template, Sequence):
        return [s for item in template for s in _strings(item)]
    return []
