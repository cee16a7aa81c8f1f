"""The statistics service in the runtime: its settings section, its runner, ``osed run stats``."""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from osed.bus.reliable import Publisher
from osed.cli.serve import register
from osed.domain.errors import ValidationError
from osed.domain.time import ManualClock
from osed.grid.stats import DEFAULT_STATS, STATS
from osed.grid_services import FIELD_NAMES
from osed.runtime.container import BusService, StatsRunner, build_services, stats_config
from osed.runtime.settings import SERVICES, Settings, load_settings
from osed.storage.timeseries_sqlite import SqliteTimeSeriesStore
from tests.unit.grid_services.stats_support import T0, pmu


def test_the_defaults_are_valid_and_map_onto_the_service_config() -> None:
    settings = Settings()
    config = stats_config(settings.stats)
    assert config.inputs == ("bal/processed",)
    assert config.period == timedelta(minutes=1)
    assert config.fields == DEFAULT_STATS
    assert config.output_topic == "bal/stats/{device}"
    assert "stats" in SERVICES
    assert ("count", *STATS) == FIELD_NAMES


def test_every_problem_of_the_section_is_named_with_its_path(tmp_path: Path) -> None:
    config = tmp_path / "osed.yaml"
    config.write_text(
        """
stats:
  period_s: 0
  inputs: ["bal/processed", "a/#/b"]
  output_topic: "x/{node}"
  fields: [mean, median]
  series: "{device}/{unit}"
  colour: blue
"""
    )
    with pytest.raises(ValidationError) as caught:
        load_settings(config)
    paths = {p.path for p in caught.value.problems}
    assert paths == {
        "$.stats.period_s",
        "$.stats.inputs[1]",
        "$.stats.output_topic",
        "$.stats.fields[1]",
        "$.stats.series",
        "$.stats.colour",
    }
    (fields,) = [p for p in caught.value.problems if p.path == "$.stats.fields[1]"]
    assert "median" in fields.message


def test_the_environment_sets_the_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSED_STATS__PERIOD_S", "0.5")
    monkeypatch.setenv("OSED_STATS__INPUTS", '["bal/processed/#"]')
    monkeypatch.setenv("OSED_STATS__STORE", "false")
    monkeypatch.setenv("OSED_SERVICES", '["bridge", "stats"]')
    settings = load_settings()
    assert settings.services == ["bridge", "stats"]
    config = stats_config(settings.stats)
    assert config.period == timedelta(milliseconds=500)
    assert config.inputs == ("bal/processed/#",)
    assert config.series is None


def test_osed_run_accepts_stats() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="group"))
    assert parser.parse_args(["run", "stats"]).service == "stats"


async def test_the_embedded_defaults_run_the_service(tmp_path: Path) -> None:
    """In-memory bus, SQLite store: a measurement in, its aggregate stored."""
    database = tmp_path / "osed.sqlite"
    settings = Settings(
        storage={"sqlite_path": database},
        stats={"period_s": 10},
    )
    clock = ManualClock(T0)
    services = build_services(settings, ["stats"], clock=clock, state_dir=tmp_path / "state")
    bus_service, runner = services
    assert isinstance(bus_service, BusService)
    assert isinstance(runner, StatsRunner)
    for service in services:
        await service.start()
    assert runner.ready()
    device = Publisher(bus_service.bus, "bridge.pmu", clock=clock, heartbeat=None)
    await device.start()
    await device.publish("bal/processed", pmu("pmu1", T0, 230.0))
    await device.publish("bal/processed", pmu("pmu1", T0 + timedelta(seconds=1), 232.0))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if runner.service.counters.received == 2:
            break
    clock.advance(timedelta(minutes=1))
    assert await runner.service.tick()
    await device.close()
    for service in reversed(services):
        await service.stop()
    assert (tmp_path / "state" / "stats-positions.sqlite").exists()
    assert (tmp_path / "state" / "outbox-stats.sqlite").exists()
    with SqliteTimeSeriesStore(database) as store:
        (mean,) = store.read("pmu1/n1/voltmagnitude_mean/A", T0, T0 + timedelta(hours=1))
    assert mean.value == pytest.approx(231.0)
