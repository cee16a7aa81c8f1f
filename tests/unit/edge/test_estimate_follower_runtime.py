"""``edc-manager`` run beside the real state-estimation service on the memory bus, without the
grid intelligence: measurements in, estimates out, and each EDC with its area's estimated
state; the settings that choose it."""

from __future__ import annotations

import asyncio
import json
import math
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from osed.domain.errors import ValidationError
from osed.domain.time import ManualClock
from osed.grid.imports.files import to_document
from osed.runtime.container import EdcManagerRunner, EstimationRunner, build_services
from osed.runtime.settings import Settings, load_settings
from tests.unit.grid_services.estimation_support import T0, estimate_once, feeder

FEEDER = feeder(31)


def test_the_prefix_and_the_maximum_age_are_checked(tmp_path: Path) -> None:
    config = tmp_path / "osed.yaml"
    config.write_text('edc: {estimation_prefix: "se/#", grid_state_max_age_s: 0}\n')
    with pytest.raises(ValidationError) as caught:
        load_settings(config)
    assert {p.path for p in caught.value.problems} == {
        "$.edc.estimation_prefix",
        "$.edc.grid_state_max_age_s",
    }


@pytest.mark.parametrize(
    ("edc", "follows"),
    [
        ({}, False),  # no network model: estimates cannot be cut per area
        ({"network": "<grid>"}, True),
        ({"network": "<grid>", "estimation_prefix": ""}, False),
    ],
)
def test_the_manager_follows_estimates_with_a_network_and_a_prefix(
    tmp_path: Path, edc: dict[str, str], follows: bool
) -> None:
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps(to_document(FEEDER.network)))
    section = {k: str(grid) if v == "<grid>" else v for k, v in edc.items()}
    settings = Settings(edc={"sqlite_path": tmp_path / "edc.sqlite", "port": 0, **section})
    (runner,) = build_services(settings, ["edc-manager"], state_dir=tmp_path / "state")[1:]
    assert isinstance(runner, EdcManagerRunner)
    assert (runner.follower is not None) is follows
    runner.store.close()


async def test_each_edc_gets_its_areas_part_of_the_services_estimate(tmp_path: Path) -> None:
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps(to_document(FEEDER.network)))
    settings = Settings(
        storage={"sqlite_path": tmp_path / "osed.sqlite"},
        estimation={"network": str(grid), "period_s": 10},
        edc={"sqlite_path": tmp_path / "edc.sqlite", "port": 0, "network": str(grid)},
    )
    clock = ManualClock(T0)
    services = build_services(
        settings, ["estimation", "edc-manager"], clock=clock, state_dir=tmp_path / "state"
    )
    bus_service, estimation, edc = services
    assert isinstance(estimation, EstimationRunner)
    assert isinstance(edc, EdcManagerRunner)
    assert edc.intelligence is None
    assert edc.follower is not None
    for service in services:
        await service.start()
    try:
        await edc.manager.create("feeder-2", "l11", idempotency_key="k")
        await estimate_once(
            bus_service.bus,
            estimation.service,
            clock,
            FEEDER.measurements,
            T0 + timedelta(seconds=1),
        )
        for _ in range(300):
            if edc.follower.estimates:
                break
            await asyncio.sleep(0.01)
        state = edc.manager.get("feeder-2").grid_state()
        assert state["grid_state_source"] == "estimate"
        assert set(state["voltages_pu"]) == {f"n{i}" for i in range(11, 21)}
        ids = list(FEEDER.state.node_ids)
        for node, value in state["voltages_pu"].items():
            truth = float(np.asarray(FEEDER.state.u_v)[ids.index(node)]) * math.sqrt(3) / 10_500
            assert value == pytest.approx(truth, abs=2e-3)  # estimated from noiseless readings
        assert state["grid_state_stale"] is False
    finally:
        for service in reversed(services):
            await service.stop()
