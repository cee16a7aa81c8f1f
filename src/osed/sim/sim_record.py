"""What a run records step by step, gathered into the tables of :data:`osed.sim.results.TABLES`.

Rows are kept as one array block per step and joined once at the end, so recording costs a few
array copies per step whatever the size of the grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

from osed.sim.results import TABLES, RunName, Table
from osed.sim.sim_grid import GridStep
from osed.sim.sim_homes import RECORDED

Array = NDArray[np.float64]


class Recorder:
    def __init__(
        self,
        run: RunName,
        households: Sequence[str],
        node_ids: Sequence[str],
        distance_km: Array,
    ) -> None:
        self.run = run
        self.households = np.array(list(households), dtype=object)
        self.node_ids = np.array(list(node_ids), dtype=object)
        self.distance_km = distance_km
        self._blocks: dict[str, list[dict[str, np.ndarray]]] = {name: [] for name in TABLES}
        self._branch_key: tuple[tuple[str, ...], tuple[str, ...]] | None = None
        self._branch_columns: tuple[NDArray[np.bool_], NDArray[np.object_]] | None = None

    def _branches(self, grid: GridStep) -> tuple[NDArray[np.bool_], NDArray[np.object_]]:
        """Which branches are lines, and their ids as a column: built once for the grid's
        branches (the same every step), not per step."""
        key = (grid.branch_ids, grid.branch_kinds)
        if self._branch_columns is None or self._branch_key != key:
            kinds = np.array(grid.branch_kinds, dtype=object)
            self._branch_columns = (kinds != "transformer", np.array(grid.branch_ids, dtype=object))
            self._branch_key = key
        return self._branch_columns

    def step(
        self,
        at: datetime,
        grid: GridStep,
        homes: Array,
        cost: Array,
        prices: tuple[float, float, float, float],
    ) -> None:
        """One step: the grid, the households' rows (:data:`RECORDED`), their cost, and
        (tariff, DAC price, market price, market volume)."""
        lines, line_ids = self._branches(grid)
        trafos = ~lines
        self._add(
            "grid",
            at,
            1,
            area_import_kw=np.array([grid.area_import_kw]),
            transformer_loading_pct=np.array([_max(grid.loading_pct[trafos])]),
            max_line_loading_pct=np.array([_max(grid.loading_pct[lines])]),
            min_voltage_pu=np.array([np.min(grid.voltage_pu)]),
            max_voltage_pu=np.array([np.max(grid.voltage_pu)]),
            min_estimated_voltage_pu=np.array([_min(grid.estimated_voltage_pu)]),
            max_estimated_voltage_pu=np.array([_max(grid.estimated_voltage_pu)]),
        )
        self._add(
            "buses",
            at,
            len(self.node_ids),
            bus=self.node_ids,
            distance_km=self.distance_km,
            voltage_pu=grid.voltage_pu,
            estimated_voltage_pu=grid.estimated_voltage_pu,
        )
        self._add(
            "lines",
            at,
            len(grid.branch_ids),
            line=line_ids,
            loading_pct=grid.loading_pct,
            p_from_kw=grid.p_from_kw,
        )
        columns = {name: homes[:, k] for k, name in enumerate(RECORDED)}
        self._add(
            "households", at, len(self.households), household=self.households, **columns, cost=cost
        )
        tariff, dac, market, volume = prices
        self._add(
            "prices",
            at,
            1,
            tariff_per_kwh=np.array([tariff]),
            dac_price_per_kwh=np.array([dac]),
            market_price_per_kwh=np.array([market]),
            market_volume_kwh=np.array([volume]),
        )

    def activity(self, at: datetime, kind: str, edc: str, detail: str) -> None:
        self._add(
            "activity",
            at,
            1,
            kind=np.array([kind], dtype=object),
            edc=np.array([edc], dtype=object),
            detail=np.array([detail], dtype=object),
        )

    def tables(self) -> dict[str, Table]:
        found: dict[str, Table] = {}
        for name, columns in TABLES.items():
            blocks = self._blocks[name]
            table: Table = {}
            for column in columns:
                if blocks:
                    table[column] = np.concatenate([b[column] for b in blocks])
                elif column == "time_utc":
                    table[column] = np.array([], dtype="datetime64[ns]")
                else:
                    table[column] = np.array([], dtype=object)
            found[name] = table
        return found

    def _add(self, table: str, at: datetime, rows: int, **columns: np.ndarray) -> None:
        stamp = np.datetime64(at.astimezone(UTC).replace(tzinfo=None), "ns")
        block: dict[str, np.ndarray] = {
            "time_utc": np.full(rows, stamp, dtype="datetime64[ns]"),
            "run": np.full(rows, self.run, dtype=object),
        }
        for name, values in columns.items():
            block[name] = values if values.dtype == object else values.astype(np.float64)
        self._blocks[table].append(block)


def _max(values: Array) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else float("nan")


def _min(values: Array) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.min()) if finite.size else float("nan")
