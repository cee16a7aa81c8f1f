"""The grid intelligence on the memory bus: an estimated overload that persists creates an EDC
with capacity-limit for the feeder it lies on; once clear long enough the EDC goes; every
decision is published and stored with its reason."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from osed.edge.intelligence import IntelligenceConfig
from osed.edge.intelligence_rules import Rules
from osed.sim.feeders import radial_feeder
from tests.unit.edge.conftest import eventually
from tests.unit.edge.intelligence_support import Site, at, estimate

RULES = Rules(hold_off_s=30, clear_hold_off_s=60)
CONFIG = IntelligenceConfig(rules=RULES, import_limit_share=0.9)
FEEDER_KW = math.sqrt(3) * 10_500.0 * 400.0 / 1e3  # a feeder head's rating (400 A)


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    made = Site(tmp_path / "edc.sqlite", radial_feeder(21, feeder_length=10))
    await made.listen()
    yield made
    await made.close()


async def test_a_persisting_overload_creates_an_edc_that_goes_once_clear(site: Site) -> None:
    intelligence = await site.start(CONFIG)
    manager = site.manager(intelligence)
    # l5 (400 A) on the first feeder at 110 %: seen, but it must persist 30 s
    await site.publish(estimate(at(0), amps={"l5": 440.0, "l15": 100.0}, pu={"n5": 0.99}))
    await eventually(lambda: len(site.decisions) == 1)
    assert site.decisions[0]["action"] == "ignore"
    assert site.decisions[0]["event"] == "appeared"
    await site.publish(estimate(at(10), amps={"l5": 450.0}))
    await site.publish(estimate(at(30), amps={"l5": 445.0}, pu={"n5": 0.97, "n15": 1.0}))
    await eventually(lambda: len(site.decisions) == 2)
    created = site.decisions[1]
    assert created["action"] == "create"
    assert created["area"] == "l1"
    assert created["edc"] == "gi-l1"
    assert created["functions"] == ["capacity-limit"]
    assert "overload at l5" in created["reason"]
    edc = manager.get("gi-l1")
    assert edc.element == "l1"
    parameters = edc.function_status("capacity-limit")["parameters"]
    assert parameters["import_limit_kw"] == pytest.approx(FEEDER_KW * 0.9, rel=1e-6)
    assert parameters["export_limit_kw"] == parameters["import_limit_kw"]
    # the EDC sees its own feeder's estimated voltages, not the other feeder's
    grid = edc._grid_state
    assert grid["voltages_pu"] == pytest.approx({"n5": 0.97})
    # between clear (0.9) and trigger (1.0): still an overload; then clear for 60 s
    await site.publish(estimate(at(40), amps={"l5": 380.0}))
    await site.publish(estimate(at(50), amps={"l5": 300.0}))
    await site.publish(estimate(at(100), amps={"l5": 300.0}))
    assert [e.edc_id for e in manager.edcs()] == ["gi-l1"]
    await site.publish(estimate(at(110), amps={"l5": 310.0}))
    await eventually(lambda: len(site.decisions) == 3)
    destroyed = site.decisions[2]
    assert destroyed["action"] == "destroy"
    assert destroyed["edc"] == "gi-l1"
    assert "clear for 0:01:00" in destroyed["reason"]
    assert manager.edcs() == []
    assert manager.resources() == {"edcs": 0, "tasks": 0, "subscriptions": 0, "channels": 0}
    stored = site.stored(intelligence)
    assert [d["action"] for d in stored] == ["ignore", "create", "destroy"]
    assert [d["reason"] for d in stored] == [d["reason"] for d in site.decisions]


async def test_voltages_map_to_their_functions_and_a_source_node_has_no_area(site: Site) -> None:
    config = IntelligenceConfig(rules=Rules(hold_off_s=0, clear_hold_off_s=0))
    intelligence = await site.start(config)
    manager = site.manager(intelligence)
    await site.publish(estimate(at(0), pu={"n14": 1.07, "n3": 0.93, "n0": 1.08}))
    await eventually(lambda: len(site.decisions) == 3)
    by_area = {d["area"]: d for d in site.decisions}
    assert by_area["l11"]["action"] == "create"
    assert by_area["l11"]["functions"] == ["volt-var"]
    assert by_area["l1"]["functions"] == ["capacity-limit"]
    assert by_area["n0"]["action"] == "ignore"
    assert "no electric area" in by_area["n0"]["reason"]
    assert manager.get("gi-l11").function_names() == ["volt-var"]
    # a second violation in a managed area keeps the EDC and adds its function
    await site.publish(estimate(at(5), pu={"n14": 1.07, "n12": 0.9, "n3": 0.93}))
    await eventually(lambda: len(site.decisions) == 4)
    assert site.decisions[3]["action"] == "keep"
    assert site.decisions[3]["functions"] == ["capacity-limit"]
    assert sorted(manager.get("gi-l11").function_names()) == ["capacity-limit", "volt-var"]


async def test_a_failed_estimate_decides_nothing(site: Site) -> None:
    intelligence = await site.start(IntelligenceConfig(rules=Rules(hold_off_s=0)))
    await site.publish(estimate(at(0), amps={"l5": 900.0}, status="unobservable"))
    await site.publish(estimate(at(1), amps={"l15": 900.0}))
    await eventually(lambda: len(site.decisions) == 1)
    assert site.decisions[0]["area"] == "l11"
    assert [e.element for e in site.manager(intelligence).edcs()] == ["l11"]


async def test_a_restarted_intelligence_adopts_its_edc_and_lets_it_go_once_clear(
    site: Site,
) -> None:
    first = await site.start(IntelligenceConfig(rules=Rules(hold_off_s=0, clear_hold_off_s=60)))
    await site.publish(estimate(at(0), amps={"l5": 500.0}))
    await eventually(lambda: len(site.decisions) == 1)
    await site.stop(first)
    second = await site.start(IntelligenceConfig(rules=Rules(hold_off_s=0, clear_hold_off_s=60)))
    manager = site.manager(second)
    assert [e.edc_id for e in manager.edcs()] == ["gi-l1"]
    await site.publish(estimate(at(100), amps={"l5": 100.0}))
    await site.publish(estimate(at(140), amps={"l5": 100.0}))
    assert [e.edc_id for e in manager.edcs()] == ["gi-l1"]
    await site.publish(estimate(at(160), amps={"l5": 100.0}))
    await eventually(lambda: len(site.decisions) == 2)
    assert site.decisions[1]["action"] == "destroy"
    assert "resumed EDC" in site.decisions[1]["reason"]
    assert manager.edcs() == []


async def test_a_forecast_violation_creates_an_edc_and_a_bad_forecast_changes_nothing(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    config = IntelligenceConfig(
        rules=Rules(hold_off_s=0, clear_hold_off_s=0), forecast_topic="forecast/load"
    )
    intelligence = await site.start(config)
    bad = {"timestamp": "yesterday", "branches": {"l5": "high", "l6": -1}, "extra": 1}
    await site.publish([("forecast/load", json.dumps(bad).encode())])
    good = {"timestamp": at(0).isoformat(), "nodes": {"n4": 0.9}}
    await site.publish([("forecast/load", json.dumps(good).encode())])
    await eventually(lambda: len(site.decisions) == 1)
    assert site.decisions[0]["action"] == "create"
    assert site.decisions[0]["source"] == "forecast"
    assert site.decisions[0]["condition"] == "voltage_low"
    assert [e.edc_id for e in site.manager(intelligence).edcs()] == ["gi-l1"]
    warning = next(r.getMessage() for r in caplog.records if "forecast" in r.getMessage())
    for path in ("$.timestamp", "$.branches.l5", "$.branches.l6", "$.extra"):
        assert path in warning


async def test_an_edc_destroyed_through_the_manager_is_created_again(site: Site) -> None:
    config = IntelligenceConfig(rules=Rules(hold_off_s=0, clear_hold_off_s=0))
    intelligence = await site.start(config)
    manager = site.manager(intelligence)
    await site.publish(estimate(at(0), amps={"l5": 500.0}))
    await eventually(lambda: len(site.decisions) == 1)
    await manager.destroy("gi-l1")
    await site.publish(estimate(at(1), amps={"l5": 500.0, "l6": 500.0}))
    await eventually(lambda: len(site.decisions) == 2)
    assert site.decisions[1]["action"] == "create"
    assert site.decisions[1]["element"] == "l6"
    await site.publish(estimate(at(2), amps={"l5": 100.0, "l6": 100.0}))
    await eventually(lambda: len(site.decisions) == 4)
    assert [d["action"] for d in site.decisions[2:]] == ["keep", "destroy"]
    assert "still overload at l6" in site.decisions[2]["reason"]
    assert manager.edcs() == []


async def test_an_area_where_one_violation_clears_as_another_acts_keeps_its_edc(
    site: Site,
) -> None:
    config = IntelligenceConfig(rules=Rules(hold_off_s=0, clear_hold_off_s=0))
    intelligence = await site.start(config)
    await site.publish(estimate(at(0), amps={"l5": 500.0}))
    await eventually(lambda: len(site.decisions) == 1)
    await site.publish(estimate(at(1), amps={"l5": 100.0}, pu={"n5": 0.9}))
    await eventually(lambda: len(site.decisions) == 3)
    assert [d["action"] for d in site.decisions] == ["create", "keep", "keep"]
    assert [e.edc_id for e in site.manager(intelligence).edcs()] == ["gi-l1"]
