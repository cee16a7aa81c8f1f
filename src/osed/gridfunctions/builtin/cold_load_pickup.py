"""``cold-load-pickup``: staggered restoration of thermostatic loads after an outage.

Offline, ``run`` simulates the loads through the outage and after it (:mod:`._pickup`), re-enables
them group by group so that the aggregate stays under ``peak_limit_kw``, and compares with
re-enabling all at once: peak, time until every load is back in its band, the aggregate profile.

Live, the session holds the buildings' thermostatic loads when it is assigned (at restoration)
and re-enables them in waves: every ``wave_interval`` it measures the area's demand and enables,
in enrolment order, as many held buildings as fit under the limit with their declared load
(``load`` messages; ``default_load_kw`` for the others). After ``max_hold`` every building still
held is enabled, so nobody stays cold; removing the function enables them too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np

from osed.domain.errors import Problem, ValidationError
from osed.gridfunctions.builtin import _pickup as pickup
from osed.gridfunctions.builtin._document_fields import FieldReader
from osed.gridfunctions.spec import (
    AreaView,
    ComposedFunction,
    Inbound,
    Manifest,
    MessageType,
    Outbound,
    Parameter,
)

NAME = "cold-load-pickup"

MANIFEST = Manifest(
    name=NAME,
    version="1.0.0",
    description=(
        "Staggered restoration of thermostatic loads after an outage, keeping the pickup peak "
        "under a limit; reports the time to restore all"
    ),
    parameters=(
        Parameter(
            "peak_limit_kw", "most the area may draw while loads come back", unit="kW", minimum=0
        ),
        Parameter(
            "wave_interval",
            "time between two waves of re-enabled loads",
            unit="s",
            minimum=1,
            maximum=3600,
            default=60.0,
        ),
        Parameter(
            "max_hold",
            "no load is held longer than this",
            unit="s",
            minimum=60,
            maximum=86400,
            default=3600.0,
        ),
        Parameter(
            "default_load_kw",
            "the load assumed for a building that did not declare one",
            unit="kW",
            minimum=0,
            maximum=1e3,
            default=5.0,
        ),
    ),
    messages=(
        MessageType("hold", "outbound", "keep thermostatic loads off until enabled", 256),
        MessageType("enable", "outbound", "thermostatic loads may run again", 256),
        MessageType("load", "inbound", "{power_kw}: the thermostatic load that will return", 256),
    ),
)

_LOAD_FIELDS = (
    "id",
    "power_kw",
    "capacitance_kwh_per_k",
    "resistance_k_per_kw",
    "cop",
    "setpoint_c",
    "deadband_k",
    "temp_c",
    "on",
    "group",
)
_DOCUMENT_FIELDS = (
    "step_s",
    "outage_h",
    "horizon_h",
    "peak_limit_kw",
    "outdoor_c",
    "group_count",
    "min_gap_s",
    "loads",
)


# ------------------------------------------------------------------------------- offline run


def run_document(document: Any) -> dict[str, Any]:
    reader = FieldReader(f"{NAME} document")
    root = reader.root(document)
    reader.unknown_keys(root, "$", _DOCUMENT_FIELDS)
    step_s = reader.number(root, "step_s", "$", minimum=1.0, maximum=3600.0, default=60.0)
    outage_h = reader.number(root, "outage_h", "$", minimum=0.0, maximum=72.0)
    horizon_h = reader.number(root, "horizon_h", "$", above=0.0, maximum=72.0)
    limit = reader.number(root, "peak_limit_kw", "$", above=0.0)
    outdoor = reader.number(root, "outdoor_c", "$", minimum=-60.0, maximum=60.0)
    group_count = reader.integer(root, "group_count", "$", minimum=1, maximum=1000, default=10)
    min_gap_s = reader.number(root, "min_gap_s", "$", minimum=0.0, maximum=86400.0, default=0.0)
    if not reader.problems and horizon_h * 3600 / step_s > 20_000:
        reader.problems.add("$.horizon_h", "too_large", "more than 20000 steps")
    ids: list[str] = []
    columns: dict[str, list[float]] = {key: [] for key in _LOAD_FIELDS[1:8]}
    on: list[bool] = []
    given_groups: list[int | None] = []
    for index, raw in enumerate(reader.items(root, "loads", "$")):
        path = f"$.loads[{index}]"
        load = reader.object(raw, path)
        reader.unknown_keys(load, path, _LOAD_FIELDS)
        ids.append(reader.string(load, "id", path))
        for key in ("power_kw", "capacitance_kwh_per_k", "resistance_k_per_kw", "cop"):
            columns[key].append(reader.number(load, key, path, above=0.0))
        time_constant_h = columns["capacitance_kwh_per_k"][-1] * columns["resistance_k_per_kw"][-1]
        if time_constant_h <= step_s / 3600.0:
            reader.problems.add(
                f"{path}.capacitance_kwh_per_k",
                "step_too_long",
                f"the time constant R·C ({time_constant_h:g} h) must exceed the step",
            )
        for key in ("setpoint_c", "temp_c"):
            columns[key].append(reader.number(load, key, path, minimum=-60.0, maximum=60.0))
        columns["deadband_k"].append(
            reader.number(load, "deadband_k", path, minimum=0.0, maximum=10.0, default=1.0)
        )
        state = load.get("on", columns["temp_c"][-1] < columns["setpoint_c"][-1])
        if not isinstance(state, bool):
            reader.problems.add(f"{path}.on", "not_a_boolean", "must be true or false")
        on.append(bool(state))
        given_groups.append(
            reader.integer(load, "group", path, minimum=0, maximum=999) if "group" in load else None
        )
    if any(g is None for g in given_groups) and any(g is not None for g in given_groups):
        first = next(i for i, g in enumerate(given_groups) if g is None)
        reader.problems.add(f"$.loads[{first}].group", "missing", "give every load a group or none")
    reader.unique_ids(ids, "$.loads")
    reader.check()
    h = step_s / 3600.0
    loads = pickup.Loads(
        **{key: np.asarray(v, dtype=np.float64) for key, v in columns.items() if key != "temp_c"}
    )
    temps = np.asarray(columns["temp_c"], dtype=np.float64)
    if given_groups and given_groups[0] is not None:
        labels = np.asarray(given_groups, dtype=np.intp)
    else:
        labels = np.arange(len(ids), dtype=np.intp) % group_count
    groups = [np.nonzero(labels == g)[0] for g in np.unique(labels)]
    outage_steps = round(outage_h / h)
    horizon = max(round(horizon_h / h), 1)
    staggered = pickup.stagger(
        loads,
        temps,
        groups,
        outdoor_c=outdoor,
        h=h,
        outage_steps=outage_steps,
        horizon=horizon,
        limit_kw=limit,
        min_gap_steps=max(round(min_gap_s / step_s), 0),
    )
    at_once = pickup.simultaneous(
        loads, temps, outdoor_c=outdoor, h=h, outage_steps=outage_steps, horizon=horizon
    )
    complete = all(step is not None for step in staggered.enable_steps)
    staggered_peak, staggered_after = pickup.pickup_peak(
        staggered.profile_kw, staggered.recovered_step
    )
    at_once_peak, at_once_after = pickup.pickup_peak(at_once.profile_kw, at_once.recovered_step)
    return {
        "status": "restored" if complete and _all_back(staggered.recovered_step) else "incomplete",
        "step_s": step_s,
        "outage_h": outage_steps * h,
        "peak_limit_kw": limit,
        "pre_outage_kw": float(loads.power_kw[np.asarray(on, dtype=bool)].sum()),
        "staggered": {
            "peak_kw": staggered_peak,
            "peak_after_pickup_kw": staggered_after,
            "restored_all_h": _restored_all_h(staggered.recovered_step, h),
            "groups": [
                {
                    "group": int(labels[members[0]]),
                    "loads": [ids[i] for i in members],
                    "enable_h": None if step is None else step * h,
                }
                for members, step in zip(groups, staggered.enable_steps, strict=True)
            ],
            "profile_kw": staggered.profile_kw.tolist(),
        },
        "simultaneous": {
            "peak_kw": at_once_peak,
            "peak_after_pickup_kw": at_once_after,
            "restored_all_h": _restored_all_h(at_once.recovered_step, h),
            "profile_kw": at_once.profile_kw.tolist(),
        },
    }


def _all_back(recovered: np.ndarray[Any, Any]) -> bool:
    return bool((recovered >= 0).all())


def _restored_all_h(recovered: np.ndarray[Any, Any], h: float) -> float | None:
    """Hours after restoration until the last load is back in its band (None: not within the
    horizon)."""
    if recovered.size == 0:
        return 0.0
    if not _all_back(recovered):
        return None
    return float((int(recovered.max()) + 1) * h)


# ------------------------------------------------------------------------------- live session


class ColdLoadPickupSession:
    """Holds the area's thermostatic loads and re-enables them in waves under the limit."""

    def __init__(self, parameters: Mapping[str, Any], resume: Mapping[str, Any] | None) -> None:
        self._limit = float(parameters["peak_limit_kw"])
        self._interval = float(parameters["wave_interval"])
        self._max_hold = float(parameters["max_hold"])
        self._default_load = float(parameters["default_load_kw"])
        saved = resume or {}
        self._held: list[str] = list(saved.get("held", []))
        self._enabled: dict[str, str] = dict(saved.get("enabled", {}))
        self._loads: dict[str, float] = dict(saved.get("loads", {}))
        self._started_at: str | None = saved.get("started_at")
        self._last_wave: str | None = saved.get("last_wave")
        self._waves: int = saved.get("waves", 0)
        self._peak_kw: float | None = saved.get("peak_kw")

    def start(self, area: AreaView) -> list[Outbound]:
        self._started_at = area.now.isoformat()
        self._held = list(area.buildings)
        return [Outbound("hold", {"reason": "cold_load_pickup"})]

    def on_message(self, message: Inbound, area: AreaView) -> list[Outbound]:
        if message.message_type != "load":
            return []
        value = message.body.get("power_kw")
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ValidationError(
                [Problem("$.power_kw", "not_a_number", "must be a number >= 0")],
                subject=f"{NAME} load from {message.building_id}",
            )
        self._loads[message.building_id] = float(value)
        return []

    def _since(self, moment: str | None, now: datetime) -> float:
        if moment is None:
            return float("inf")
        return (now - datetime.fromisoformat(moment)).total_seconds()

    def on_tick(self, area: AreaView) -> list[Outbound]:
        demand = _demand_kw(area)
        if demand is not None:
            self._peak_kw = demand if self._peak_kw is None else max(self._peak_kw, demand)
        if not self._held:
            return []
        if self._since(self._started_at, area.now) >= self._max_hold:
            return self._enable(list(self._held), area.now)
        if self._since(self._last_wave, area.now) < self._interval or demand is None:
            return []
        headroom = self._limit - demand
        wave: list[str] = []
        for building in self._held:
            load = self._loads.get(building, self._default_load)
            if load > headroom:
                break  # enrolment order is the restoration order
            headroom -= load
            wave.append(building)
        return self._enable(wave, area.now) if wave else []

    def _enable(self, buildings: list[str], now: datetime) -> list[Outbound]:
        self._last_wave = now.isoformat()
        self._waves += 1
        chosen = set(buildings)
        self._held = [b for b in self._held if b not in chosen]
        for building in buildings:
            self._enabled[building] = now.isoformat()
        return [Outbound("enable", {"wave": self._waves}, b) for b in buildings]

    def status(self) -> dict[str, Any]:
        restore_s = None
        if not self._held and self._started_at is not None and self._enabled:
            last = max(datetime.fromisoformat(t) for t in self._enabled.values())
            restore_s = (last - datetime.fromisoformat(self._started_at)).total_seconds()
        return {
            "peak_limit_kw": self._limit,
            "held": len(self._held),
            "enabled": len(self._enabled),
            "waves": self._waves,
            "peak_kw": self._peak_kw,
            "restored_all": not self._held,
            "time_to_restore_all_s": restore_s,
        }

    def snapshot(self) -> dict[str, Any]:
        return {
            "held": list(self._held),
            "enabled": dict(self._enabled),
            "loads": dict(self._loads),
            "started_at": self._started_at,
            "last_wave": self._last_wave,
            "waves": self._waves,
            "peak_kw": self._peak_kw,
        }

    def close(self, area: AreaView) -> list[Outbound]:
        return self._enable(list(self._held), area.now) if self._held else []


def _demand_kw(area: AreaView) -> float | None:
    demand = area.state.get("demand_kw")
    if isinstance(demand, int | float) and not isinstance(demand, bool):
        return float(demand)
    per_building = area.state.get("building_kw")
    if isinstance(per_building, Mapping):
        return float(sum(float(v) for v in per_building.values()))
    return None


ColdLoadPickup = ComposedFunction(MANIFEST, run_document, ColdLoadPickupSession)
"""The ``cold-load-pickup`` grid function."""
