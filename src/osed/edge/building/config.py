"""The building agents' configuration document, checked whole: every problem with its JSON
path, nothing started when there is one.

    {"steps": 96, "step_h": 0.25, "tariff_per_kwh": [...], "replan_every": 4,
     "agents": [{"building": {"id": "b1", "base_kw": [...], "devices": [...]},
                 "party": "alice", "owner_limit_kw": 17.0, "cycle_s": 900, "plan_time_limit_s": 2,
                 "learning": {"enabled": true, "keep_days": 42, "thermal_days": 4,
                              "thermal_max_rmse_c": 0.5},
                 "channels": [{"edc": "area-1", "function": "dac", "token": "..."}],
                 "gateway": {"adapter": "simulated", ...}}]}

``building`` is read as the DAC document reads a building (same devices, fields and checks);
``steps``, ``step_h``, ``tariff_per_kwh`` and ``replan_every`` may be set per agent as well.
``gateway`` is the device gateway's own configuration document (docs/devices.md), checked by
the gateway when the agent is built. ``party`` is the market party the building belongs to:
the one participant of the platform API that sees and commands it (docs/api.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from osed.buildings.devices_schema import Building
from osed.edge.building.agent import AgentSettings, Channel
from osed.edge.building.learning import LearningSettings
from osed.edge.names import valid_building_id, valid_edc_id, valid_function_name
from osed.gridfunctions.builtin import _dac_document as dac
from osed.gridfunctions.builtin._document_fields import FieldReader

SHARED = ("steps", "step_h", "tariff_per_kwh", "replan_every")
MAX_PARTY = 128
"""A party id's length, as the platform API takes it."""
AGENT_FIELDS = (
    "building",
    "party",
    "owner_limit_kw",
    "cycle_s",
    "plan_time_limit_s",
    "learning",
    "channels",
    "gateway",
    *SHARED,
)
LEARNING_FIELDS = ("enabled", "keep_days", "thermal_days", "thermal_max_rmse_c")


@dataclass(frozen=True, slots=True)
class AgentConfig:
    building: Building
    settings: AgentSettings
    channels: dict[str, Channel]
    gateway: dict[str, Any]
    where: str
    """The agent's JSON path in the document (for the gateway's problems)."""
    party: str | None = None
    """The market party the building belongs to (None: only operators see it)."""


def read_agents(document: Any) -> list[AgentConfig]:
    """Every agent in ``document``; :class:`ValidationError` names every problem first."""
    reader = FieldReader("building agents configuration")
    root = reader.root(document)
    reader.unknown_keys(root, "$", ("agents", *SHARED))
    agents: list[AgentConfig] = []
    ids: list[str] = []
    for i, item in enumerate(reader.items(root, "agents", "$")):
        where = f"$.agents[{i}]"
        raw = reader.object(item, where)
        if raw:
            agent = _agent(reader, root, raw, where)
            building = raw.get("building")
            ident = building.get("id") if isinstance(building, Mapping) else None
            ids.append(ident if isinstance(ident, str) else "")
            if agent is not None:
                agents.append(agent)
    reader.unique_ids(ids, "$.agents", "building.id")
    reader.check()
    return agents


def _agent(
    reader: FieldReader, root: Mapping[str, Any], raw: Mapping[str, Any], where: str
) -> AgentConfig | None:
    reader.unknown_keys(raw, where, AGENT_FIELDS)
    before = len(reader.problems)
    source = {
        **{k: root[k] for k in SHARED if k in root},
        **{k: raw[k] for k in SHARED if k in raw},
    }
    place = {k: (where if k in raw else "$") for k in SHARED}
    steps = reader.integer(source, "steps", place["steps"], minimum=1, maximum=dac.MAX_STEPS)
    n = steps if len(reader.problems) == before else None
    step_h = reader.number(source, "step_h", place["step_h"], above=0.0)
    tariff = dac._series(reader, source, "tariff_per_kwh", place["tariff_per_kwh"], n)
    replan = reader.integer(source, "replan_every", place["replan_every"], minimum=1, default=4)
    limit = reader.number(raw, "owner_limit_kw", where, above=0.0, default=float("inf"))
    cycle_s = reader.optional_number(raw, "cycle_s", where, minimum=0.001)
    time_limit = reader.number(raw, "plan_time_limit_s", where, above=0.0, default=2.0)
    learning = _learning(reader, raw, where)
    building = _building(reader, raw, f"{where}.building", n, step_h if step_h > 0 else None)
    channels = _channels(reader, raw, where)
    party = _party(reader, raw, where)
    gateway = raw.get("gateway")
    if not isinstance(gateway, Mapping):
        reader.problems.add(f"{where}.gateway", "not_object", "the device gateway's document")
    if len(reader.problems) != before or building is None or tariff is None:
        return None
    assert isinstance(gateway, Mapping)
    settings = AgentSettings(
        steps,
        step_h,
        np.asarray(tariff),
        replan,
        owner_limit_kw=limit,
        cycle_s=cycle_s,
        learning=learning,
        plan_time_limit_s=time_limit,
    )
    return AgentConfig(building, settings, channels, dict(gateway), where, party)


def _party(reader: FieldReader, raw: Mapping[str, Any], where: str) -> str | None:
    if "party" not in raw:
        return None
    party = reader.string(raw, "party", where)
    if party and (len(party) > MAX_PARTY or not party.isprintable()):
        reader.problems.add(f"{where}.party", "bad_party", f"1 to {MAX_PARTY} printable characters")
    return party or None


def _learning(reader: FieldReader, raw: Mapping[str, Any], where: str) -> LearningSettings:
    if "learning" not in raw:
        return LearningSettings()
    at = f"{where}.learning"
    item = reader.object(raw["learning"], at)
    reader.unknown_keys(item, at, LEARNING_FIELDS)
    enabled = item.get("enabled", True)
    if not isinstance(enabled, bool):
        reader.problems.add(f"{at}.enabled", "not_boolean", "must be true or false")
    defaults = LearningSettings()
    return LearningSettings(
        enabled=enabled is not False,
        keep_days=reader.integer(item, "keep_days", at, minimum=2, default=defaults.keep_days),
        thermal_days=reader.integer(
            item, "thermal_days", at, minimum=4, default=defaults.thermal_days
        ),
        thermal_max_rmse_c=reader.number(
            item, "thermal_max_rmse_c", at, above=0.0, default=defaults.thermal_max_rmse_c
        ),
    )


def _building(
    reader: FieldReader, raw: Mapping[str, Any], where: str, n: int | None, step_h: float | None
) -> Building | None:
    item = raw.get("building")
    if not isinstance(item, Mapping):
        reader.problems.add(where, "not_object", "the building as the DAC document describes it")
        return None
    reader.unknown_keys(item, where, ("id", "base_kw", "devices"))
    ident = reader.string(item, "id", where)
    if ident and not valid_building_id(ident):
        reader.problems.add(f"{where}.id", "bad_id", "letters, digits and _ . - : only")
    base = dac._series(reader, item, "base_kw", where, n)
    devices = dac._devices(reader, item, where, n, step_h)
    if not ident or base is None or devices is None:
        return None
    return Building(ident, base, tuple(devices))


def _channels(reader: FieldReader, raw: Mapping[str, Any], where: str) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    if "channels" not in raw:
        return channels
    for j, item in enumerate(reader.items(raw, "channels", where, min_length=0)):
        at = f"{where}.channels[{j}]"
        entry = reader.object(item, at)
        if not entry:
            continue
        reader.unknown_keys(entry, at, ("edc", "function", "token"))
        edc = reader.string(entry, "edc", at)
        function = reader.string(entry, "function", at)
        token = reader.string(entry, "token", at)
        if edc and not valid_edc_id(edc):
            reader.problems.add(f"{at}.edc", "bad_id", "not an EDC id")
        if function and not valid_function_name(function):
            reader.problems.add(f"{at}.function", "bad_name", "not a grid function name")
        if function in channels:
            reader.problems.add(f"{at}.function", "duplicate", f"{function!r} again")
        if edc and function and token:
            channels[function] = Channel(edc, token)
    return channels
