"""The grid state a grid-level manager without OSED's estimator puts for an EDC's area
(``PUT /api/v1/edcs/{id}/grid-state``), checked whole: every problem with its JSON path, and
nothing applied unless there is none.

    {"estimated_at": "2026-01-05T12:00:00+00:00",   optional, default: when it arrives
     "voltages_pu": {"n4": 1.07},                    finite, above 0
     "loading": {"l5": 0.93}}                         share of rating, finite, at least 0

With a network model, every node and branch must lie at or below the EDC's element.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from osed.domain.errors import Problem, ValidationError
from osed.domain.problems import Problems
from osed.edge.grid_state import grid_state
from osed.edge.intelligence_areas import Area

SUBJECT = "grid state"
FIELDS = ("estimated_at", "voltages_pu", "loading")
TIME_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$"
)
FUTURE_SKEW = timedelta(minutes=5)
"""How far ahead of the manager's clock a state's time may be (clocks differ a little)."""
_TIME = re.compile(TIME_PATTERN)


def read_grid_state(
    document: object, *, element: str, area: Area | None, checked: bool, now: datetime
) -> dict[str, Any]:
    """The state to give the EDC at ``element``; ``checked``: a network model is configured,
    so ids must lie in ``area`` (None: the element is fed from no source, nothing lies below
    it)."""
    if not isinstance(document, Mapping):
        raise ValidationError([Problem("$", "not_an_object", "a JSON object")], subject=SUBJECT)
    problems = Problems(SUBJECT)
    for key in document:
        if key not in FIELDS:
            problems.add(f"$.{key}", "unexpected_key", f"not one of {', '.join(FIELDS)}")
    at = _time(document.get("estimated_at"), now, problems)
    nodes = None if not checked else (area.nodes if area else frozenset())
    branches = None if not checked else (area.branches if area else frozenset())
    voltages = _values(document, "voltages_pu", nodes, element, problems, positive=True)
    loading = _values(document, "loading", branches, element, problems, positive=False)
    problems.check()
    return grid_state(at=at, source="api", element=element, voltages_pu=voltages, loading=loading)


def _time(raw: object, now: datetime, problems: Problems) -> datetime:
    if raw is None:
        return now
    if not isinstance(raw, str) or not _TIME.match(raw):
        problems.add("$.estimated_at", "bad_time", "an RFC 3339 time with its zone")
        return now
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        problems.add("$.estimated_at", "bad_time", f"{raw!r} is not a valid time")
        return now
    if at - now > FUTURE_SKEW:
        problems.add("$.estimated_at", "in_future", f"later than {FUTURE_SKEW} from now")
    return at


def _values(
    document: Mapping[str, Any],
    section: str,
    known: frozenset[str] | None,
    element: str,
    problems: Problems,
    *,
    positive: bool,
) -> dict[str, float]:
    raw = document.get(section, {})
    if not isinstance(raw, Mapping):
        problems.add(f"$.{section}", "not_an_object", "element id → number")
        return {}
    values: dict[str, float] = {}
    for key, value in raw.items():
        path = f"$.{section}.{key}"
        if known is not None and key not in known:
            problems.add(path, "not_in_area", f"{key!r} is not at or below {element!r}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.add(path, "not_a_number", "a number")
            continue
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number) or number < 0 or (positive and number == 0):
            bound = "above 0" if positive else "at least 0"
            problems.add(path, "out_of_range", f"finite, {bound}")
            continue
        values[key] = number
    return values
