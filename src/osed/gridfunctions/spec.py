"""The plugin API of grid functions.

A grid function is an object with a :class:`Manifest` and two ways to run:

- ``run(document)``: offline, on one JSON document, returning a JSON-able result (``osed
  grid-function run NAME FILE``). It raises :class:`ValidationError` naming every problem of
  the document with its JSON path.
- ``open(parameters, area)``: live, inside an EDGE DERMS Coordinator. It returns a
  :class:`Session` that the coordinator drives with the area's state, the buildings' messages
  and a periodic tick; the session answers with :class:`Outbound` messages for the buildings on
  the function's outbound channel. Parameters reach it already checked against the manifest.

Sessions never do I/O: the coordinator owns the channels, the clock and the storage, so the same
session runs in the live platform, in simulations and in tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from osed.domain.errors import Problem, ValidationError

ParameterKind = Literal["number", "integer", "string", "boolean", "series", "object"]
Direction = Literal["outbound", "inbound"]
"""``outbound``: EDC to buildings; ``inbound``: buildings to EDC."""

DEFAULT_MAX_BYTES = 64 * 1024


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""The default of a parameter that must be given."""

# Units a parameter value may be given in, as factors to the unit the manifest declares.
_UNIT_FAMILIES: tuple[dict[str, float], ...] = (
    {"W": 1e-3, "kW": 1.0, "MW": 1e3},
    {"Wh": 1e-3, "kWh": 1.0, "MWh": 1e3},
    {"var": 1e-3, "kvar": 1.0, "Mvar": 1e3},
    {"VA": 1e-3, "kVA": 1.0, "MVA": 1e3},
    {"s": 1.0, "min": 60.0, "h": 3600.0},
    {"V": 1.0, "kV": 1e3},
    {"pu": 1.0},
    {"%": 1.0},
    {"degC": 1.0},
    {"K": 1.0},
    {"per_kWh": 1.0},
)


def unit_factor(given: str, declared: str) -> float | None:
    """The factor that turns a value in ``given`` into ``declared``; None if they differ in kind."""
    if given == declared:
        return 1.0
    for family in _UNIT_FAMILIES:
        if given in family and declared in family:
            return family[given] / family[declared]
    return None


@dataclass(frozen=True, slots=True)
class Parameter:
    """One parameter of a grid function, as the manifest declares it."""

    name: str
    description: str
    kind: ParameterKind = "number"
    unit: str = ""
    """The unit the function works in; a value may be given as ``{"value": x, "unit": u}`` in
    any unit of the same kind (kW, W, MW; s, min, h; …) and is converted."""
    minimum: float | None = None
    maximum: float | None = None
    default: Any = REQUIRED
    choices: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        described: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "kind": self.kind,
            "unit": self.unit,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "required": self.default is REQUIRED,
        }
        if self.default is not REQUIRED:
            described["default"] = self.default
        if self.choices:
            described["choices"] = list(self.choices)
        return described


@dataclass(frozen=True, slots=True)
class MessageType:
    """A message type a function's channel carries, with its size limit."""

    name: str
    direction: Direction
    description: str = ""
    max_bytes: int = DEFAULT_MAX_BYTES

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "direction": self.direction,
            "description": self.description,
            "max_bytes": self.max_bytes,
        }


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a grid function is, which parameters it takes and which messages it exchanges."""

    name: str
    version: str
    description: str
    parameters: tuple[Parameter, ...] = ()
    messages: tuple[MessageType, ...] = ()

    def message(self, name: str, direction: Direction) -> MessageType | None:
        for declared in self.messages:
            if declared.name == name and declared.direction == direction:
                return declared
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "parameters": [p.to_dict() for p in self.parameters],
            "messages": [m.to_dict() for m in self.messages],
        }

    def check_parameters(self, given: object, *, path: str = "$") -> dict[str, Any]:
        """The parameters with defaults filled in and units converted to the declared ones;
        :class:`ValidationError` names every problem (unknown, missing, wrong type or unit, out
        of range) at ``path.name``."""
        problems: list[Problem] = []
        if not isinstance(given, Mapping):
            raise ValidationError(
                [Problem(path, "not_object", "parameters must be an object")],
                subject=f"{self.name} parameters",
            )
        declared = {p.name: p for p in self.parameters}
        for name in given:
            if name not in declared:
                known = ", ".join(declared) or "none"
                problems.append(
                    Problem(
                        f"{path}.{name}", "unknown_parameter", f"not a parameter; known: {known}"
                    )
                )
        checked: dict[str, Any] = {}
        for parameter in self.parameters:
            where = f"{path}.{parameter.name}"
            # An explicit null for a parameter whose default is "absent" is that default, so
            # checked parameters pass the check again (the EDC checks, then ``open`` may too).
            absent = parameter.default is None and given.get(parameter.name, 0) is None
            if parameter.name not in given or absent:
                if parameter.default is REQUIRED:
                    problems.append(Problem(where, "missing", "required"))
                else:
                    checked[parameter.name] = parameter.default
                continue
            value, found = _checked_value(parameter, given[parameter.name], where)
            problems.extend(found)
            if not found:
                checked[parameter.name] = value
        if problems:
            raise ValidationError(problems, subject=f"{self.name} parameters")
        return checked


def _checked_value(parameter: Parameter, raw: Any, where: str) -> tuple[Any, list[Problem]]:
    factor = 1.0
    if isinstance(raw, Mapping) and "value" in raw and parameter.kind in ("number", "series"):
        unit = raw.get("unit", parameter.unit)
        extra = sorted(set(raw) - {"value", "unit"})
        if extra:
            return None, [Problem(where, "bad_quantity", f"unexpected keys {extra}")]
        converted = unit_factor(str(unit), parameter.unit) if parameter.unit else None
        if converted is None and unit != parameter.unit:
            expected = parameter.unit or "no unit"
            return None, [Problem(where, "wrong_unit", f"unit {unit!r} is not {expected}")]
        factor = converted if converted is not None else 1.0
        raw = raw["value"]
    if parameter.kind == "series":
        if not isinstance(raw, Sequence) or isinstance(raw, str):
            return None, [Problem(where, "not_a_series", "must be a list of numbers")]
        values: list[float] = []
        problems: list[Problem] = []
        for index, item in enumerate(raw):
            number, found = _number(parameter, item, f"{where}[{index}]", factor)
            problems.extend(found)
            values.append(number)
        return values, problems
    if parameter.kind in ("number", "integer"):
        return _number(parameter, raw, where, factor)
    if parameter.kind == "string":
        if not isinstance(raw, str):
            return None, [Problem(where, "not_a_string", "must be a string")]
        if parameter.choices and raw not in parameter.choices:
            allowed = ", ".join(parameter.choices)
            return None, [Problem(where, "not_a_choice", f"must be one of {allowed}")]
        return raw, []
    if parameter.kind == "boolean":
        if not isinstance(raw, bool):
            return None, [Problem(where, "not_a_boolean", "must be true or false")]
        return raw, []
    if not isinstance(raw, Mapping):
        return None, [Problem(where, "not_object", "must be an object")]
    return dict(raw), []


def _number(parameter: Parameter, raw: Any, where: str, factor: float) -> tuple[Any, list[Problem]]:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return math.nan, [Problem(where, "not_a_number", "must be a number")]
    if not math.isfinite(raw):
        return math.nan, [Problem(where, "not_finite", "must be a finite number")]
    if parameter.kind == "integer":
        if factor != 1.0 or raw != int(raw):
            return math.nan, [Problem(where, "not_an_integer", "must be a whole number")]
        value: float | int = int(raw)
    else:
        value = float(raw) * factor
    unit = f" {parameter.unit}" if parameter.unit else ""
    if parameter.minimum is not None and value < parameter.minimum:
        return value, [
            Problem(where, "too_small", f"{value:g}{unit} is below {parameter.minimum:g}{unit}")
        ]
    if parameter.maximum is not None and value > parameter.maximum:
        return value, [
            Problem(where, "too_large", f"{value:g}{unit} is above {parameter.maximum:g}{unit}")
        ]
    return value, []


# ------------------------------------------------------------------------------- live sessions


@dataclass(frozen=True, slots=True)
class AreaView:
    """What a session sees of its electric area at one moment."""

    area_id: str
    now: datetime
    buildings: tuple[str, ...]
    """The buildings enrolled in this function of this EDC."""
    state: Mapping[str, Any] = field(default_factory=dict)
    """The area's latest measurements and estimates, e.g. ``demand_kw``, ``production_kw``,
    ``voltages_pu`` {node: pu}, ``loading`` {branch: share of rating}, per-building
    ``building_kw`` {id: kW} with ``building_reported_at`` {id: ISO time of that report};
    whatever the coordinator has."""


@dataclass(frozen=True, slots=True)
class Outbound:
    """A message from the EDC to one building, or to every enrolled building (``building_id``
    None), of a type the manifest declares ``outbound``."""

    message_type: str
    body: Mapping[str, Any]
    building_id: str | None = None


@dataclass(frozen=True, slots=True)
class Inbound:
    """A message a building sent on the function's inbound channel, already authenticated and
    checked against the manifest (type, size) by the function's user manager."""

    building_id: str
    message_type: str
    body: Mapping[str, Any]
    received_at: datetime


@runtime_checkable
class Session(Protocol):
    """One function running in one EDC."""

    def start(self, area: AreaView) -> list[Outbound]:
        """The first requests, when the function is assigned."""
        ...

    def on_message(self, message: Inbound, area: AreaView) -> list[Outbound]:
        """A building's message; answers with what to send next (may be nothing)."""
        ...

    def on_tick(self, area: AreaView) -> list[Outbound]:
        """Called every control cycle with the area's latest state: deadlines, re-planning,
        limits to enforce."""
        ...

    def status(self) -> dict[str, Any]:
        """The function's state for the API (JSON-able)."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """What a restarted coordinator needs to resume the session (JSON-able)."""
        ...

    def close(self, area: AreaView) -> list[Outbound]:
        """The function is removed: the messages that undo its effect (restorations)."""
        ...


@runtime_checkable
class GridFunction(Protocol):
    """What the ``osed.grid_functions`` entry points name."""

    @property
    def manifest(self) -> Manifest: ...

    def run(self, document: Any) -> dict[str, Any]:
        """Offline: the function on one document, its result as JSON-able values."""
        ...

    def open(
        self,
        parameters: Mapping[str, Any],
        area: AreaView,
        *,
        resume: Mapping[str, Any] | None = None,
    ) -> Session:
        """Live: a session with checked parameters (from ``resume``, a snapshot, if given)."""
        ...


SessionFactory = Callable[[Mapping[str, Any], Mapping[str, Any] | None], Session]
"""Makes a session from checked parameters and, on a restart, its snapshot."""


@dataclass(frozen=True, slots=True)
class ComposedFunction:
    """A grid function put together from its manifest, its offline runner and its session
    factory: what most functions are, without a class of their own."""

    manifest: Manifest
    run_document: Callable[[Any], dict[str, Any]]
    new_session: SessionFactory

    def run(self, document: Any) -> dict[str, Any]:
        return self.run_document(document)

    def open(
        self,
        parameters: Mapping[str, Any],
        area: AreaView,
        *,
        resume: Mapping[str, Any] | None = None,
    ) -> Session:
        return self.new_session(parameters, resume)
