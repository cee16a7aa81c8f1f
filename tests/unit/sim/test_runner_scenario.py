"""The bundled small scenario played whole: PV, batteries, EVs, heat pumps and water heaters
behind their gateways, DAC, a capacity limit and a market every 15 minutes."""

from __future__ import annotations

import numpy as np
import pytest

from osed.sim.results import StudyResult, table_problems
from osed.sim.runner import run_study
from osed.sim.scenario import bundled_scenario, load_study
from osed.sim.study import Study


@pytest.fixture(scope="module")
def study() -> Study:
    return load_study(bundled_scenario("small"))


@pytest.fixture(scope="module")
def result(study: Study) -> StudyResult:
    return run_study(study)


def test_the_tables_are_whole_and_the_ledger_balances(result: StudyResult) -> None:
    for run in (result.baseline, result.managed):
        for name, table in run.tables.items():
            assert table_problems(name, table) == []
    assert result.kpis["ledger_verified"] is True
    assert result.kpis["market_imbalance_kwh"] == 0.0
    assert result.kpis["market_volume_kwh"] > 0
    assert result.kpis["dac_iterations"] > 0


def test_the_devices_keep_their_limits_and_the_houses_their_comfort(
    study: Study, result: StudyResult
) -> None:
    limits = {}
    for household in study.households:
        battery = next((d for d in household.building.devices if d.kind == "battery"), None)
        if battery is not None:
            limits[household.id] = (battery["soc_min"], battery["soc_max"])
    assert limits
    for run in (result.baseline, result.managed):
        table = run.tables["households"]
        for household, (low, high) in limits.items():
            soc = table["battery_soc"][table["household"] == household]
            assert np.all((soc >= low - 1e-6) & (soc <= high + 1e-6))
        ev = table["ev_energy_kwh"][np.isfinite(table["ev_energy_kwh"])]
        assert np.all(ev >= -1e-9)
        assert result.kpis[f"comfort_violations_{run.run}"] <= 0.01 * len(table["indoor_c"])


def test_the_area_import_is_the_households_nets_plus_losses(
    study: Study, result: StudyResult
) -> None:
    n = len(study.households)
    for run in (result.baseline, result.managed):
        nets = run.tables["households"]["net_kw"].reshape(study.steps, n).sum(axis=1)
        losses = run.tables["grid"]["area_import_kw"] - nets
        assert np.all(losses >= -1e-6)
        assert np.all(losses <= 0.05 * np.abs(nets) + 0.5)


def test_the_managed_run_lowers_the_peak_and_keeps_what_the_households_need(
    result: StudyResult,
) -> None:
    k = result.kpis
    assert k["peak_reduction_pct"] > 5.0
    assert k["peak_managed_kw"] < k["peak_baseline_kw"]
    assert k["voltage_violations_managed"] <= k["voltage_violations_baseline"]
    assert k["comfort_violations_managed"] == 0
    assert k["ev_unserved_kwh_managed"] <= k["ev_unserved_kwh_baseline"] + 1.0
    assert k["ledger_verified"] is True
    assert k["market_imbalance_kwh"] == 0.0  # bought = sold in every interval


def test_the_area_limit_comes_back_when_the_dso_limit_ends(
    study: Study, result: StudyResult
) -> None:
    activity = result.managed.tables["activity"]
    rows = list(zip(activity["time_utc"], activity["kind"], activity["edc"], strict=True))
    (event,) = study.events
    ended = [at for at, kind, _ in rows if kind == "capacity_limit_end"]
    restored = [(at, edc) for at, kind, edc in rows if kind == "function_restored"]
    assert restored == [(ended[0], "area-trafo")]
    assert event.kind == "capacity_limit"
