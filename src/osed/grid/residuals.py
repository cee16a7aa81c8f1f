"""Weighted residuals and their normalisation for bad-data analysis (symmetric model).

At the estimate ``x̂`` the measurement model is linearised, ``H = ∂h/∂x`` over the state
(bus voltage angles and magnitudes, per unit), with weights ``W = R⁻¹``. Then

* the objective ``J = Σ (r_i / σ_i)²`` follows a chi-square law with ``m − n`` degrees of
  freedom when the errors are Gaussian, which is the detection test;
* the residual covariance is ``Ω = R − H G⁻¹ Hᵀ`` with gain ``G = Hᵀ W H``, and the
  normalised residual ``r_i / √Ω_ii`` is standard normal, so its largest value points at
  the worst measurement (largest normalised residual test). A critical measurement, whose
  removal would leave the grid unobservable, has ``Ω_ii = 0`` and cannot be tested.

Rows are what the estimator sees: a voltage sensor gives a magnitude row and, for a PMU,
an angle row; a power sensor P and Q rows at a branch end or node; the sensors on every
appliance of a node one injection row pair (power-grid-model sums them); a node without
appliances a zero-injection pair with a tiny sigma (a constraint, never a suspect).
Only ``diag(H G⁻¹ Hᵀ)`` is needed, and of ``G⁻¹`` only the entries where a row of ``H`` has
two non-zeros, all of them on the pattern of the factor of ``G``: they are computed from its
sparse ``L D Lᵀ`` factor (Takahashi's selected inverse), in time near the factor's size instead
of one solve per row; a factor that pivoted away from a symmetric order falls back to solves
in blocks.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from power_grid_model import MeasuredTerminalType
from scipy.sparse import coo_matrix, csc_matrix, csr_matrix, diags, hstack, vstack
from scipy.sparse.linalg import splu
from scipy.special import chdtri  # the chi² quantile; scipy.stats is slow to import

from osed.grid.admittance import S_BASE, Admittance
from osed.grid.network import APPLIANCES, Network, Table

Floats = NDArray[np.float64]
_BRANCH3_ENDS = (
    MeasuredTerminalType.branch3_1,
    MeasuredTerminalType.branch3_2,
    MeasuredTerminalType.branch3_3,
)
ZERO_INJECTION_SIGMA = 1e-6  # per unit: a constraint, weighted far above any meter
BLOCK = 256  # right-hand sides per LU solve


@dataclass(frozen=True, eq=False)
class Rows:
    sensor: NDArray[np.int64]  # solver id of the sensor behind each row (-1: zero injection)
    quantity: list[str]  # voltmagnitude, voltangle, activepower, ...
    z: Floats
    h: Floats
    sigma: Floats
    normalised: Floats  # NaN where the row is a constraint or critical
    omega: Floats
    dof: int
    objective: float
    extra_sensors: dict[int, tuple[int, ...]]  # row sensor -> every sensor it stands for

    @property
    def weighted(self) -> Floats:
        return (self.z - self.h) / self.sigma


class _Builder:
    """Collects rows: (sensor, quantity, z, sigma, selector)."""

    def __init__(self) -> None:
        self.sensor: list[int] = []
        self.quantity: list[str] = []
        self.z: list[float] = []
        self.sigma: list[float] = []
        self.kind: list[str] = []  # which derivative family: vm, va, sbus, sf, st, if, it
        self.index: list[int] = []  # bus or branch index
        self.part: list[str] = []  # re, im, abs, angle
        self.group: dict[int, tuple[int, ...]] = {}

    def add(
        self, sensor: int, quantity: str, z: float, sigma: float, *, at: tuple[str, int, str]
    ) -> None:
        kind, index, part = at
        self.sensor.append(sensor)
        self.quantity.append(quantity)
        self.z.append(z)
        self.sigma.append(sigma)
        self.kind.append(kind)
        self.index.append(index)
        self.part.append(part)


@dataclass(frozen=True, eq=False)
class MeasurementModel:
    """The rows of a sensor set with ``h(V)`` and ``H(V)`` at any bus voltages ``V``."""

    adm: Admittance
    rows: _Builder
    z: Floats
    sigma: Floats
    free_columns: NDArray[np.int64]  # state columns left after fixing the angle reference
    angle_rows: NDArray[np.bool_]

    def linearise(self, voltage: NDArray[np.complex128]) -> tuple[Floats, csr_matrix]:
        """Residuals ``z - h(V)`` (angles wrapped) and the full Jacobian."""
        h, jac = _model(self.adm, voltage, self.rows)
        residual = self.z - h
        residual[self.angle_rows] = np.angle(np.exp(1j * residual[self.angle_rows]))
        return residual, jac

    def objective(self, voltage: NDArray[np.complex128]) -> float:
        residual, _ = self.linearise(voltage)
        return float(np.sum((residual / self.sigma) ** 2))


def measurement_model(
    network: Network, adm: Admittance, sensors: Mapping[str, Table]
) -> MeasurementModel:
    nodes = network.table("node")
    row_of = np.full(len(network.external_ids), -1, dtype=np.int64)
    row_of[nodes["id"]] = np.arange(len(nodes))
    rows = _rows(network, adm, sensors, row_of)
    keep = np.ones(2 * adm.buses, dtype=bool)
    if not any(q == "voltangle" for q in rows.quantity):
        # the angle of the first source's bus is the reference
        sources = network.table("source")
        keep[int(adm.bus_of_node[row_of[sources["node"][0]]])] = False
    return MeasurementModel(
        adm,
        rows,
        np.asarray(rows.z, dtype=np.float64),
        np.asarray(rows.sigma, dtype=np.float64),
        np.flatnonzero(keep),
        np.array([q.endswith("angle") for q in rows.quantity], dtype=bool),
    )


def row_count(network: Network, adm: Admittance, sensors: Mapping[str, Table]) -> tuple[int, int]:
    """(scalar rows, state variables) of the symmetric model: the chi-square test's m and n."""
    model = measurement_model(network, adm, sensors)
    return len(model.z), len(model.free_columns)


def normalised_residuals(
    network: Network,
    adm: Admittance,
    sensors: Mapping[str, Table],
    u_pu: Floats,
    u_angle: Floats,
    *,
    unless_passing: float | None = None,
    weighted_limit: float = np.inf,
    model: MeasurementModel | None = None,
) -> Rows:
    """Residuals at the given state; normalised too, unless the objective passes the
    chi-square test at confidence ``unless_passing`` and no weighted residual exceeds
    ``weighted_limit`` (then they are NaN: nothing to find). ``model``: the sensors'
    measurement model, where the caller has it already."""
    if model is None:
        model = measurement_model(network, adm, sensors)
    voltage = np.zeros(adm.buses, dtype=np.complex128)
    voltage[adm.bus_of_node] = u_pu * np.exp(1j * u_angle)
    residual, jac = model.linearise(voltage)
    return normalise(
        model, residual, jac, unless_passing=unless_passing, weighted_limit=weighted_limit
    )


def normalise(
    model: MeasurementModel,
    residual: Floats,
    jac: csr_matrix,
    *,
    unless_passing: float | None = None,
    weighted_limit: float = np.inf,
) -> Rows:
    """Objective and normalised residuals of ``residual`` (one per row of ``model``), with
    ``Ω`` from the full Jacobian ``jac`` at the estimate."""
    rows = model.rows
    jac = jac[:, model.free_columns]
    z, sigma = model.z, model.sigma
    constraint = np.asarray(rows.sensor) < 0
    objective = float(np.sum((residual / sigma)[~constraint] ** 2))
    dof = int(len(z) - jac.shape[1])
    common = {
        "sensor": np.asarray(rows.sensor, dtype=np.int64),
        "quantity": rows.quantity,
        "z": z,
        "h": z - residual,
        "sigma": sigma,
        "dof": dof,
        "objective": objective,
        "extra_sensors": rows.group,
    }
    largest = float(np.max(np.abs(residual / sigma)[~constraint], initial=0.0))
    passing = unless_passing is not None and objective <= chdtri(max(dof, 1), 1.0 - unless_passing)
    if passing and largest <= weighted_limit:
        unknown = np.full(len(z), np.nan)
        return Rows(normalised=unknown, omega=unknown, **common)  # type: ignore[arg-type]
    projected = projection_diagonal(jac.tocsr(), 1.0 / sigma**2)
    omega = sigma**2 - projected
    critical = omega <= 1e-9 * sigma**2
    normalised = np.full(len(z), np.nan)
    usable = ~constraint & ~critical
    normalised[usable] = np.abs(residual[usable]) / np.sqrt(omega[usable])
    return Rows(normalised=normalised, omega=omega, **common)  # type: ignore[arg-type]


def projection_diagonal(jac: csr_matrix, weights: Floats) -> Floats:
    """``diag(H G⁻¹ Hᵀ)`` with ``G = Hᵀ diag(weights) H`` (``H`` = ``jac``, full column rank)."""
    gain = (jac.T @ diags(weights) @ jac).tocsc()
    lu = splu(
        gain,
        permc_spec="MMD_AT_PLUS_A",
        diag_pivot_thresh=0.0,  # SPD: no pivoting, so U = D Lᵀ in a symmetric order
        options={"SymmetricMode": True},
    )
    if not np.array_equal(lu.perm_r, lu.perm_c):
        return _projection_by_solves(jac, lu)
    order = np.argsort(lu.perm_c)  # the original index of each factor position
    # The structure from |H|ᵀ|H|, not from G's values: an entry of G that cancels to zero
    # is still one G⁻¹ is needed at.
    ones = csr_matrix((np.ones(jac.nnz), jac.indices, jac.indptr), shape=jac.shape)
    pattern = (ones.T @ ones).tocsc()[order][:, order].tocsc()
    below = _factor_columns(pattern, lu.L.tocsc())
    rows, cols, values = _selected_inverse(below, lu.U.diagonal())
    off = rows != cols
    inverse = coo_matrix(
        (
            np.concatenate([values, values[off]]),
            (order[np.concatenate([rows, cols[off]])], order[np.concatenate([cols, rows[off]])]),
        ),
        shape=gain.shape,
    ).tocsr()
    return np.asarray(jac.multiply(jac @ inverse).sum(axis=1), dtype=np.float64).ravel()


def _factor_columns(pattern: csc_matrix, lower: csc_matrix) -> list[list[tuple[int, float]]]:
    """Each column's (row, L value) below the diagonal over the symbolic structure of the
    factor (the elimination tree's fill; values the numerical factor dropped are 0)."""
    n = pattern.shape[0]
    structure: list[set[int]] = []
    children: list[list[int]] = [[] for _ in range(n)]
    p_ptr, p_idx = pattern.indptr, pattern.indices
    for j in range(n):
        column = {int(k) for k in p_idx[p_ptr[j] : p_ptr[j + 1]] if k > j}
        for child in children[j]:
            column.update(structure[child])
        column.discard(j)
        structure.append(column)
        if column:
            children[min(column)].append(j)
    l_ptr, l_idx, l_val = lower.indptr, lower.indices.tolist(), lower.data.tolist()
    found = []
    for j in range(n):
        values = dict(
            zip(l_idx[l_ptr[j] : l_ptr[j + 1]], l_val[l_ptr[j] : l_ptr[j + 1]], strict=True)
        )
        found.append([(k, values.get(k, 0.0)) for k in sorted(structure[j])])
    return found


def _selected_inverse(
    below: list[list[tuple[int, float]]], diagonal: Floats
) -> tuple[NDArray[np.int64], NDArray[np.int64], Floats]:
    """``Z = G⁻¹`` on the factor's structure (row ≥ column), from the last column back:
    ``Z_kj = −Σ_m L_mj Z_km`` and ``Z_jj = 1/d_j − Σ_m L_mj Z_mj`` over the column's rows."""
    n = len(below)
    z: list[dict[int, float]] = [{} for _ in range(n)]
    for j in range(n - 1, -1, -1):
        column = z[j]
        entries = below[j]
        for k, _ in entries:
            row_k = z[k]
            total = 0.0
            for m, l_mj in entries:
                total -= (row_k[m] if m >= k else z[m][k]) * l_mj
            column[k] = total
        column[j] = 1.0 / float(diagonal[j]) - sum(l_mj * column[m] for m, l_mj in entries)
    count = sum(len(c) for c in z)
    cols = np.repeat(np.arange(n), [len(c) for c in z])
    rows = np.fromiter((k for c in z for k in c), dtype=np.int64, count=count)
    values = np.fromiter((v for c in z for v in c.values()), dtype=np.float64, count=count)
    return rows, cols, values


def _projection_by_solves(jac: csr_matrix, lu: Any) -> Floats:
    projected = np.empty(jac.shape[0])
    jac_t = jac.T.tocsc()
    for start in range(0, jac.shape[0], BLOCK):
        stop = min(start + BLOCK, jac.shape[0])
        # SuperLU solves column-major right-hand sides several times faster
        solved = lu.solve(jac_t[:, start:stop].toarray(order="F"))
        projected[start:stop] = np.asarray(jac[start:stop].multiply(solved.T).sum(axis=1)).ravel()
    return projected


def _rows(
    network: Network, adm: Admittance, sensors: Mapping[str, Table], row_of: NDArray[np.int64]
) -> _Builder:
    out = _Builder()
    u_rated = network.table("node")["u_rated"]
    branch_position = {int(b): k for k, b in enumerate(adm.branches.ids)}
    table = sensors.get("sym_voltage_sensor")
    if table is not None:
        for s in table:
            node = int(row_of[s["measured_object"]])
            bus = int(adm.bus_of_node[node])
            sigma = float(s["u_sigma"]) / u_rated[node]
            out.add(
                int(s["id"]),
                "voltmagnitude",
                float(s["u_measured"]) / u_rated[node],
                sigma,
                at=("vm", bus, "abs"),
            )
            if not math.isnan(s["u_angle_measured"]):
                relative = float(s["u_sigma"]) / float(s["u_measured"])
                out.add(
                    int(s["id"]),
                    "voltangle",
                    float(s["u_angle_measured"]),
                    relative,
                    at=("va", bus, "angle"),
                )
    injection: dict[int, list[tuple[int, complex, float, float]]] = defaultdict(list)
    table = sensors.get("sym_power_sensor")
    if table is not None:
        for s in table:
            terminal = MeasuredTerminalType(int(s["measured_terminal_type"]))
            p_sigma, q_sigma = _power_sigmas(s)
            value = complex(s["p_measured"], s["q_measured"]) / S_BASE
            sensor = int(s["id"])
            if terminal in (MeasuredTerminalType.branch_from, MeasuredTerminalType.branch_to):
                position = branch_position.get(int(s["measured_object"]))
                if position is None:  # a link: zero impedance, not in the linear model
                    continue
                kind = "sf" if terminal == MeasuredTerminalType.branch_from else "st"
                out.add(sensor, "activepower", value.real, p_sigma, at=(kind, position, "re"))
                out.add(sensor, "reactivepower", value.imag, q_sigma, at=(kind, position, "im"))
            elif terminal in _BRANCH3_ENDS:  # not in the linear model: left out of the test
                continue
            elif terminal == MeasuredTerminalType.node:
                bus = int(adm.bus_of_node[row_of[s["measured_object"]]])
                out.add(sensor, "activepower", value.real, p_sigma, at=("sbus", bus, "re"))
                out.add(sensor, "reactivepower", value.imag, q_sigma, at=("sbus", bus, "im"))
            else:
                sign = -1.0 if terminal == MeasuredTerminalType.load else 1.0
                injection[int(s["measured_object"])].append(
                    (sensor, sign * value, p_sigma, q_sigma)
                )
    _appliance_rows(network, adm, row_of, injection, out)
    table = sensors.get("sym_current_sensor")
    if table is not None:
        for s in table:
            position = branch_position.get(int(s["measured_object"]))
            if position is None:  # a link or a three-winding transformer
                continue
            terminal = MeasuredTerminalType(int(s["measured_terminal_type"]))
            kind = "if" if terminal == MeasuredTerminalType.branch_from else "it"
            bus = adm.branches.from_bus[position] if kind == "if" else adm.branches.to_bus[position]
            base_i = S_BASE / (math.sqrt(3.0) * u_rated[np.flatnonzero(adm.bus_of_node == bus)[0]])
            sensor = int(s["id"])
            out.add(
                sensor,
                "currmagnitude",
                float(s["i_measured"]) / base_i,
                float(s["i_sigma"]) / base_i,
                at=(kind, position, "abs"),
            )
            out.add(
                sensor,
                "currangle",
                float(s["i_angle_measured"]),
                float(s["i_angle_sigma"]),
                at=(kind, position, "local" if int(s["angle_measurement_type"]) == 0 else "angle"),
            )
    return out


def _power_sigmas(s: np.void) -> tuple[float, float]:
    p_sigma = float(s["p_sigma"])
    q_sigma = float(s["q_sigma"])
    if math.isnan(p_sigma) or math.isnan(q_sigma):
        p_sigma = q_sigma = float(s["power_sigma"])
    return p_sigma / S_BASE, q_sigma / S_BASE


def _appliance_rows(
    network: Network,
    adm: Admittance,
    row_of: NDArray[np.int64],
    injection: Mapping[int, Sequence[tuple[int, complex, float, float]]],
    out: _Builder,
) -> None:
    """Per bus: the sum of its appliances' sensors if all are measured, zero if it has none."""
    appliances: dict[int, list[int]] = defaultdict(list)
    for kind in APPLIANCES:
        if kind == "shunt":
            continue
        table = network.table(kind)
        for appliance, node, status in zip(
            table["id"], table["node"], table["status"], strict=True
        ):
            if status == 1:
                appliances[int(adm.bus_of_node[row_of[node]])].append(int(appliance))
    for bus in range(adm.buses):
        members = appliances.get(bus, [])
        if not members:
            out.add(-1, "activepower", 0.0, ZERO_INJECTION_SIGMA, at=("sbus", bus, "re"))
            out.add(-1, "reactivepower", 0.0, ZERO_INJECTION_SIGMA, at=("sbus", bus, "im"))
            continue
        if not all(a in injection for a in members):
            continue
        readings = [r for a in members for r in injection[a]]
        total = sum((r[1] for r in readings), 0j)
        p_sigma = float(np.hypot.reduce([r[2] for r in readings]))  # overflows to inf, not an error
        q_sigma = float(np.hypot.reduce([r[3] for r in readings]))
        first = readings[0][0]
        out.group[first] = tuple(r[0] for r in readings)
        out.add(first, "activepower", total.real, p_sigma, at=("sbus", bus, "re"))
        out.add(first, "reactivepower", total.imag, q_sigma, at=("sbus", bus, "im"))


def _model(adm: Admittance, v: NDArray[np.complex128], rows: _Builder) -> tuple[Floats, csr_matrix]:
    """h(x) and H = [∂h/∂θ, ∂h/∂|V|] for every row."""
    vm = np.abs(v)
    v_norm = v / vm
    i_bus = adm.ybus @ v
    s_bus = v * np.conj(i_bus)
    i_f = adm.yf @ v
    i_t = adm.yt @ v
    s_f = (adm.cf @ v) * np.conj(i_f)
    s_t = (adm.ct @ v) * np.conj(i_t)
    dv = diags(v)
    dvn = diags(v_norm)
    derivative = {
        "sbus": (
            1j * dv @ (diags(i_bus) - adm.ybus @ dv).conj(),
            dv @ (adm.ybus @ dvn).conj() + diags(np.conj(i_bus)) @ dvn,
            s_bus,
        ),
        "sf": _flow_derivatives(adm.yf, adm.cf, v, i_f, s_f),
        "st": _flow_derivatives(adm.yt, adm.ct, v, i_t, s_t),
        "if": (adm.yf @ diags(1j * v), adm.yf @ dvn, i_f),
        "it": (adm.yt @ diags(1j * v), adm.yt @ dvn, i_t),
    }
    n = adm.buses
    kinds = np.asarray(rows.kind)
    index = np.asarray(rows.index, dtype=np.int64)
    parts = np.asarray(rows.part)
    h = np.zeros(len(kinds))
    blocks: list[csr_matrix] = []
    order: list[NDArray[np.int64]] = []
    for kind in ("vm", "va"):
        chosen = np.flatnonzero(kinds == kind)
        if not len(chosen):
            continue
        bus = index[chosen]
        h[chosen] = vm[bus] if kind == "vm" else np.angle(v[bus])
        column = bus + (n if kind == "vm" else 0)
        blocks.append(
            csr_matrix(
                (np.ones(len(chosen)), (np.arange(len(chosen)), column)), shape=(len(chosen), 2 * n)
            )
        )
        order.append(chosen)
    for kind, (d_angle, d_magnitude, value) in derivative.items():
        for part in ("re", "im", "abs", "angle", "local"):
            chosen = np.flatnonzero((kinds == kind) & (parts == part))
            if not len(chosen):
                continue
            at = index[chosen]
            block = hstack([csr_matrix(d_angle)[at], csr_matrix(d_magnitude)[at]]).tocsr()
            selected = value[at]
            if part == "re":
                h[chosen], block = selected.real, block.real
            elif part == "im":
                h[chosen], block = selected.imag, block.imag
            elif part == "abs":
                h[chosen] = np.abs(selected)
                block = (diags(np.conj(selected) / np.abs(selected)) @ block).real
            else:
                h[chosen] = np.angle(selected)
                block = (diags(np.conj(selected) / np.abs(selected) ** 2) @ block).imag
                if part == "local":  # voltage angle at that end minus the current's angle
                    ends = adm.branches.from_bus if kind == "if" else adm.branches.to_bus
                    bus = ends[at]
                    h[chosen] = np.angle(v[bus]) - h[chosen]
                    reference = csr_matrix(
                        (np.ones(len(at)), (np.arange(len(at)), bus)), shape=(len(at), 2 * n)
                    )
                    block = reference - block
            blocks.append(csr_matrix(block))
            order.append(chosen)
    jac = vstack(blocks).tocsr()
    permutation = np.empty(len(kinds), dtype=np.int64)
    permutation[np.concatenate(order)] = np.arange(len(kinds))
    return h, jac[permutation]


def _flow_derivatives(
    y: csr_matrix,
    c: csr_matrix,
    v: NDArray[np.complex128],
    i: NDArray[np.complex128],
    s: NDArray[np.complex128],
) -> tuple[csr_matrix, csr_matrix, NDArray[np.complex128]]:
    v_end = c @ v
    d_angle = 1j * (diags(np.conj(i)) @ c @ diags(v) - diags(v_end) @ (y @ diags(v)).conj())
    d_magnitude = (
        diags(np.conj(i)) @ c @ diags(v / np.abs(v))
        + diags(v_end) @ (y @ diags(v / np.abs(v))).conj()
    )
    return d_angle, d_magnitude, s
