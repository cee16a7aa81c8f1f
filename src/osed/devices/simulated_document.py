"""The simulated building's document: its devices in the DAC document's schema, plus PV and load.

    {"steps": N, "step_h": h, "start": "2026-01-01T00:00:00Z", "seed": 0,
     "noise": {"power_kw": 0.01, ...},
     "building": {"id": "b1", "base_kw": [N values, optional],
                  "devices": [battery | ev | heating | water_heater as in the DAC document,
                              {"id", "kind": "pv" | "load", "profile_kw": [N values]}]}}

Series have N values and repeat every N steps. ``base_kw`` becomes a load named ``base``. The
DAC kinds are checked by the DAC document's own reader, so a description that the DAC game or
the MPC accepts runs here unchanged; every problem is reported with its path in this document.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from osed.devices.simulated import SimulatedDevice, SimulatedGateway
from osed.domain.devices import DeviceKind, Quantity
from osed.domain.errors import Problem, ValidationError
from osed.domain.problems import Problems
from osed.gridfunctions.builtin._dac_document import Building, read_document

PROFILE_KINDS = ("pv", "load")
BASE_LOAD_ID = "base"
_TOP_FIELDS = ("steps", "step_h", "start", "seed", "noise", "building")
_DAC_PATH = re.compile(r"^\$\.buildings\[0\](?:\.devices\[(\d+)\])?")


@dataclass(frozen=True, slots=True)
class Simulation:
    building_id: str
    steps: int
    step_h: float
    start: datetime
    seed: int
    noise: dict[Quantity, float] | None
    devices: tuple[SimulatedDevice, ...]

    def gateway(self, *, realtime: bool = False, speedup: float = 1.0) -> SimulatedGateway:
        return SimulatedGateway(
            self.devices,
            step_h=self.step_h,
            start=self.start,
            seed=self.seed,
            noise=self.noise,
            realtime=realtime,
            speedup=speedup,
            period_steps=self.steps,
        )


def read_simulation(document: Any) -> Simulation:
    """The simulation in ``document``; :class:`ValidationError` names every problem first."""
    problems = Problems("simulated building")
    if not isinstance(document, Mapping):
        problems.add("$", "not_object", "the document must be a JSON object")
        problems.check()
    for key in document:
        if key not in _TOP_FIELDS:
            problems.add(f"$.{key}", "unknown_field", f"known: {', '.join(_TOP_FIELDS)}")
    building = document.get("building")
    if not isinstance(building, Mapping):
        problems.add("$.building", "missing" if building is None else "not_object", "an object")
        building = {}
    raw_devices = building.get("devices", [])
    if not isinstance(raw_devices, Sequence) or isinstance(raw_devices, str):
        problems.add("$.building.devices", "not_a_list", "a list of devices")
        raw_devices = []
    dac_index = [
        j
        for j, d in enumerate(raw_devices)
        if not (isinstance(d, Mapping) and d.get("kind") in PROFILE_KINDS)
    ]
    steps = document.get("steps")
    n = steps if isinstance(steps, int) and not isinstance(steps, bool) and steps > 0 else None
    dac = _dac_devices(document, building, dac_index, problems)
    profiles = _profile_devices(raw_devices, n, problems)
    start = _start(document.get("start"), problems)
    seed = document.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        problems.add("$.seed", "not_an_integer", "a whole number ≥ 0")
    noise = _noise(document.get("noise"), problems)
    problems.check()
    assert dac is not None
    assert n is not None
    building_id, step_h, devices = dac
    dac_left = iter(devices)
    ordered = [profiles[j] if j in profiles else next(dac_left) for j in range(len(raw_devices))]
    if building.get("base_kw") is not None:
        base = [float(x) for x in building["base_kw"]]
        ordered.append(SimulatedDevice(BASE_LOAD_ID, DeviceKind.LOAD, {"profile_kw": base}))
    ids = [d.id for d in ordered]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise ValidationError(
            [Problem("$.building.devices", "duplicate", f"id {duplicate!r} appears twice")],
            subject="simulated building",
        )
    return Simulation(building_id, n, step_h, start, seed, noise, tuple(ordered))


def devices_of(building: Building) -> list[SimulatedDevice]:
    """A building as the DAC game and the MPC read it, as simulated devices: its devices, and
    its ``base_kw`` as the load named ``base``."""
    devices = [SimulatedDevice(d.id, DeviceKind(d.kind), dict(d.values)) for d in building.devices]
    base = [float(x) for x in building.base_kw]
    devices.append(SimulatedDevice(BASE_LOAD_ID, DeviceKind.LOAD, {"profile_kw": base}))
    return devices


def _dac_devices(
    document: Mapping[str, Any],
    building: Mapping[str, Any],
    dac_index: list[int],
    problems: Problems,
) -> tuple[str, float, tuple[SimulatedDevice, ...]] | None:
    """The DAC kinds, checked by the DAC reader on a document of this building alone."""
    steps = document.get("steps")
    n = steps if isinstance(steps, int) and not isinstance(steps, bool) and steps > 0 else None
    raw = building.get("devices", [])
    base = building.get("base_kw")
    dac_document = {
        "steps": steps,
        "step_h": document.get("step_h"),
        "prices": [0.0] * n if n is not None else [],
        "buildings": [
            {
                "id": building.get("id"),
                "base_kw": base if base is not None else [0.0] * (n or 0),
                "devices": [raw[j] for j in dac_index],
            }
        ],
    }
    try:
        problem = read_document(dac_document)
    except ValidationError as exc:
        for p in exc.problems:
            problems.add(_our_path(p.path, dac_index), p.code, p.message)
        return None
    (read,) = problem.buildings
    return read.id, problem.step_h, tuple(devices_of(read)[:-1])


def _our_path(path: str, dac_index: list[int]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return "$.building"
        return f"$.building.devices[{dac_index[int(match.group(1))]}]"

    return _DAC_PATH.sub(replace, path, count=1)


def _profile_devices(
    raw: Sequence[Any], n: int | None, problems: Problems
) -> dict[int, SimulatedDevice]:
    found: dict[int, SimulatedDevice] = {}
    for j, item in enumerate(raw):
        if not (isinstance(item, Mapping) and item.get("kind") in PROFILE_KINDS):
            continue
        at = f"$.building.devices[{j}]"
        for key in item:
            if key not in ("id", "kind", "profile_kw"):
                problems.add(f"{at}.{key}", "unknown_field", "known: id, kind, profile_kw")
        ident = item.get("id")
        if not isinstance(ident, str) or not ident:
            problems.add(f"{at}.id", "missing" if ident is None else "not_a_string", "a string id")
        profile = item.get("profile_kw")
        if not isinstance(profile, Sequence) or isinstance(profile, str):
            problems.add(f"{at}.profile_kw", "missing", "a list of N numbers")
            continue
        if n is not None and len(profile) != n:
            problems.add(
                f"{at}.profile_kw", "wrong_length", f"has {len(profile)} values, steps is {n}"
            )
        bad = False
        for k, x in enumerate(profile):
            if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
                problems.add(f"{at}.profile_kw[{k}]", "not_a_number", "must be a finite number")
                bad = True
            elif item["kind"] == "pv" and x < 0:
                problems.add(f"{at}.profile_kw[{k}]", "negative", "generation must be ≥ 0")
                bad = True
        if isinstance(ident, str) and ident and not bad:
            kind = DeviceKind(item["kind"])
            found[j] = SimulatedDevice(ident, kind, {"profile_kw": [float(x) for x in profile]})
    return found


def _start(raw: Any, problems: Problems) -> datetime:
    default = datetime(2026, 1, 1, tzinfo=UTC)
    if raw is None:
        return default
    if isinstance(raw, str):
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            value = None
        if value is not None and value.utcoffset() is not None:
            return value.astimezone(UTC)
    problems.add("$.start", "not_a_time", "an ISO 8601 time with a timezone")
    return default


def _noise(raw: Any, problems: Problems) -> dict[Quantity, float] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        problems.add("$.noise", "not_object", "quantity → standard deviation")
        return None
    noise: dict[Quantity, float] = {}
    known = {q.value for q in Quantity}
    for key, value in raw.items():
        if key not in known:
            problems.add(f"$.noise.{key}", "unknown_quantity", f"known: {', '.join(sorted(known))}")
        elif isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            problems.add(f"$.noise.{key}", "not_a_number", "a standard deviation ≥ 0")
        else:
            noise[Quantity(key)] = float(value)
    return noise
