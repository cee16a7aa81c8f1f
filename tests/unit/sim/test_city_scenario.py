"""The bundled city scenario: 10,000 households in 100 areas, and one grid step on it."""

from __future__ import annotations

import numpy as np
import pytest

from osed.edge.intelligence_areas import AreaMap
from osed.sim.scenario import bundled_scenario, load_scenario, materialise
from osed.sim.sim_grid import GridSim


@pytest.fixture(scope="module")
def city():  # type: ignore[no-untyped-def]
    return materialise(load_scenario(bundled_scenario("city")))


def test_the_city_holds_ten_thousand_households_in_a_hundred_areas(city) -> None:  # type: ignore[no-untyped-def]
    assert len(city.households) == 10_000
    assert city.steps == 96
    assert city.edcs == "intelligence"
    transformers = [a for a in AreaMap(city.network).areas() if a.kind == "transformer"]
    assert len(transformers) == 100
    assert {a.rating_kw for a in transformers} == {250.0}
    per_area = np.unique([h.bus.split("-")[0] for h in city.households], return_counts=True)[1]
    assert set(per_area.tolist()) == {100}


def test_a_grid_step_on_the_city_balances_its_power(city) -> None:  # type: ignore[no-untyped-def]
    grid = GridSim(
        city.network,
        [h.bus for h in city.households],
        voltage_sigma_pu=city.voltage_sigma_pu,
        power_sigma_kw=city.power_sigma_kw,
        rng=np.random.default_rng(0),
    )
    step = 76  # 19:00 local, the evening peak
    net_kw = np.array([h.building.base_kw[step] for h in city.households]) + 1.5
    found = grid.step(net_kw)
    loads_kw = float(found.injected_kw.sum())
    assert loads_kw == pytest.approx(net_kw.sum(), rel=1e-9)
    losses_kw = float(np.sum(found.p_from_kw + found.p_to_kw))
    assert found.area_import_kw == pytest.approx(loads_kw + losses_kw, rel=1e-6, abs=1e-3)
    assert 0.0 < losses_kw < 0.08 * loads_kw
    assert found.observed is not None
    assert np.nanmax(np.abs(found.estimated_voltage_pu - found.voltage_pu)) < 0.01
    assert len(found.observed.loading) == len(found.branch_ids)
