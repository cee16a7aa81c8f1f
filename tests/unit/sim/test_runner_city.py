"""The city scenario scaled down to 1,000 households in 10 areas, more of them with a car so
that some areas overload: EDCs run only where the grid intelligence creates them, agents only
in those areas, and every other household plays the same in both runs."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from osed.sim.results import StudyResult
from osed.sim.runner import run_study
from osed.sim.scenario import bundled_scenario, load_study, read_document
from osed.sim.study import Study

AREAS = 10
PER_AREA = 100


@pytest.fixture(scope="module")
def study() -> Study:
    document: dict[str, Any] = copy.deepcopy(dict(read_document(bundled_scenario("city"))))
    document["network"]["generated"] |= {"households": AREAS * PER_AREA, "areas": AREAS}
    document["households"]["shares"] |= {"ev": 0.3}
    return load_study(document)


@pytest.fixture(scope="module")
def result(study: Study) -> StudyResult:
    return run_study(study)


def _area(bus: str) -> str:
    return bus.split("-", maxsplit=1)[0]


def _joined_areas(result: StudyResult) -> set[str]:
    activity = result.managed.tables["activity"]
    return {
        edc.removeprefix("gi-").split("-")[0]
        for kind, edc in zip(activity["kind"], activity["edc"], strict=True)
        if kind == "enrolled"
    }


def test_agents_run_only_in_the_areas_the_intelligence_chose(
    study: Study, result: StudyResult
) -> None:
    joined = _joined_areas(result)
    assert 0 < len(joined) < AREAS
    activity = result.managed.tables["activity"]
    for kind, detail in zip(activity["kind"], activity["detail"], strict=True):
        if kind == "enrolled":
            assert detail.startswith(f"{PER_AREA} households joined")
    assert result.kpis["agents_started"] % PER_AREA == 0
    assert result.kpis["agents_started"] >= PER_AREA * len(joined)
    assert "enrolled" not in set(result.baseline.tables["activity"]["kind"])


def test_households_of_the_other_areas_play_the_same_in_both_runs(
    study: Study, result: StudyResult
) -> None:
    joined = _joined_areas(result)
    n = len(study.households)
    untouched = np.array([_area(h.bus) not in joined for h in study.households])
    assert untouched.any()
    for column in ("net_kw", "battery_soc", "ev_energy_kwh", "indoor_c", "water_heater_kwh"):
        managed = result.managed.tables["households"][column].reshape(-1, n)[:, untouched]
        baseline = result.baseline.tables["households"][column].reshape(-1, n)[:, untouched]
        np.testing.assert_array_equal(managed, baseline)


def test_the_managed_transformers_are_overloaded_less(result: StudyResult) -> None:
    before = result.kpis["transformer_overload_steps_baseline"]
    after = result.kpis["transformer_overload_steps_managed"]
    assert before > 0
    assert after < before


def test_the_source_imports_the_households_nets_plus_losses(
    study: Study, result: StudyResult
) -> None:
    n = len(study.households)
    for run in (result.baseline, result.managed):
        nets = run.tables["households"]["net_kw"].reshape(-1, n).sum(axis=1)
        losses = run.tables["grid"]["area_import_kw"] - nets
        assert np.all(losses >= -1e-6)
        assert np.all(losses <= 0.1 * np.abs(nets) + 10.0)  # cars charging at night: 7 %


def test_the_market_among_the_agents_balances_and_its_ledger_verifies(
    result: StudyResult,
) -> None:
    assert result.kpis["ledger_verified"] is True
    assert result.kpis["market_imbalance_kwh"] == 0.0
    assert result.kpis["market_transactions"] > 0
