"""``dlc``: direct load control of thermostats.

The EDC first asks the buildings how much they can shed (``flexibility``), then sends every
building the same setpoint offset at once for a period and restores the setpoints at its end
(or when the function is removed). Buildings report their consumption, which the status sums
before, during and after the offset.

Offline, ``run`` computes what an offset does to an area of heated zones (1R1C, each zone's
thermostat tracking its setpoint): the aggregate load change during the period and the rebound
after restoration, with the offset setpoint kept inside each zone's comfort band.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from osed.domain.errors import Problem, ValidationError
from osed.gridfunctions.builtin._document_fields import FieldReader
from osed.gridfunctions.builtin._thermal import Zones, track_setpoints
from osed.gridfunctions.spec import (
    AreaView,
    ComposedFunction,
    Inbound,
    Manifest,
    MessageType,
    Outbound,
    Parameter,
)

NAME = "dlc"
_REBOUND_SETTLED_KW = 1e-3

MANIFEST = Manifest(
    name=NAME,
    version="1.0.0",
    description=(
        "Direct load control: flexibility request, a simultaneous thermostat setpoint offset "
        "for a period, restoration, consumption reported back"
    ),
    parameters=(
        Parameter(
            "offset_k",
            "setpoint offset (negative sheds heating)",
            unit="K",
            minimum=-5,
            maximum=5,
            default=-2.0,
        ),
        Parameter(
            "duration",
            "how long the offset holds",
            unit="s",
            minimum=60,
            maximum=86400,
            default=3600.0,
        ),
        Parameter(
            "response_deadline",
            "how long buildings have to state their flexibility",
            unit="s",
            minimum=1,
            maximum=3600,
            default=60.0,
        ),
    ),
    messages=(
        MessageType("flexibility_request", "outbound", "{offset_k, duration_s, respond_by}", 512),
        MessageType("setpoint_offset", "outbound", "{offset_k, until}", 512),
        MessageType("restore", "outbound", "back to the building's own setpoints", 256),
        MessageType("flexibility", "inbound", "{available_kw}: what the offset would shed", 512),
        MessageType("consumption", "inbound", "{kw}: the building's consumption now", 512),
    ),
)

_ZONE_FIELDS = (
    "id",
    "capacitance_kwh_per_k",
    "resistance_k_per_kw",
    "cop",
    "power_max_kw",
    "temp_init_c",
    "setpoint_c",
    "comfort_min_c",
    "comfort_max_c",
)


# ------------------------------------------------------------------------------- offline run


def run_document(document: Any) -> dict[str, Any]:
    reader = FieldReader(f"{NAME} document")
    root = reader.root(document)
    reader.unknown_keys(
        root,
        "$",
        ("steps", "step_h", "outdoor_c", "offset_k", "start_step", "end_step", "buildings"),
    )
    steps = reader.integer(root, "steps", "$", minimum=1, maximum=10_000)
    h = reader.number(root, "step_h", "$", above=0.0, maximum=24.0)
    outdoor = reader.series(root, "outdoor_c", "$", steps, minimum=-60, maximum=60)
    offset = reader.number(root, "offset_k", "$", minimum=-5.0, maximum=5.0)
    start = reader.integer(root, "start_step", "$", minimum=0)
    end = reader.integer(root, "end_step", "$", minimum=0)
    if "start_step" in root and "end_step" in root and not start < end <= steps:
        reader.problems.add("$.end_step", "bad_period", "needs start_step < end_step <= steps")
    owners: list[tuple[str, str]] = []
    columns: dict[str, list[float]] = {key: [] for key in _ZONE_FIELDS[1:]}
    building_ids: list[str] = []
    for b, raw in enumerate(reader.items(root, "buildings", "$")):
        path = f"$.buildings[{b}]"
        building = reader.object(raw, path)
        reader.unknown_keys(building, path, ("id", "zones"))
        building_id = reader.string(building, "id", path)
        building_ids.append(building_id)
        zone_ids: list[str] = []
        for z, zone_raw in enumerate(reader.items(building, "zones", path)):
            zpath = f"{path}.zones[{z}]"
            zone = reader.object(zone_raw, zpath)
            reader.unknown_keys(zone, zpath, _ZONE_FIELDS)
            zone_ids.append(reader.string(zone, "id", zpath))
            for key in ("capacitance_kwh_per_k", "resistance_k_per_kw", "cop"):
                columns[key].append(reader.number(zone, key, zpath, above=0.0))
            columns["power_max_kw"].append(reader.number(zone, "power_max_kw", zpath, minimum=0))
            time_constant_h = (
                columns["capacitance_kwh_per_k"][-1] * columns["resistance_k_per_kw"][-1]
            )
            if time_constant_h <= h:
                reader.problems.add(
                    f"{zpath}.capacitance_kwh_per_k",
                    "step_too_long",
                    f"the time constant R·C ({time_constant_h:g} h) must exceed step_h",
                )
            for key in ("temp_init_c", "setpoint_c", "comfort_min_c", "comfort_max_c"):
                columns[key].append(reader.number(zone, key, zpath, minimum=-60, maximum=60))
            low, high = columns["comfort_min_c"][-1], columns["comfort_max_c"][-1]
            if low > high:
                reader.problems.add(f"{zpath}.comfort_min_c", "above_max", "above comfort_max_c")
            elif not low <= columns["setpoint_c"][-1] <= high:
                reader.problems.add(
                    f"{zpath}.setpoint_c", "out_of_band", "outside the comfort band"
                )
            owners.append((building_id, zone_ids[-1]))
        reader.unique_ids(zone_ids, f"{path}.zones")
    reader.unique_ids(building_ids, "$.buildings")
    reader.check()
    return _simulate(
        steps=steps,
        h=h,
        outdoor_c=outdoor,
        offset=offset,
        start=start,
        end=end,
        building_ids=building_ids,
        owners=owners,
        columns=columns,
    )


def _simulate(
    *,
    steps: int,
    h: float,
    outdoor_c: list[float],
    offset: float,
    start: int,
    end: int,
    building_ids: list[str],
    owners: list[tuple[str, str]],
    columns: dict[str, list[float]],
) -> dict[str, Any]:
    arrays = {key: np.asarray(values, dtype=np.float64) for key, values in columns.items()}
    zones = Zones(
        arrays["capacitance_kwh_per_k"],
        arrays["resistance_k_per_kw"],
        arrays["cop"],
        arrays["power_max_kw"],
    )
    count = len(owners)
    outdoor = np.repeat(np.asarray(outdoor_c, dtype=np.float64)[:, None], count, axis=1)
    base_setpoints = np.repeat(arrays["setpoint_c"][None, :], steps, axis=0)
    dlc_setpoints = base_setpoints.copy()
    shifted = np.clip(
        arrays["setpoint_c"] + offset, arrays["comfort_min_c"], arrays["comfort_max_c"]
    )
    dlc_setpoints[start:end] = shifted
    base_power, _ = track_setpoints(zones, arrays["temp_init_c"], outdoor, base_setpoints, h)
    dlc_power, dlc_temps = track_setpoints(zones, arrays["temp_init_c"], outdoor, dlc_setpoints, h)
    baseline = base_power.sum(axis=1)
    controlled = dlc_power.sum(axis=1)
    change = controlled - baseline
    after = change[end:]
    settled = np.nonzero(np.abs(after) < _REBOUND_SETTLED_KW)[0]
    tolerance = 1e-6
    below = dlc_temps < arrays["comfort_min_c"] - tolerance
    above = dlc_temps > arrays["comfort_max_c"] + tolerance
    violations = [
        {"building": owners[z][0], "zone": owners[z][1], "step": int(t)}
        for t, z in zip(*np.nonzero(below | above), strict=True)
    ]
    by_building = {b: [] for b in building_ids}  # type: dict[str, list[int]]
    for z, (building, _) in enumerate(owners):
        by_building[building].append(z)
    return {
        "steps": steps,
        "step_h": h,
        "offset_k": offset,
        "period": {"start_step": start, "end_step": end},
        "baseline_kw": baseline.tolist(),
        "dlc_kw": controlled.tolist(),
        "change_kw": change.tolist(),
        "shed": {
            "mean_kw": float(-change[start:end].mean()),
            "energy_kwh": float(-change[start:end].sum() * h),
        },
        "rebound": {
            "peak_kw": float(controlled[end:].max()) if end < steps else None,
            "peak_increase_kw": float(max(after.max(), 0.0)) if end < steps else None,
            "energy_kwh": float(np.maximum(after, 0.0).sum() * h),
            "settled_step": int(end + settled[0]) if settled.size else None,
        },
        "comfort": {
            "min_temp_c": float(dlc_temps.min()) if count else None,
            "max_temp_c": float(dlc_temps.max()) if count else None,
            "violations": violations,
        },
        "buildings": [
            {
                "id": building,
                "baseline_kwh": float(base_power[:, zs].sum() * h),
                "dlc_kwh": float(dlc_power[:, zs].sum() * h),
                "min_temp_c": float(dlc_temps[:, zs].min()) if zs else None,
            }
            for building, zs in by_building.items()
        ],
    }


# ------------------------------------------------------------------------------- live session


def _reading(body: Mapping[str, Any], key: str, where: str) -> float:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise ValidationError(
            [Problem(f"$.{key}", "not_a_number", "must be a number")], subject=where
        )
    if key == "available_kw" and value < 0:
        raise ValidationError([Problem(f"$.{key}", "too_small", "must be >= 0")], subject=where)
    return float(value)


def _passed(now: datetime, moment: str | None) -> bool:
    return moment is not None and now >= datetime.fromisoformat(moment)


class DlcSession:
    """One DLC event: requesting → active → restored."""

    def __init__(self, parameters: Mapping[str, Any], resume: Mapping[str, Any] | None) -> None:
        self._offset = float(parameters["offset_k"])
        self._duration = float(parameters["duration"])
        self._deadline = float(parameters["response_deadline"])
        saved = resume or {}
        self._phase: str = saved.get("phase", "pending")
        self._respond_by: str | None = saved.get("respond_by")
        self._until: str | None = saved.get("until")
        self._flexibility: dict[str, float] = dict(saved.get("flexibility", {}))
        self._consumption: dict[str, dict[str, float]] = {
            phase: dict(readings) for phase, readings in saved.get("consumption", {}).items()
        }

    def start(self, area: AreaView) -> list[Outbound]:
        self._phase = "requesting"
        self._respond_by = (area.now + timedelta(seconds=self._deadline)).isoformat()
        body = {
            "offset_k": self._offset,
            "duration_s": self._duration,
            "respond_by": self._respond_by,
        }
        return [Outbound("flexibility_request", body)]

    def on_message(self, message: Inbound, area: AreaView) -> list[Outbound]:
        where = f"{NAME} {message.message_type} from {message.building_id}"
        if message.message_type == "flexibility":
            available = _reading(message.body, "available_kw", where)
            if self._phase == "requesting":
                self._flexibility[message.building_id] = available
                if set(area.buildings) <= set(self._flexibility):
                    return self._activate(area)
        elif message.message_type == "consumption":
            reading = _reading(message.body, "kw", where)
            phase = {"requesting": "before", "active": "during"}.get(self._phase, "after")
            self._consumption.setdefault(phase, {})[message.building_id] = reading
        return []

    def _activate(self, area: AreaView) -> list[Outbound]:
        self._phase = "active"
        self._until = (area.now + timedelta(seconds=self._duration)).isoformat()
        return [Outbound("setpoint_offset", {"offset_k": self._offset, "until": self._until})]

    def on_tick(self, area: AreaView) -> list[Outbound]:
        if self._phase == "requesting" and _passed(area.now, self._respond_by):
            return self._activate(area)
        if self._phase == "active" and _passed(area.now, self._until):
            self._phase = "restored"
            return [Outbound("restore", {"reason": "period_over"})]
        return []

    def status(self) -> dict[str, Any]:
        sums = {phase: sum(readings.values()) for phase, readings in self._consumption.items()}
        before, during = sums.get("before"), sums.get("during")
        return {
            "phase": self._phase,
            "offset_k": self._offset,
            "respond_by": self._respond_by,
            "until": self._until,
            "responded": len(self._flexibility),
            "flexibility_kw": sum(self._flexibility.values()),
            "consumption_kw": sums,
            "reduction_kw": None if before is None or during is None else before - during,
        }

    def snapshot(self) -> dict[str, Any]:
        return {
            "phase": self._phase,
            "respond_by": self._respond_by,
            "until": self._until,
            "flexibility": dict(self._flexibility),
            "consumption": {p: dict(r) for p, r in self._consumption.items()},
        }

    def close(self, area: AreaView) -> list[Outbound]:
        was_active = self._phase == "active"
        self._phase = "closed"
        return [Outbound("restore", {"reason": "removed"})] if was_active else []


Dlc = ComposedFunction(MANIFEST, run_document, DlcSession)
"""The ``dlc`` grid function."""
