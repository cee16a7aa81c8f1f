"""Incoming SOGNO readings as estimation measurements: the sensor map of the state-estimation
service (docs/grid-estimation-service.md, "Sensors").

A reading is identified by (component, measurand, phase). A *listed* sensor maps it onto a
network element (its ``element``, by default the component itself, and for a branch its
``side``) with its own ``sigma`` or its family's default. A reading that is not listed is used
when its family has a ``default_sigma`` and its component is a node (voltages, injections) or
an appliance (powers) of the network; a branch reading must be listed (it needs a side).

Default sigmas are relative to the reading (``voltage``, ``power``, ``current``: a fraction of
``|value|``, at least ``min_sigma``); the ``angle`` family's is absolute, in radians.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from osed.domain.errors import Problem, ValidationError
from osed.grid.measurements import MEASURANDS, Measurement, parse_measurements
from osed.grid.network import APPLIANCES, Network

#: The sigma family of each measurand (``default_sigma`` and ``min_sigma`` are keyed by it).
FAMILY: dict[str, str] = {
    "voltmagnitude": "voltage",
    "voltangle": "angle",
    "activepower": "power",
    "reactivepower": "power",
    "currmagnitude": "current",
    "currangle": "angle",
}
FAMILIES: tuple[str, ...] = ("voltage", "power", "current", "angle")
#: Below these sigmas (V, W or var, A, rad) a default sigma never goes.
MIN_SIGMA: dict[str, float] = {"voltage": 1.0, "power": 100.0, "current": 0.1, "angle": 1e-4}
#: The solver sensor a measurand belongs to; the measurands each one needs.
_PAIR = {
    "voltmagnitude": "volt",
    "voltangle": "volt",
    "activepower": "power",
    "reactivepower": "power",
    "currmagnitude": "curr",
    "currangle": "curr",
}
_NEEDS = {
    "volt": ("voltmagnitude",),
    "power": ("activepower", "reactivepower"),
    "curr": ("currmagnitude", "currangle"),
}
#: Readings whose resolution (slot or None) is remembered; beyond that the cache starts over.
MAX_CACHED = 100_000


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """One listed sensor: the reading (component, measurand, phase) and what it measures."""

    component: str
    measurand: str
    phase: str = "ABC"
    element: str | None = None  # default: the component
    side: str = ""  # for branches: from, to (1, 2, 3 for three-winding transformers)
    sigma: float | None = None  # default: the family's default_sigma

    @property
    def target(self) -> str:
        return self.element if self.element is not None else self.component


@dataclass(frozen=True, slots=True)
class Slot:
    """One sensor reading position: what arrives and the measurement it becomes."""

    component: str
    measurand: str
    phase: str
    template: Measurement  # element, side and meter resolved; value and sigma filled per use
    sigma: float | None  # the listed sigma, or None for the family default
    listed: bool
    group: tuple[str, str, str, str]  # element, side, solver sensor (volt|power|curr), meter

    @property
    def family(self) -> str:
        return FAMILY[self.measurand]


class SensorMap:
    """Resolves readings to slots and slots to measurements, for one network.

    Raises :class:`ValidationError` naming every listed sensor the network cannot take
    (``$.sensors[2].element``: unknown, wrong kind, a branch without ``side`` …)."""

    def __init__(
        self,
        network: Network,
        sensors: Sequence[SensorSpec],
        *,
        default_sigma: Mapping[str, float],
        min_sigma: Mapping[str, float],
    ) -> None:
        self.network = network
        self.default_sigma = dict(default_sigma)
        self.min_sigma = {**MIN_SIGMA, **min_sigma}
        self.slots: list[Slot] = []
        self._index: dict[tuple[str, str, str], int | None] = {}
        self._listed: dict[tuple[str, str, str], int] = {}
        self._reserved: set[tuple[str, str, str, str, str]] = set()
        items = [
            {
                "element": spec.target,
                "measurand": spec.measurand,
                "phase": spec.phase,
                "side": spec.side,
                "value": 1.0,
                "sigma": spec.sigma if spec.sigma is not None else 1.0,
            }
            for spec in sensors
        ]
        try:
            parsed = parse_measurements(items, network) if items else []
        except ValidationError as exc:
            raise ValidationError(
                [Problem("$.sensors" + p.path[1:], p.code, p.message) for p in exc.problems],
                subject="estimation sensors",
            ) from None
        for spec, measurement in zip(sensors, parsed, strict=True):
            slot = self._add(
                spec.component, spec.measurand, spec.phase, measurement, spec.sigma, listed=True
            )
            self._listed[(spec.component, spec.measurand, spec.phase)] = slot
            self._reserved.add(_target(measurement))
        self.required: tuple[int, ...] = tuple(sorted(self._listed.values()))

    def _add(
        self,
        component: str,
        measurand: str,
        phase: str,
        template: Measurement,
        sigma: float | None,
        *,
        listed: bool,
    ) -> int:
        group = (template.element, template.side, _PAIR[measurand], template.sensor)
        slot = Slot(
            component,
            measurand,
            phase,
            replace(template, value=0.0, sigma=math.nan),
            sigma,
            listed,
            group,
        )
        self.slots.append(slot)
        index = len(self.slots) - 1
        self._index[(component, measurand, phase)] = index
        return index

    def slot(self, component: str, measurand: str, phase: str) -> int | None:
        """The slot of a reading, or None when the service does not use it."""
        key = (component, measurand, phase)
        if key in self._listed:
            return self._listed[key]
        if key in self._index:
            return self._index[key]
        found = self._unlisted(component, measurand, phase)
        if len(self._index) >= MAX_CACHED:
            # Unused resolutions only: the slots in use keep their index.
            self._index = {k: v for k, v in self._index.items() if v is not None}
        if found is None:
            self._index[key] = None
            return None
        return self._add(component, measurand, phase, found, None, listed=False)

    def _unlisted(self, component: str, measurand: str, phase: str) -> Measurement | None:
        family = FAMILY.get(measurand)
        if family is None or family not in self.default_sigma or measurand not in MEASURANDS:
            return None
        if not self.network.has(component):
            return None
        kind = self.network.kind(component)
        if measurand.startswith("volt") and kind != "node":
            return None
        if measurand.endswith("power") and kind not in ("node", *APPLIANCES):
            return None
        if measurand.startswith("curr"):
            return None  # a branch end: only as a listed sensor (it needs a side)
        measurement = Measurement(component, measurand, 0.0, math.nan, phase)
        if _target(measurement) in self._reserved:
            return None  # a listed sensor measures this already
        return measurement

    def measurement(self, slot: int, value: float) -> Measurement:
        """The measurement of ``slot`` reading ``value``, with its sigma."""
        entry = self.slots[slot]
        sigma = entry.sigma
        if sigma is None:
            family = entry.family
            share = self.default_sigma[family]
            relative = family != "angle"  # an angle's default sigma is absolute
            sigma = max(share * abs(value), self.min_sigma[family]) if relative else share
        return replace(entry.template, value=value, sigma=sigma)

    def complete(self, slots: Iterable[int]) -> tuple[list[int], list[int]]:
        """The slots that make whole solver sensors (sorted), and those left out: a power
        needs P and Q, a current magnitude and angle, a voltage angle its magnitude, and a
        measurand all three phases unless given as ``ABC`` (which wins over single phases)."""
        groups: dict[tuple[str, str, str, str], dict[str, dict[str, int]]] = {}
        for index in slots:
            slot = self.slots[index]
            by_measurand = groups.setdefault(slot.group, {})
            by_measurand.setdefault(slot.measurand, {})[slot.phase] = index
        kept: list[int] = []
        dropped: list[int] = []
        for group, by_measurand in groups.items():
            usable: dict[str, list[int]] = {}
            for measurand, phases in by_measurand.items():
                if "ABC" in phases:
                    usable[measurand] = [phases["ABC"]]
                    dropped += [i for p, i in phases.items() if p != "ABC"]
                elif all(p in phases for p in "ABC"):
                    usable[measurand] = [phases[p] for p in "ABC"]
                    dropped += [i for p, i in phases.items() if p not in "ABC"]
                else:
                    dropped += phases.values()
            if all(needed in usable for needed in _NEEDS[group[2]]):
                kept += [i for members in usable.values() for i in members]
            else:
                dropped += [i for members in usable.values() for i in members]
        return sorted(kept), sorted(dropped)

    def name(self, slot: int) -> str:
        """The reading of a slot, as operators know it: ``component measurand[phase]``."""
        entry = self.slots[slot]
        return f"{entry.component} {entry.measurand}[{entry.phase}]"


def _target(m: Measurement) -> tuple[str, str, str, str, str]:
    return (m.element, m.side, m.measurand, m.phase, m.sensor)
