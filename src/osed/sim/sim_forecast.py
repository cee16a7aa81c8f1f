"""The grid's forecast for the study's day, as a DSO's day-ahead assessment makes it: every
household's devices on their own control under its load forecast (no noise, no agent), a power
flow per step. At each step the grid intelligence gets the worst of the coming steps as a
forecast (highest loading per branch, highest and lowest voltage per node), so it can call in
an EDC before a violation rather than after it has been measured.

The forecast knows the households' devices and their plans (when a car arrives, what it needs)
as the study describes them, and their base load only as forecast: the truth differs by the
draws of the load and of the measurement noise.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from osed.devices.simulated_document import devices_of
from osed.devices.simulated_fleet import SimulatedFleet
from osed.edge.intelligence_inputs import Observed
from osed.sim.sim_grid import GridSim
from osed.sim.study import Study

Array = NDArray[np.float64]


class GridForecast:
    def __init__(
        self,
        branch_ids: tuple[str, ...],
        node_ids: tuple[str, ...],
        loading: Array,
        voltage_pu: Array,
        horizon_steps: int,
    ) -> None:
        """``loading`` (steps, branches) as shares of the rating, ``voltage_pu`` (steps, nodes)."""
        self.branch_ids = branch_ids
        self.node_ids = node_ids
        self.loading = loading
        self.voltage_pu = voltage_pu
        self.horizon_steps = horizon_steps

    @classmethod
    async def of(cls, study: Study, horizon_steps: int) -> GridForecast:
        """The day's forecast: the study's households played on their own control."""
        fleet = SimulatedFleet(
            [
                devices_of(replace(h.building, base_kw=np.asarray(h.forecast_kw)))
                for h in study.households
            ],
            step_h=study.step_h,
            start=study.start,
            seeds=list(range(len(study.households))),  # no view reports: no noise is drawn
        )
        grid = GridSim(
            study.network,
            [h.bus for h in study.households],
            voltage_sigma_pu=0.0,
            power_sigma_kw=0.0,
            rng=np.random.default_rng(0),
        )
        loading, voltage = [], []
        branches: tuple[str, ...] = ()
        for _ in range(study.steps):
            step = grid.step(fleet.net_kw(), estimate=False)
            branches = step.branch_ids
            loading.append(step.loading_pct / 100.0)
            voltage.append(step.voltage_pu)
            await fleet.advance()
        return cls(branches, grid.node_ids, np.array(loading), np.array(voltage), horizon_steps)

    def ahead(self, step: int) -> Observed | None:
        """The worst of steps ``step + 1`` … ``step + horizon`` (None: past the study's end)."""
        window = slice(step + 1, min(step + 1 + self.horizon_steps, len(self.loading)))
        if window.start >= window.stop:
            return None
        loading = np.max(np.nan_to_num(self.loading[window], nan=-np.inf), axis=0)
        high = np.max(self.voltage_pu[window], axis=0)
        low = np.min(self.voltage_pu[window], axis=0)
        return Observed(
            loading={
                b: float(x) for b, x in zip(self.branch_ids, loading, strict=True) if np.isfinite(x)
            },
            voltage_high={n: float(v) for n, v in zip(self.node_ids, high, strict=True)},
            voltage_low={n: float(v) for n, v in zip(self.node_ids, low, strict=True)},
        )
