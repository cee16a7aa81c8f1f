"""The state-estimation service in the runtime: its settings section, its runner,
``osed run estimation``."""

from __future__ import annotations

import argparse
import json
from datetime import timedelta
from pathlib import Path

import pytest

from osed.cli.serve import register
from osed.domain.errors import ValidationError
from osed.domain.time import ManualClock
from osed.grid.imports.files import to_document
from osed.runtime.container import BusService, EstimationRunner, build_services, estimation_config
from osed.runtime.settings import SERVICES, Settings, load_settings
from osed.storage.timeseries_sqlite import SqliteTimeSeriesStore
from tests.unit.grid_services.estimation_support import T0, estimate_once, feeder

FEEDER = feeder(31)


def test_the_defaults_are_valid_and_need_a_network() -> None:
    settings = Settings()
    assert "estimation" in SERVICES
    with pytest.raises(ValidationError) as caught:
        estimation_config(settings.estimation)
    assert [p.path for p in caught.value.problems] == ["$.estimation.network"]
    config = settings.estimation.to_config(network="grid.json")
    assert config.trigger == "cadence"
    assert config.period == timedelta(minutes=1)
    assert config.inputs == ("bal/processed",)
    assert config.output_prefix == "se"
    assert dict(config.default_sigma) == {"voltage": 0.005, "power": 0.02}


def test_every_problem_of_the_section_is_named_with_its_path(tmp_path: Path) -> None:
    config = tmp_path / "osed.yaml"
    config.write_text(
        """
estimation:
  network: grid.json
  trigger: snapshot
  period_s: -1
  inputs: ["bal/processed", "a/#/b"]
  sensors:
    - {component: m1, measurand: voltmagnitude, phase: N}
    - {component: m2, measurand: currmagnitude, element: l1, side: from}
  default_sigma: {voltage: 0.01, heat: 1}
  bad_data: {confidence: 2}
  output_prefix: "se/#"
"""
    )
    with pytest.raises(ValidationError) as caught:
        load_settings(config)
    paths = {p.path for p in caught.value.problems}
    assert paths == {
        "$.estimation.period_s",
        "$.estimation.inputs[1]",
        "$.estimation.sensors[0].phase",
        "$.estimation.sensors[1].sigma",
        "$.estimation.default_sigma.heat",
        "$.estimation.bad_data.confidence",
        "$.estimation.output_prefix",
    }


def test_the_environment_sets_the_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSED_ESTIMATION__NETWORK", "pandapower:mv_oberrhein")
    monkeypatch.setenv("OSED_ESTIMATION__PERIOD_S", "15")
    monkeypatch.setenv("OSED_ESTIMATION__INPUTS", '["bal/processed/#"]')
    monkeypatch.setenv("OSED_SERVICES", '["bridge", "estimation"]')
    settings = load_settings()
    assert settings.services == ["bridge", "estimation"]
    config = estimation_config(settings.estimation)
    assert config.network == "pandapower:mv_oberrhein"
    assert config.period == timedelta(seconds=15)
    assert config.inputs == ("bal/processed/#",)


def test_osed_run_accepts_estimation() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="group"))
    assert parser.parse_args(["run", "estimation"]).service == "estimation"


def test_network_and_sensor_problems_are_settings_problems(tmp_path: Path) -> None:
    missing = Settings(estimation={"network": str(tmp_path / "none.json")})
    with pytest.raises(ValidationError) as caught:
        build_services(missing, ["estimation"], state_dir=tmp_path / "state")
    assert [p.path for p in caught.value.problems] == ["$.estimation.network"]

    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps(to_document(FEEDER.network)))
    unknown = Settings(
        estimation={
            "network": str(grid),
            "sensors": [{"component": "m", "measurand": "voltmagnitude", "element": "n99"}],
        }
    )
    with pytest.raises(ValidationError) as caught:
        build_services(unknown, ["estimation"], state_dir=tmp_path / "state")
    assert [p.path for p in caught.value.problems] == ["$.estimation.sensors[0].element"]


async def test_the_embedded_defaults_run_the_service(tmp_path: Path) -> None:
    """In-memory bus, SQLite store, a network file: measurements in, the state out."""
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps(to_document(FEEDER.network)))
    database = tmp_path / "osed.sqlite"
    settings = Settings(
        storage={"sqlite_path": database},
        estimation={"network": str(grid), "period_s": 10},
    )
    clock = ManualClock(T0)
    state_dir = tmp_path / "state"
    services = build_services(settings, ["estimation"], clock=clock, state_dir=state_dir)
    bus_service, runner = services
    assert isinstance(bus_service, BusService)
    assert isinstance(runner, EstimationRunner)
    for service in services:
        await service.start()
    assert runner.ready()
    await estimate_once(
        bus_service.bus, runner.service, clock, FEEDER.measurements, T0 + timedelta(seconds=1)
    )
    for service in reversed(services):
        await service.stop()
    assert (state_dir / "estimation-positions.sqlite").exists()
    assert (state_dir / "outbox-estimation.sqlite").exists()
    graph = json.loads((state_dir / "estimation-graph.json").read_text())
    assert graph["timestamp"] == "2023-06-29T10:00:10.000000+00:00"
    with SqliteTimeSeriesStore(database) as store:
        (point,) = store.read("se/node/n7/voltmagnitude/ABC", T0, T0 + timedelta(hours=1))
    assert point.value == pytest.approx(float(FEEDER.state.u_v[7]), abs=1e-3)
