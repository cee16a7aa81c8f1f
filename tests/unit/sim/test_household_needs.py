"""A household's needs, built for the whole day at once, round as the per-value formulas do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from osed.domain.time import Interval
from osed.sim.controllers import HouseholdController, energy_units, price_units

SLOT = timedelta(minutes=15)
INTERVALS = [Interval(datetime(2026, 7, 1, tzinfo=UTC) + k * SLOT, SLOT) for k in range(6)]
# Includes values whose scaled form ends in exactly .5 (ties) and ones just beside them.
KW = st.one_of(
    st.floats(0.0, 20.0, allow_nan=False),
    st.sampled_from([0.002, 0.006, 0.01, 0.0025, 0.1234, 1.5]),
)
PER_KWH = st.one_of(st.floats(0.0, 2.0, allow_nan=False), st.sampled_from([0.00005, 0.00015]))


@settings(max_examples=60, deadline=None)
@given(
    load=st.lists(KW, min_size=6, max_size=6),
    hvac=st.lists(KW, min_size=6, max_size=6),
    limit=st.lists(PER_KWH, min_size=6, max_size=6),
    pv=st.one_of(st.none(), st.lists(KW, min_size=6, max_size=6)),
)
def test_the_days_needs_round_like_each_value_alone(
    load: list[float], hvac: list[float], limit: list[float], pv: list[float] | None
) -> None:
    home = HouseholdController(
        INTERVALS,
        np.array(load),
        np.array(hvac),
        np.array(limit),
        price_cap_per_kwh=1.0,
        resale_per_kwh=0.02,
        pv_kw=None if pv is None else np.array(pv),
    )
    for need, k in zip(home.needs(INTERVALS[::-1]), range(5, -1, -1), strict=True):
        firm = energy_units(load[k], SLOT) - (0 if pv is None else energy_units(pv[k], SLOT))
        flexible = energy_units(hvac[k], SLOT)
        assert need.interval == INTERVALS[k]
        assert need == home._need(INTERVALS[k], firm, flexible, price_units(limit[k]))


def test_realised_load_gives_new_needs() -> None:
    load = np.full(6, 1.0)
    home = HouseholdController(
        INTERVALS,
        load,
        np.zeros(6),
        np.full(6, 0.1),
        price_cap_per_kwh=1.0,
        resale_per_kwh=0.02,
    )
    before = home.needs(INTERVALS)
    home.realise(np.random.default_rng(1), 0.5)
    after = home.needs(INTERVALS)
    assert [need.curve for need in after] != [need.curve for need in before]
    assert after[0].curve[-1].position == energy_units(float(home.load_kw[0]), SLOT)
