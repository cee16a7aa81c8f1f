"""A damped Gauss-Newton weighted-least-squares estimate, for when the solver diverges.

A gross error among precise measurements (a voltage 0.1 pu off where neighbouring nodes are
zero injections) can make power-grid-model's iterations diverge. The weighted least-squares
problem still has a minimum; this estimator finds it with a line search, starting from the
grid's no-load power flow (so transformer phase shifts start right), so that bad-data
analysis can name and remove the culprit before the solver is asked again. It is slower than
the solver and used only in that case.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import diags
from scipy.sparse.linalg import splu

from osed.grid.admittance import S_BASE, Admittance
from osed.grid.network import APPLIANCES, BRANCHES, Network, Table
from osed.grid.powerflow import CalculationError, power_flow
from osed.grid.residuals import measurement_model
from osed.grid.state import BranchState, GridState

Floats = NDArray[np.float64]
MAX_ITERATIONS = 60
MAX_HALVINGS = 30


def gauss_newton(
    network: Network, adm: Admittance, sensors: Mapping[str, Table], *, tolerance: float = 1e-9
) -> GridState:
    start = _no_load_start(network, adm)
    voltage = start.copy()
    model = measurement_model(network, adm, sensors)
    free = model.free_columns
    objective = model.objective(voltage)
    for _ in range(MAX_ITERATIONS):
        residual, jac = model.linearise(voltage)
        weights = 1.0 / model.sigma**2
        jac = jac[:, free]
        gain = (jac.T @ diags(weights) @ jac).tocsc()
        try:
            step = splu(gain, permc_spec="MMD_AT_PLUS_A").solve(jac.T @ (weights * residual))
        except RuntimeError as exc:
            raise CalculationError(f"{network.name}: the gain matrix is singular") from exc
        full = np.zeros(2 * adm.buses)
        full[free] = step
        scale = 1.0
        for _ in range(MAX_HALVINGS):
            trial = _apply(voltage, full * scale, adm.buses)
            trial_objective = model.objective(trial)
            if trial_objective <= objective:
                break
            scale /= 2.0
        else:
            break
        voltage, converged = trial, float(np.abs(full * scale).max()) < tolerance
        objective = trial_objective
        if converged:
            break
    return _state(network, adm, voltage)


def _apply(voltage: NDArray[np.complex128], step: Floats, buses: int) -> NDArray[np.complex128]:
    angle = np.angle(voltage) + step[:buses]
    magnitude = np.abs(voltage) + step[buses:]
    updated: NDArray[np.complex128] = magnitude * np.exp(1j * angle)
    return updated


def _no_load_start(network: Network, adm: Admittance) -> NDArray[np.complex128]:
    data = dict(network.without_sensors())
    for kind in APPLIANCES:
        if kind in data and kind not in {"shunt", "source"}:
            table = data[kind].copy()
            table["p_specified"] = 0.0
            table["q_specified"] = 0.0
            data[kind] = table
    empty = type(network)(
        name=network.name,
        frequency_hz=network.frequency_hz,
        data=data,
        external_ids=network.external_ids,
        names=network.names,
        node_xy=network.node_xy,
    )
    state = power_flow(empty, symmetric=True)
    voltage = np.ones(adm.buses, dtype=np.complex128)
    voltage[adm.bus_of_node] = state.u_pu * np.exp(1j * state.u_angle)
    return voltage


def _state(network: Network, adm: Admittance, voltage: NDArray[np.complex128]) -> GridState:
    node_v = voltage[adm.bus_of_node]
    injection = node_v * np.conj((adm.ybus @ voltage)[adm.bus_of_node]) * S_BASE
    # merged (linked) nodes share one bus: its injection is shown once, at its first node
    first = np.zeros(adm.buses, dtype=bool)
    shown = np.zeros(len(node_v), dtype=bool)
    for row, bus in enumerate(adm.bus_of_node):
        if not first[bus]:
            first[bus] = shown[row] = True
    injection = np.where(shown, injection, np.nan)
    u_rated = network.table("node")["u_rated"]
    i_f = adm.yf @ voltage
    i_t = adm.yt @ voltage
    s_f = (adm.cf @ voltage) * np.conj(i_f) * S_BASE
    s_t = (adm.ct @ voltage) * np.conj(i_t) * S_BASE
    position = {int(b): k for k, b in enumerate(adm.branches.ids)}
    ids: list[str] = []
    kinds: list[str] = []
    rows: list[int] = []
    for kind in BRANCHES:
        for solver_id in network.table(kind)["id"]:
            ids.append(network.external_ids[int(solver_id)])
            kinds.append(kind)
            rows.append(position.get(int(solver_id), -1))
    at = np.asarray(rows, dtype=np.int64)
    known = at >= 0

    def pick(values: NDArray[np.complex128], part: str) -> Floats:
        out = np.full(len(at), np.nan)
        chosen = values[at[known]]
        out[known] = {"re": chosen.real, "im": chosen.imag}[part]
        return out

    def current(values: NDArray[np.complex128], ends: NDArray[np.int64]) -> Floats:
        out = np.full(len(at), np.nan)
        node = np.array([np.flatnonzero(adm.bus_of_node == b)[0] for b in ends[at[known]]])
        base = S_BASE / (np.sqrt(3.0) * u_rated[node]) if len(node) else np.zeros(0)
        out[known] = np.abs(values[at[known]]) * base
        return out

    branches = BranchState(
        ids=ids,
        kinds=kinds,
        p_from_w=pick(s_f, "re"),
        q_from_var=pick(s_f, "im"),
        i_from_a=current(i_f, adm.branches.from_bus),
        p_to_w=pick(s_t, "re"),
        q_to_var=pick(s_t, "im"),
        i_to_a=current(i_t, adm.branches.to_bus),
        loading=np.full(len(at), np.nan),
    )
    return GridState(
        calculation="state_estimation",
        symmetric=True,
        node_ids=network.ids("node"),
        u_pu=np.abs(node_v),
        u_angle=np.angle(node_v),
        u_v=np.abs(node_v) * u_rated / np.sqrt(3.0),
        p_w=injection.real,
        q_var=injection.imag,
        energized=np.ones(len(node_v), dtype=bool),
        branches=branches,
    )
