"""The study runner on small studies: the tables it records, the physics and the market it must
respect, what the managed run changes, and that a study plays the same every time."""

from __future__ import annotations

import numpy as np
import pytest

from osed.sim.kpis import COMFORT_TOLERANCE_C
from osed.sim.results import TABLES, StudyResult, table_problems
from osed.sim.runner import play_run, run_study
from osed.sim.study import Event, MarketSpec, Study
from tests.unit.sim.small_study import HEAD, small_study

LIMIT_KW = 8.0
EVENT = (16, 21)


@pytest.fixture(scope="module")
def study() -> Study:
    return small_study(6, events=(Event("capacity_limit", *EVENT, HEAD, limit_kw=LIMIT_KW),))


@pytest.fixture(scope="module")
def result(study: Study) -> StudyResult:
    return run_study(study)


def test_every_table_is_recorded_for_both_runs(study: Study, result: StudyResult) -> None:
    nodes = len(study.network.table("node"))
    branches = len(study.network.table("line"))
    rows = {
        "grid": study.steps,
        "buses": study.steps * nodes,
        "lines": study.steps * branches,
        "households": study.steps * len(study.households),
        "prices": study.steps,
    }
    for run in (result.baseline, result.managed):
        assert set(run.tables) == set(TABLES)
        for name, table in run.tables.items():
            assert table_problems(name, table) == []
            assert set(table["run"]) <= {run.run}
            if name in rows:
                assert len(table["time_utc"]) == rows[name]
        assert set(run.seconds) >= {"devices", "power_flow", "estimation", "agents"}


def test_the_area_import_is_the_households_nets_plus_small_losses(result: StudyResult) -> None:
    for run in (result.baseline, result.managed):
        nets = run.tables["households"]["net_kw"].reshape(-1, 6).sum(axis=1)
        imports = run.tables["grid"]["area_import_kw"]
        losses = imports - nets
        assert np.all(losses >= -1e-6)
        assert np.all(losses <= 0.02 * np.abs(nets) + 0.01)


def test_the_market_balances_and_its_ledger_verifies(result: StudyResult) -> None:
    assert result.kpis["ledger_verified"] is True
    assert result.kpis["market_imbalance_kwh"] == 0.0
    assert result.kpis["market_transactions"] > 0
    prices = result.managed.tables["prices"]
    assert np.all(np.isfinite(prices["market_price_per_kwh"]))
    assert np.all(np.isnan(result.baseline.tables["prices"]["market_price_per_kwh"]))


def test_devices_stay_within_their_limits(study: Study, result: StudyResult) -> None:
    for run in (result.baseline, result.managed):
        table = run.tables["households"]
        soc = table["battery_soc"][np.isfinite(table["battery_soc"])]
        assert soc.size > 0
        assert np.all((soc >= 0.1 - 1e-6) & (soc <= 0.9 + 1e-6))
        # net = base + battery (±3 kW) + heat pump (0..3 kW)
        net, base = table["net_kw"], table["base_kw"]
        has_battery = np.isfinite(table["battery_soc"])
        assert np.all(net <= base + 3.0 + np.where(has_battery, 3.0, 0.0) + 1e-6)
        assert np.all(net >= base - np.where(has_battery, 3.0, 0.0) - 1e-6)


def test_comfort_is_kept(result: StudyResult) -> None:
    for run in (result.baseline, result.managed):
        table = run.tables["households"]
        indoor = table["indoor_c"]
        assert np.all(indoor >= table["comfort_min_c"] - 0.5)
        assert np.all(indoor <= table["comfort_max_c"] + 0.5)
        assert result.kpis[f"comfort_violations_{run.run}"] <= 0.05 * indoor.size
    assert COMFORT_TOLERANCE_C > 0


def test_the_managed_peak_is_not_above_the_baseline_under_a_capacity_limit(
    result: StudyResult,
) -> None:
    assert result.kpis["peak_managed_kw"] <= result.kpis["peak_baseline_kw"]
    start, end = EVENT
    managed = result.managed.tables["grid"]["area_import_kw"][start:end]
    baseline = result.baseline.tables["grid"]["area_import_kw"][start:end]
    assert managed.max() <= baseline.max()
    kinds = list(result.managed.tables["activity"]["kind"])
    assert "capacity_limit" in kinds
    assert "capacity_limit_end" in kinds
    assert "dac" in kinds
    assert result.kpis["dac_iterations"] > 0


def test_the_baseline_has_no_grid_function_and_no_market(result: StudyResult) -> None:
    assert len(result.baseline.tables["activity"]["kind"]) == 0
    assert np.all(np.isnan(result.baseline.tables["prices"]["dac_price_per_kwh"]))
    assert np.all(result.baseline.tables["prices"]["market_volume_kwh"] == 0.0)


def test_the_same_study_gives_the_same_tables(study: Study, result: StudyResult) -> None:
    again = run_study(study)
    assert again.kpis == result.kpis
    for first, second in ((result.baseline, again.baseline), (result.managed, again.managed)):
        for name, table in first.tables.items():
            for column, values in table.items():
                other = second.tables[name][column]
                if values.dtype == object:
                    assert list(values) == list(other), f"{name}.{column}"
                else:
                    assert values.tobytes() == other.tobytes(), f"{name}.{column}"


def test_the_baseline_in_its_own_process_plays_as_in_this_one(
    study: Study, result: StudyResult
) -> None:
    here = play_run(study, "baseline")
    for name, table in result.baseline.tables.items():
        for column, values in table.items():
            assert list(values) == list(here.tables[name][column]) or np.array_equal(
                values, here.tables[name][column], equal_nan=True
            ), f"{name}.{column}"


def test_an_outage_takes_the_households_below_to_zero_then_they_pick_up() -> None:
    study = small_study(
        4, steps=12, functions=(), market=None, events=(Event("outage", 4, 7, "l3"),)
    )
    result = run_study(study)
    table = result.baseline.tables["households"]
    net = table["net_kw"].reshape(study.steps, -1)
    indoor = table["indoor_c"].reshape(study.steps, -1)
    below = [i for i, h in enumerate(study.households) if h.bus in ("n3", "n4")]
    above = [i for i in range(len(study.households)) if i not in below]
    assert below
    assert np.all(net[4:7, below] == 0.0)
    assert np.all(net[4:7, above] != 0.0)
    assert np.all(indoor[7, below] < indoor[4, below])  # the zones cooled without supply
    assert np.all(net[7, below] > net[3, below] + 1.0)  # and heat back up: cold load pickup
    kinds = list(result.managed.tables["activity"]["kind"])
    assert kinds.count("outage") == 1
    assert kinds.count("restored") == 1


def test_an_xor_request_is_awarded_to_households() -> None:
    study = small_study(
        4,
        steps=12,
        functions=(),
        market=None,
        events=(Event("xor_request", 6, 9, HEAD, request_kw=1.0, prices_per_kwh=(0.2, 0.5, 1.0)),),
    )
    result = run_study(study)
    activity = result.managed.tables["activity"]
    assert "xor_request" in list(activity["kind"])
    assert "xor_award" in list(activity["kind"])


def test_the_grid_intelligence_creates_an_edc_where_a_line_is_overloaded() -> None:
    # No DAC: the buildings' schedules of a game would keep the line within its rating.
    study = small_study(6, functions=(), amps=20.0)
    result = run_study(study)
    assert result.kpis["edcs_created"] >= 1
    kinds = set(result.managed.tables["activity"]["kind"])
    assert "intelligence_create" in kinds


def test_a_continuous_market_trades_as_tenders_come_and_settles_in_the_ledger() -> None:
    study = small_study(4, steps=8, functions=(), market=MarketSpec("bilateral", 2))
    result = run_study(study, parallel=False)
    assert result.kpis["market_transactions"] > 0
    assert result.kpis["market_volume_kwh"] > 0
    assert result.kpis["market_imbalance_kwh"] == 0.0
    assert result.kpis["ledger_verified"] is True
    prices = result.managed.tables["prices"]["market_price_per_kwh"]
    assert np.all((prices >= 0.05) & (prices <= study.tariff_per_kwh.max()))


async def test_a_study_runs_from_inside_an_event_loop_as_a_notebook_has() -> None:
    study = small_study(2, steps=4, functions=(), market=None)
    calls: list[tuple[int, int]] = []
    result = run_study(study, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (8, 8)
    done = [d for d, _ in calls]
    assert done == sorted(done)
    assert len(result.managed.tables["grid"]["time_utc"]) == 4
    assert len(result.baseline.tables["grid"]["time_utc"]) == 4
