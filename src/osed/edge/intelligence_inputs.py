"""What the grid intelligence reads: the state estimation's node and branch messages, gathered
per estimate until its summary arrives, and load forecasts.

Node messages give ``voltmagnitude`` (V phase-to-ground): the highest and lowest phase in pu of
the node's rated (line-to-line) voltage. Branch messages give ``currmagnitude`` at the from end
and ``currmagnitude_to`` at the to end: the loading is the larger end's current over its rated
current. A forecast is one JSON document ``{"timestamp", "branches": {id: loading share},
"nodes": {id: voltage pu}}``, values expected over its horizon.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from osed.domain.errors import Problem, ValidationError
from osed.edge.intelligence_areas import SQRT3, AreaMap


@dataclass(slots=True)
class Observed:
    """One estimate's (or forecast's) values by condition: loading share per branch, highest
    and lowest voltage in pu per node."""

    loading: dict[str, float] = field(default_factory=dict)
    voltage_high: dict[str, float] = field(default_factory=dict)
    voltage_low: dict[str, float] = field(default_factory=dict)

    def by_condition(self) -> dict[str, dict[str, float]]:
        return {
            "overload": self.loading,
            "voltage_high": self.voltage_high,
            "voltage_low": self.voltage_low,
        }

    def voltage_pu(self) -> dict[str, float]:
        """Per node, the phase farthest from 1 pu (what volt-var answers to)."""
        return {
            node: high if high - 1.0 >= 1.0 - self.voltage_low.get(node, high) else low
            for node, high in self.voltage_high.items()
            for low in (self.voltage_low.get(node, high),)
        }


def _readings(payload: bytes) -> tuple[str, str, list[Mapping[str, Any]]] | None:
    try:
        document = json.loads(payload)
        readings = document["readings"]
        return str(document["component"]), str(document["timestamp"]), list(readings)
    except (ValueError, KeyError, TypeError):
        return None


def _values(readings: list[Mapping[str, Any]], measurand: str) -> list[float]:
    found = []
    for reading in readings:
        if isinstance(reading, Mapping) and reading.get("measurand") == measurand:
            value = reading.get("data")
            if isinstance(value, int | float) and math.isfinite(value):
                found.append(float(value))
    return found


class EstimateGatherer:
    """Node and branch messages by estimate timestamp; a summary hands its estimate over."""

    def __init__(self, areas: AreaMap, *, keep: int = 4) -> None:
        self._areas = areas
        self._pending: dict[str, Observed] = {}
        self._keep = keep

    def take(self, rest: str, payload: bytes) -> tuple[str, Observed | None, str] | None:
        """One message of the estimation (``rest``: its topic below the output prefix): a node
        or branch message is gathered (None); a summary hands its estimate over
        (:meth:`summary`)."""
        if rest.startswith("node/"):
            self.node(payload)
        elif rest.startswith("branch/"):
            self.branch(payload)
        elif rest == "summary":
            return self.summary(payload)
        return None

    def node(self, payload: bytes) -> None:
        parsed = _readings(payload)
        if parsed is None:
            return
        node, stamp, readings = parsed
        rated = self._areas.u_rated_v.get(node)
        volts = _values(readings, "voltmagnitude")
        if rated is None or not volts or rated <= 0:
            return
        observed = self._at(stamp)
        observed.voltage_high[node] = max(volts) * SQRT3 / rated
        observed.voltage_low[node] = min(volts) * SQRT3 / rated

    def branch(self, payload: bytes) -> None:
        parsed = _readings(payload)
        if parsed is None:
            return
        branch, stamp, readings = parsed
        rated = self._areas.branch_amps.get(branch)
        if rated is None:
            return
        shares = [a / rated[0] for a in _values(readings, "currmagnitude")]
        shares += [a / rated[1] for a in _values(readings, "currmagnitude_to")]
        if shares:
            self._at(stamp).loading[branch] = max(shares)

    def summary(self, payload: bytes) -> tuple[str, Observed | None, str]:
        """(timestamp, the estimate's values or None, its status) of a summary message;
        older estimates still gathering are dropped (their summary will not come first)."""
        try:
            document = json.loads(payload)
            stamp, status = str(document["timestamp"]), str(document.get("status", ""))
        except (ValueError, KeyError, TypeError):
            return "", None, "unreadable"
        observed = self._pending.pop(stamp, None)
        for older in [s for s in self._pending if s < stamp]:
            del self._pending[older]
        return stamp, (observed if status == "ok" else None), status

    def _at(self, stamp: str) -> Observed:
        observed = self._pending.get(stamp)
        if observed is None:
            while len(self._pending) >= self._keep:
                del self._pending[min(self._pending)]
            observed = self._pending[stamp] = Observed()
        return observed


def forecast(payload: bytes) -> tuple[datetime, Observed]:
    """A forecast document; every problem with its JSON path."""
    problems: list[Problem] = []
    try:
        document = json.loads(payload)
    except ValueError as exc:
        raise ValidationError([Problem("$", "bad_json", str(exc))], subject="forecast") from None
    if not isinstance(document, dict):
        raise ValidationError([Problem("$", "not_an_object", "a JSON object")], subject="forecast")
    at: datetime | None = None
    try:
        at = datetime.fromisoformat(str(document.get("timestamp")))
        if at.tzinfo is None:
            problems.append(Problem("$.timestamp", "no_timezone", "give a time zone"))
    except ValueError:
        problems.append(Problem("$.timestamp", "bad_time", "an ISO 8601 time with a zone"))
    observed = Observed()
    for key in document:
        if key not in ("timestamp", "branches", "nodes"):
            problems.append(Problem(f"$.{key}", "unexpected_key", "not a forecast field"))
    for section, target in (("branches", observed.loading), ("nodes", observed.voltage_high)):
        values = document.get(section, {})
        if not isinstance(values, dict):
            problems.append(Problem(f"$.{section}", "not_an_object", "element id → value"))
            continue
        for element, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                problems.append(Problem(f"$.{section}.{element}", "not_a_number", "a number"))
            elif not math.isfinite(value) or value < 0:
                problems.append(
                    Problem(f"$.{section}.{element}", "out_of_range", "finite, at least 0")
                )
            else:
                target[element] = float(value)
    if problems or at is None:
        raise ValidationError(problems, subject="forecast")
    observed.voltage_low = dict(observed.voltage_high)
    return at, observed
