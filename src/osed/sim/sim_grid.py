"""The grid of a study, one step at a time: a power flow of the true state (every household's
net power at its node), measurements of it with the study's noise, and the state estimate.

The network's own loads are taken out of service; each node but the sources gets one load, the
sum of its households' nets (zero where it has none), at unity power factor. The measurements
are a voltage magnitude at every node and P and Q of every such load, so the estimator sees
the grid the way a DSO with smart-meter aggregates per node would.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray
from power_grid_model import CalculationMethod, DatasetType, initialize_array
from power_grid_model.errors import PowerGridError

from osed.domain.errors import OsedError
from osed.edge.intelligence_inputs import Observed
from osed.grid.estimation import Estimator, UnobservableError
from osed.grid.measurements import Measurement
from osed.grid.network import Network
from osed.grid.powerflow import CalculationError, solver_model
from osed.grid.state import GridState, state_from_output

Array = NDArray[np.float64]
SQRT3 = math.sqrt(3.0)
LOAD_PREFIX = "sim-load@"


@dataclass(frozen=True, slots=True)
class GridStep:
    """One step's grid: what the power flow found and what the estimate says."""

    node_ids: tuple[str, ...]
    voltage_pu: Array
    estimated_voltage_pu: Array
    """NaN where the estimate failed this step."""
    branch_ids: tuple[str, ...]
    branch_kinds: tuple[str, ...]
    loading_pct: Array
    p_from_kw: Array
    p_to_kw: Array
    area_import_kw: float
    injected_kw: Array
    """The power flow's load per node (kW, consumption positive), node order."""
    observed: Observed | None
    """The estimate as the grid intelligence reads it (None: no estimate)."""


class GridSim:
    def __init__(
        self,
        network: Network,
        buses: Sequence[str],
        *,
        voltage_sigma_pu: float,
        power_sigma_kw: float,
        rng: np.random.Generator,
    ) -> None:
        """``buses``: each household's node, in the order the nets will be given."""
        self.network = _with_node_loads(network)
        self.node_ids = tuple(network.external_ids[int(i)] for i in network.table("node")["id"])
        position = {node: k for k, node in enumerate(self.node_ids)}
        self._household_node = np.array([position[b] for b in buses], dtype=np.int64)
        self._load_ids = self.network.table("sym_load")["id"][-len(self.node_ids) :].copy()
        source_nodes = {int(n) for n in network.table("source")["node"]}
        node_solver_ids = network.table("node")["id"]
        self._is_source = np.array([int(i) in source_nodes for i in node_solver_ids])
        self._households_per_node = np.bincount(self._household_node, minlength=len(position))
        self._rng = rng
        u_rated = network.table("node")["u_rated"].astype(np.float64)
        self._voltage_sigma_v = voltage_sigma_pu * u_rated / SQRT3
        self._power_sigma_w = (
            power_sigma_kw * 1e3 * np.sqrt(np.maximum(self._households_per_node, 1.0))
        )
        self._power_flow = solver_model(self.network.without_sensors(), self.network)
        self._estimator: Estimator | None = None
        self._unobservable = False
        self.distance_km = _distances(network)
        self.seconds = {"power_flow": 0.0, "measurements": 0.0, "estimation": 0.0, "observed": 0.0}
        """Time spent in each stage over every step so far."""

    def step(self, net_kw: Array, *, estimate: bool = True) -> GridStep:
        """The grid under the households' ``net_kw`` (one per household, in bus order)."""
        started = time.perf_counter()
        per_node = np.bincount(
            self._household_node, weights=net_kw, minlength=len(self.node_ids)
        ).astype(np.float64)
        per_node[self._is_source] = 0.0
        update = initialize_array(DatasetType.update, "sym_load", len(self._load_ids))
        update["id"] = self._load_ids
        update["p_specified"] = per_node * 1e3
        update["q_specified"] = 0.0
        self._power_flow.update(update_data={"sym_load": update})
        try:
            output = self._power_flow.calculate_power_flow(
                symmetric=True,
                calculation_method=CalculationMethod.newton_raphson,
                error_tolerance=1e-8,
                max_iterations=20,
            )
        except PowerGridError as exc:
            total = float(per_node.sum())
            raise CalculationError(
                f"{self.network.name}: no power flow for the households' {total:.1f} kW "
                f"({str(exc).strip().splitlines()[0]}); the network cannot carry this load"
            ) from exc
        state = state_from_output(self.network, output, calculation="power_flow", symmetric=True)
        source_p = output["source"]["p"] if "source" in output else np.zeros(1)
        branches = state.branches
        estimated = np.full(len(self.node_ids), np.nan)
        observed = None
        solved = time.perf_counter()
        self.seconds["power_flow"] += solved - started
        if estimate:
            estimated_state = self._estimate(state, per_node)
            if estimated_state is not None:
                reading = time.perf_counter()
                estimated = np.asarray(estimated_state.u_pu, dtype=np.float64)
                observed = _observed(estimated_state)
                self.seconds["observed"] += time.perf_counter() - reading
        return GridStep(
            node_ids=self.node_ids,
            voltage_pu=np.asarray(state.u_pu, dtype=np.float64),
            estimated_voltage_pu=estimated,
            branch_ids=tuple(branches.ids),
            branch_kinds=tuple(branches.kinds),
            loading_pct=np.asarray(branches.loading, dtype=np.float64) * 100.0,
            p_from_kw=np.asarray(branches.p_from_w, dtype=np.float64) / 1e3,
            p_to_kw=np.asarray(branches.p_to_w, dtype=np.float64) / 1e3,
            area_import_kw=float(np.sum(source_p)) / 1e3,
            injected_kw=np.asarray(output["sym_load"]["p"][-len(self.node_ids) :]) / 1e3,
            observed=observed,
        )

    def _estimate(self, state: GridState, per_node_kw: Array) -> GridState | None:
        if self._unobservable:
            return None
        started = time.perf_counter()
        values = self._measured(state, per_node_kw)
        measured = time.perf_counter()
        self.seconds["measurements"] += measured - started
        try:
            return self._solve(values)
        finally:
            self.seconds["estimation"] += time.perf_counter() - measured

    def _measured(self, state: GridState, per_node_kw: Array) -> Array:
        """The step's readings, one array in the estimator's order: every node's voltage
        magnitude, then P and Q of every node's load, each with its noise."""
        n = len(self.node_ids)
        voltage = state.u_v + self._rng.normal(0.0, 1.0, n) * self._voltage_sigma_v
        noise = self._rng.normal(0.0, 1.0, (2, n)) * self._power_sigma_w
        return np.concatenate([voltage, per_node_kw * 1e3 + noise[0], noise[1]])

    def _solve(self, values: Array) -> GridState | None:
        try:
            if self._estimator is None:
                self._estimator = Estimator(self.network, self._measurements(values))
            return self._estimator.run(values).state
        except UnobservableError:
            self._unobservable = True  # the same sensors every step: it stays so
            return None
        except OsedError:  # a failed estimate is a gap in the record, not the end of the run
            return None

    def _measurements(self, values: Array) -> list[Measurement]:
        n = len(self.node_ids)
        loads = [self.network.external_ids[int(i)] for i in self._load_ids]
        found = [
            Measurement(node, "voltmagnitude", float(values[k]), float(self._voltage_sigma_v[k]))
            for k, node in enumerate(self.node_ids)
        ]
        for offset, measurand in ((n, "activepower"), (2 * n, "reactivepower")):
            found += [
                Measurement(load, measurand, float(values[offset + k]), float(s))
                for k, (load, s) in enumerate(zip(loads, self._power_sigma_w, strict=True))
            ]
        return found


def _with_node_loads(network: Network) -> Network:
    """``network`` with its own loads out of service and one load of 0 kW at every node."""
    nodes = network.table("node")
    own = network.table("sym_load").copy()
    own["status"] = 0
    first = len(network.external_ids)
    added = initialize_array(DatasetType.input, "sym_load", len(nodes))
    added["id"] = np.arange(first, first + len(nodes))
    added["node"] = nodes["id"]
    added["status"] = 1
    added["type"] = 0
    added["p_specified"] = 0.0
    added["q_specified"] = 0.0
    data = dict(network.data)
    data["sym_load"] = np.concatenate([own, added])
    ids = [LOAD_PREFIX + network.external_ids[int(i)] for i in nodes["id"]]
    return replace(
        network,
        data=data,
        external_ids=(*network.external_ids, *ids),
        names=(*network.names, *[""] * len(ids)),
    )


def _observed(state: GridState) -> Observed:
    """The estimated voltages and loadings in the form the grid intelligence reads."""
    voltages = {n: float(u) for n, u in zip(state.node_ids, state.u_pu, strict=True)}
    loading = {
        b: float(x)
        for b, x in zip(state.branches.ids, state.branches.loading, strict=True)
        if math.isfinite(float(x))
    }
    return Observed(loading=loading, voltage_high=voltages, voltage_low=dict(voltages))


def _distances(network: Network) -> Array:
    """Each node's distance from a source along the tree (km), from the node coordinates:
    longitude and latitude in degrees when they span at most two degrees (geographic
    positions), else metres (generated feeders); one per branch where a node has none or the
    coordinates are a diagram's (CGMES DL)."""
    node_ids = network.table("node")["id"]
    index = {int(i): k for k, i in enumerate(node_ids)}
    hop = _hop_km(network)
    adjacency: dict[int, list[int]] = {k: [] for k in range(len(node_ids))}
    for kind in ("line", "link", "transformer", "generic_branch"):
        for row in network.table(kind):
            if int(row["from_status"]) == 1 and int(row["to_status"]) == 1:
                a, b = index[int(row["from_node"])], index[int(row["to_node"])]
                adjacency[a].append(b)
                adjacency[b].append(a)
    distance = np.full(len(node_ids), np.nan)
    queue: deque[int] = deque()
    for source in network.table("source")["node"]:
        k = index[int(source)]
        distance[k] = 0.0
        queue.append(k)
    while queue:
        a = queue.popleft()
        for b in adjacency[a]:
            if math.isnan(distance[b]):
                step = hop(a, b)
                distance[b] = distance[a] + (step if math.isfinite(step) else 1.0)
                queue.append(b)
    return distance


def _hop_km(network: Network) -> Callable[[int, int], float]:
    xy = np.asarray(network.node_xy, dtype=np.float64)
    if network.metadata.get("xy_source") == "DL" or not np.isfinite(xy).any():
        return lambda a, b: math.nan
    known = xy[np.isfinite(xy).all(axis=1)]
    span = known.max(axis=0) - known.min(axis=0)
    if bool(np.all(span <= 2.0)) and bool(np.all(np.abs(known[:, 1]) <= 90.0)):
        per_degree = 111.32  # km per degree of latitude
        east = per_degree * math.cos(math.radians(float(np.mean(known[:, 1]))))

        def degrees(a: int, b: int) -> float:
            dx, dy = (xy[a] - xy[b]) * (east, per_degree)
            return float(math.hypot(dx, dy))

        return degrees
    return lambda a, b: float(math.hypot(*(xy[a] - xy[b]))) / 1e3
