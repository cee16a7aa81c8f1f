"""A study whose EDCs run where the grid intelligence puts them: no agent until the feeder
head overloads, then the households below enrol in the EDC created there and their agents
hold its capacity limit; the baseline's devices stay on their own control."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from osed.edge.intelligence_rules import Rules
from osed.sim.results import StudyResult
from osed.sim.runner import run_study
from osed.sim.study import FunctionSpec, Study
from tests.unit.sim.small_study import HEAD, small_study

HOUSEHOLDS = 6
AMPS = 14.0
"""The feeder head's rating: 14 A at 0.4 kV, about 9.7 kW; the evening load goes beyond."""


@pytest.fixture(scope="module")
def study() -> Study:
    made = small_study(
        HOUSEHOLDS,
        functions=(FunctionSpec("capacity-limit", {}),),
        market=None,
        amps=AMPS,
        rules=Rules(
            loading_trigger=0.9, loading_clear=0.8, hold_off_s=0.0, clear_hold_off_s=3 * 3600.0
        ),
    )
    return replace(made, edcs="intelligence")


@pytest.fixture(scope="module")
def result(study: Study) -> StudyResult:
    return run_study(study, parallel=False)


def test_the_intelligence_creates_the_edc_and_the_households_join_it(
    result: StudyResult,
) -> None:
    assert result.kpis["edcs_created"] >= 1
    # every household joins each EDC created, and leaves when it goes
    assert result.kpis["agents_started"] == HOUSEHOLDS * result.kpis["edcs_created"]
    activity = result.managed.tables["activity"]
    kinds = list(activity["kind"])
    created = kinds.index("intelligence_create")
    enrolled = kinds.index("enrolled")
    assert created < enrolled
    assert activity["edc"][enrolled] == f"gi-{HEAD}"
    assert f"{HOUSEHOLDS} households joined capacity-limit" in activity["detail"][enrolled]
    assert "enrolled" not in set(result.baseline.tables["activity"]["kind"])
    kinds_after = kinds[created:]
    if "intelligence_destroy" in kinds_after:
        left = kinds_after.index("left")
        assert activity["detail"][created + left] == f"{HOUSEHOLDS} households"


def test_comfort_is_kept_with_and_without_agents(result: StudyResult) -> None:
    """Agents joining and leaving (their devices back on their thermostats) keep the zones in
    their comfort bands."""
    activity = result.managed.tables["activity"]
    kinds = list(activity["kind"])
    assert "left" in kinds
    table = result.managed.tables["households"]
    steps = len(result.managed.tables["grid"]["time_utc"])
    indoor = table["indoor_c"].reshape(steps, HOUSEHOLDS)
    low = table["comfort_min_c"].reshape(steps, HOUSEHOLDS)
    high = table["comfort_max_c"].reshape(steps, HOUSEHOLDS)
    assert np.all(indoor >= low - 0.5)
    assert np.all(indoor <= high + 0.5)


def test_the_runs_agree_until_the_agents_act(result: StudyResult) -> None:
    """Up to the step the EDC is created at, both runs' devices are on their own control: the
    same nets; its households' agents act from the next step on."""
    activity = result.managed.tables["activity"]
    first = activity["time_utc"][list(activity["kind"]).index("enrolled")]
    times = result.managed.tables["grid"]["time_utc"]
    until = times <= first
    managed = result.managed.tables["grid"]["area_import_kw"]
    baseline = result.baseline.tables["grid"]["area_import_kw"]
    np.testing.assert_allclose(managed[until], baseline[until], atol=1e-9)
    assert not np.allclose(managed[~until][:4], baseline[~until][:4])


def test_the_managed_head_is_loaded_less(result: StudyResult) -> None:
    def overloaded(table: dict[str, np.ndarray]) -> int:
        head = table["line"] == HEAD
        return int(np.count_nonzero(table["loading_pct"][head] > 100.0))

    assert overloaded(result.baseline.tables["lines"]) > 0
    assert overloaded(result.managed.tables["lines"]) < overloaded(result.baseline.tables["lines"])
