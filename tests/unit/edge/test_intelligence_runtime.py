"""The grid intelligence in the runtime: its settings section, and ``edc-manager`` with the
intelligence enabled beside the real state-estimation service on the memory bus."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from osed.domain.errors import ValidationError
from osed.domain.time import ManualClock
from osed.grid.imports.files import to_document
from osed.runtime.container import EdcManagerRunner, EstimationRunner, build_services
from osed.runtime.settings import Settings, load_settings
from osed.storage.intelligence_sqlite import SqliteDecisionStore
from tests.unit.grid_services.estimation_support import T0, estimate_once, feeder

FEEDER = feeder(31)


def test_every_problem_of_the_section_is_named_with_its_path(tmp_path: Path) -> None:
    config = tmp_path / "osed.yaml"
    config.write_text(
        """
intelligence:
  enabled: true
  loading_clear: 1.1
  voltage_high_clear: 1.2
  hold_off_s: -5
  estimation_prefix: "se/#"
  functions: {overheat: [dlc]}
"""
    )
    with pytest.raises(ValidationError) as caught:
        load_settings(config)
    assert {p.path for p in caught.value.problems} == {
        "$.intelligence.hold_off_s",
        "$.intelligence.estimation_prefix",
        "$.intelligence.functions.overheat.[key]",
    }
    config.write_text("intelligence: {loading_clear: 1.1, voltage_high_clear: 1.2}\n")
    with pytest.raises(ValidationError) as caught:
        load_settings(config)
    assert [p.path for p in caught.value.problems] == [
        "$.intelligence.loading_clear",
        "$.intelligence.voltage_high_clear",
    ]


def test_the_intelligence_needs_a_network(tmp_path: Path) -> None:
    settings = Settings(
        edc={"sqlite_path": tmp_path / "edc.sqlite"}, intelligence={"enabled": True}
    )
    with pytest.raises(ValidationError) as caught:
        build_services(settings, ["edc-manager"], state_dir=tmp_path / "state")
    assert [p.path for p in caught.value.problems] == ["$.intelligence.network"]


async def test_estimated_overloads_create_edcs_for_their_feeders(tmp_path: Path) -> None:
    """Measurements in, estimates out, and an EDC per feeder whose estimated head loading is
    over the trigger (42 % of 400 A here: two of the three feeder heads carry more)."""
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps(to_document(FEEDER.network)))
    settings = Settings(
        storage={"sqlite_path": tmp_path / "osed.sqlite"},
        estimation={"network": str(grid), "period_s": 10},
        edc={"sqlite_path": tmp_path / "edc.sqlite", "port": 0, "network": str(grid)},
        intelligence={
            "enabled": True,
            "loading_trigger": 0.42,
            "loading_clear": 0.3,
            "hold_off_s": 0,
        },
    )
    clock = ManualClock(T0)
    services = build_services(
        settings, ["estimation", "edc-manager"], clock=clock, state_dir=tmp_path / "state"
    )
    bus_service, estimation, edc = services
    assert isinstance(estimation, EstimationRunner)
    assert isinstance(edc, EdcManagerRunner)
    for service in services:
        await service.start()
    try:
        await estimate_once(
            bus_service.bus,
            estimation.service,
            clock,
            FEEDER.measurements,
            T0 + timedelta(seconds=1),
        )
        flows = FEEDER.state.branches
        loaded = {
            b
            for b, amps in zip(flows.ids, np.asarray(flows.i_from_a), strict=True)
            if amps > 0.42 * 400.0
        }
        expected = sorted({f"gi-{a.element}" for b in loaded if (a := _area(edc, b))})
        assert expected == ["gi-l1", "gi-l11"]  # l21 carries 163 A, under 168 A
        for _ in range(300):
            if [e.edc_id for e in edc.manager.edcs()] == expected:
                break
            await asyncio.sleep(0.01)
        assert [e.edc_id for e in edc.manager.edcs()] == expected
        for created in edc.manager.edcs():
            assert created.function_names() == ["capacity-limit"]
    finally:
        for service in reversed(services):
            await service.stop()
    with SqliteDecisionStore(tmp_path / "edc.sqlite") as store:
        actions = [json.loads(d)["action"] for _, d in store.recent()]
    assert actions.count("create") == len(expected)


def _area(runner: EdcManagerRunner, branch: str) -> object:
    assert runner.intelligence is not None
    return runner.intelligence._areas.area_of(branch)
