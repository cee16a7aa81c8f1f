"""``osed run building`` / ``osed run buildings``: agents built from the settings' ``buildings``
document, started with the bus, controlling simulated devices, stopped cleanly; a bad document
is refused with every problem and its path, before anything starts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from osed.domain.errors import ConfigurationError, ValidationError
from osed.runtime.buildings import BuildingAgentsRunner
from osed.runtime.container import build_services
from osed.runtime.settings import MASK, Settings, masked_settings
from tests.unit.edge.building.neighbourhood import battery

STEPS = 4


def house(ident: str) -> dict[str, Any]:
    return {
        "id": ident,
        "base_kw": [1.0] * STEPS,
        "devices": [battery()],
    }


def agent(ident: str) -> dict[str, Any]:
    building = house(ident)
    simulated = {"steps": STEPS, "step_h": 1.0, "building": building}
    return {
        "building": building,
        "cycle_s": 1.0,
        "channels": [{"edc": "area-1", "function": "dac", "token": "secret"}],
        "gateway": {"adapter": "simulated", "realtime": True, "speedup": 3600.0, **simulated},
    }


def document(*idents: str) -> dict[str, Any]:
    return {
        "steps": STEPS,
        "step_h": 1.0,
        "tariff_per_kwh": [0.1, 0.3, 0.2, 0.1],
        "agents": [agent(i) for i in idents],
    }


@pytest.mark.parametrize(
    ("service", "idents"), [("building", ("b1",)), ("buildings", ("b1", "b2"))]
)
async def test_agents_run_from_the_settings_and_stop(service: str, idents: tuple[str, ...]) -> None:
    settings = Settings(bus={"backend": "memory"}, buildings=document(*idents))
    services = build_services(settings, [service])  # type: ignore[list-item]
    runner = services[-1]
    assert isinstance(runner, BuildingAgentsRunner)
    for item in services:
        await item.start()
    try:
        assert runner.ready()
        deadline = asyncio.get_running_loop().time() + 10
        while not all(a.step >= 2 for a in runner.agents):  # cycling with the devices
            assert asyncio.get_running_loop().time() < deadline, "no agent planned in time"
            await asyncio.sleep(0.01)
        assert [a.building.id for a in runner.agents] == list(idents)
        assert all(a.plan is not None and a.plan.status == "optimal" for a in runner.agents)
    finally:
        for item in reversed(services):
            await item.stop()
    assert not runner.ready()


def test_learning_and_the_plan_time_limit_are_read_per_agent() -> None:
    doc = document("b1")
    doc["agents"][0]["learning"] = {"enabled": False, "keep_days": 14}
    doc["agents"][0]["plan_time_limit_s"] = 0.5
    settings = Settings(bus={"backend": "memory"}, buildings=doc)
    runner = build_services(settings, ["building"])[-1]
    assert isinstance(runner, BuildingAgentsRunner)
    agent_settings = runner.agents[0].settings
    assert agent_settings.learning.enabled is False
    assert agent_settings.learning.keep_days == 14
    assert agent_settings.plan_time_limit_s == 0.5
    assert runner.agents[0].planner.mode_time_limit_s == 0.5


def test_each_building_belongs_to_the_party_its_agent_names() -> None:
    doc = document("b1", "b2")
    doc["agents"][0]["party"] = "alice"
    settings = Settings(bus={"backend": "memory"}, buildings=doc)
    runner = build_services(settings, ["buildings"])[-1]
    assert isinstance(runner, BuildingAgentsRunner)
    assert runner.parties == {"b1": "alice", "b2": None}
    assert [(o.agent.building.id, o.party) for o in runner.owned()] == [
        ("b1", "alice"),
        ("b2", None),
    ]


def test_one_agent_for_osed_run_building() -> None:
    settings = Settings(bus={"backend": "memory"}, buildings=document("b1", "b2"))
    with pytest.raises(ConfigurationError, match="runs one agent"):
        build_services(settings, ["building"])


def test_every_problem_of_the_document_is_named_with_its_path() -> None:
    bad = document("b1", "b1")
    bad["step_h"] = 0
    bad["agents"][0]["channels"][0]["function"] = "no/slash"
    del bad["agents"][1]["gateway"]
    bad["agents"][0]["building"]["devices"][0]["soc_min"] = 2
    bad["agents"][0]["extra"] = 1
    bad["agents"][1]["learning"] = {"enabled": "yes", "thermal_days": 2, "memory": 1}
    bad["agents"][1]["plan_time_limit_s"] = 0
    bad["agents"][0]["party"] = ""
    bad["agents"][1]["party"] = "x" * 129
    settings = Settings(bus={"backend": "memory"}, buildings=bad)
    with pytest.raises(ValidationError) as caught:
        build_services(settings, ["buildings"])
    paths = {p.path for p in caught.value.problems}
    assert {
        "$.step_h",
        "$.agents[0].channels[0].function",
        "$.agents[1].gateway",
        "$.agents[0].building.devices[0].soc_min",
        "$.agents[0].extra",
        "$.agents[1].building.id",
        "$.agents[1].learning.enabled",
        "$.agents[1].learning.thermal_days",
        "$.agents[1].learning.memory",
        "$.agents[1].plan_time_limit_s",
        "$.agents[0].party",
        "$.agents[1].party",
    } <= paths, paths


def test_a_bad_gateway_document_is_named_under_its_agent() -> None:
    bad = document("b1")
    bad["agents"][0]["gateway"]["adapter"] = "telepathy"
    settings = Settings(bus={"backend": "memory"}, buildings=bad)
    with pytest.raises(ValidationError) as caught:
        build_services(settings, ["building"])
    assert [p.path for p in caught.value.problems] == ["$.buildings.agents[0].gateway.adapter"]


def test_config_show_masks_the_channel_tokens() -> None:
    settings = Settings(bus={"backend": "memory"}, buildings=document("b1"))
    shown = masked_settings(settings)
    assert "secret" not in str(shown)
    assert shown["buildings"]["agents"][0]["channels"][0]["token"] == MASK
