"""Positive-sequence branch admittances in per unit, as power-grid-model models the branches.

Per-unit bases: ``S_BASE`` for power and each node's rated (line-to-line) voltage, so a
symmetric solver's ``u_pu`` is the per-unit voltage here too. Each branch is a two-port
``[I_f, I_t] = [[Y_ff, Y_ft], [Y_tf, Y_tt]] · [V_f, V_t]``. Links are zero-impedance and are
not branches here: callers merge their end nodes (see :func:`electrical_buses`).

Used to linearise the measurement model for bad-data analysis; the estimate itself comes
from the solver, and tests check these admittances against its branch flows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components

from osed.grid.network import Network, Table

S_BASE = 1e6
Complex = NDArray[np.complex128]
Ints = NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class Branches:
    """Branches in service at both ends, in the order of ``ids`` (solver ids)."""

    ids: Ints
    from_bus: Ints
    to_bus: Ints
    yff: Complex
    yft: Complex
    ytf: Complex
    ytt: Complex


@dataclass(frozen=True, eq=False)
class Admittance:
    buses: int
    bus_of_node: Ints  # node row -> electrical bus (links merged)
    branches: Branches
    ybus: csr_matrix
    yf: csr_matrix  # from-end currents: I_f = yf @ V
    yt: csr_matrix
    cf: csr_matrix  # from-end incidence (branches x buses)
    ct: csr_matrix
    unsupported: tuple[str, ...]  # branch kinds left out (three-winding transformers)


def electrical_buses(network: Network) -> tuple[int, Ints]:
    """Nodes joined by closed links are one electrical bus."""
    nodes = network.table("node")
    row_of = _row_of(nodes)
    links = network.table("link")
    closed = (links["from_status"] == 1) & (links["to_status"] == 1)
    a = row_of[links["from_node"][closed]]
    b = row_of[links["to_node"][closed]]
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(nodes), len(nodes)))
    count, labels = connected_components(graph, directed=False)
    return int(count), labels.astype(np.int64)


def build_admittance(network: Network) -> Admittance:
    nodes = network.table("node")
    row_of = _row_of(nodes)
    u_rated = nodes["u_rated"]
    buses, bus_of_node = electrical_buses(network)
    omega = 2.0 * math.pi * network.frequency_hz
    parts = [
        _lines(network.table("line"), row_of, u_rated, omega),
        _transformers(network.table("transformer"), row_of, u_rated),
        _generic(network.table("generic_branch"), row_of, u_rated),
    ]
    ids = np.concatenate([p[0] for p in parts])
    f_node = np.concatenate([p[1] for p in parts])
    t_node = np.concatenate([p[2] for p in parts])
    y = [np.concatenate([p[3][k] for p in parts]) for k in range(4)]
    branches = Branches(ids, bus_of_node[f_node], bus_of_node[t_node], *y)
    ybus, yf, yt, cf, ct = _matrices(branches, buses)
    shunts = network.table("shunt")
    if len(shunts):
        on = shunts["status"] == 1
        bus = bus_of_node[row_of[shunts["node"][on]]]
        y_sh = (shunts["g1"][on] + 1j * shunts["b1"][on]) * u_rated[row_of[shunts["node"][on]]] ** 2
        ybus = (ybus + coo_matrix((y_sh / S_BASE, (bus, bus)), shape=ybus.shape)).tocsr()
    unsupported = (
        ("three_winding_transformer",) if len(network.table("three_winding_transformer")) else ()
    )
    return Admittance(buses, bus_of_node, branches, ybus, yf, yt, cf, ct, unsupported)


def _row_of(nodes: Table) -> Ints:
    ids = nodes["id"].astype(np.int64)
    row_of = np.full(int(ids.max()) + 1 if len(ids) else 0, -1, dtype=np.int64)
    row_of[ids] = np.arange(len(ids))
    return row_of


Part = tuple[Ints, Ints, Ints, tuple[Complex, Complex, Complex, Complex]]


def _in_service(table: Table) -> NDArray[np.bool_]:
    closed: NDArray[np.bool_] = (table["from_status"] == 1) & (table["to_status"] == 1)
    return closed


def _lines(lines: Table, row_of: Ints, u_rated: NDArray[np.float64], omega: float) -> Part:
    lines = lines[_in_service(lines)]
    f, t = row_of[lines["from_node"]], row_of[lines["to_node"]]
    base = u_rated[f] ** 2 / S_BASE
    y_series = base / (lines["r1"] + 1j * lines["x1"])
    tan = np.nan_to_num(lines["tan1"])
    y_half = base * omega * lines["c1"] * (1j + tan) / 2.0
    return _pi(lines, f, t, y_series=y_series, y_f=y_half, y_t=y_half)


def _generic(branches: Table, row_of: Ints, u_rated: NDArray[np.float64]) -> Part:
    branches = branches[_in_service(branches)]
    f, t = row_of[branches["from_node"]], row_of[branches["to_node"]]
    base_t = u_rated[t] ** 2 / S_BASE
    y_series = base_t / (branches["r1"] + 1j * branches["x1"])
    y_shunt = base_t * (branches["g1"] + 1j * branches["b1"])
    k = np.nan_to_num(branches["k"], nan=1.0) * u_rated[t] / u_rated[f]
    shift = np.nan_to_num(branches["theta"])
    return _ideal_ratio(branches, f, t, y_series=y_series, y_shunt=y_shunt, k=k, shift=shift)


def _transformers(trafos: Table, row_of: Ints, u_rated: NDArray[np.float64]) -> Part:
    trafos = trafos[_in_service(trafos)]
    f, t = row_of[trafos["from_node"]], row_of[trafos["to_node"]]
    u1 = trafos["u1"].astype(float).copy()
    u2 = trafos["u2"].astype(float).copy()
    steps = (trafos["tap_pos"].astype(float) - trafos["tap_nom"].astype(float)) * trafos["tap_size"]
    from_side = trafos["tap_side"] == 0
    u1[from_side] += steps[from_side]
    u2[~from_side] += steps[~from_side]
    sn = trafos["sn"]
    z_abs = trafos["uk"] * u2**2 / sn
    r = trafos["pk"] * u2**2 / sn**2
    x = np.sqrt(np.maximum(z_abs**2 - r**2, 0.0))
    base_t = u_rated[t] ** 2 / S_BASE
    y_series = base_t / (r + 1j * x)
    y_mag = trafos["i0"] * sn / u2**2
    g_mag = trafos["p0"] / u2**2
    b_mag = np.sqrt(np.maximum(y_mag**2 - g_mag**2, 0.0))
    y_shunt = base_t * (g_mag - 1j * b_mag)
    k = (u1 / u2) / (u_rated[f] / u_rated[t])
    shift = trafos["clock"].astype(float) * (math.pi / 6.0)
    return _ideal_ratio(trafos, f, t, y_series=y_series, y_shunt=y_shunt, k=k, shift=shift)


def _pi(table: Table, f: Ints, t: Ints, *, y_series: Complex, y_f: Complex, y_t: Complex) -> Part:
    return (
        table["id"].astype(np.int64),
        f,
        t,
        (y_series + y_f, -y_series, -y_series, y_series + y_t),
    )


def _ideal_ratio(
    table: Table,
    f: Ints,
    t: Ints,
    *,
    y_series: Complex,
    y_shunt: Complex,
    k: NDArray[np.float64],
    shift: NDArray[np.float64],
) -> Part:
    """Ideal transformer (ratio ``k e^{jθ}``) at the from end, series and shunt at the to end.

    The to-end voltage lags the from-end by ``θ`` (clock · 30°).
    """
    ratio = k * np.exp(1j * shift)
    yff = (y_series + y_shunt / 2.0) / k**2
    ytt = y_series + y_shunt / 2.0
    yft = -y_series / np.conj(ratio)
    ytf = -y_series / ratio
    return table["id"].astype(np.int64), f, t, (yff, yft, ytf, ytt)


def _matrices(
    branches: Branches, buses: int
) -> tuple[csr_matrix, csr_matrix, csr_matrix, csr_matrix, csr_matrix]:
    n = len(branches.ids)
    rows = np.arange(n)
    shape = (n, buses)
    cf = csr_matrix((np.ones(n), (rows, branches.from_bus)), shape=shape)
    ct = csr_matrix((np.ones(n), (rows, branches.to_bus)), shape=shape)
    yf = csr_matrix(
        (
            np.r_[branches.yff, branches.yft],
            (np.r_[rows, rows], np.r_[branches.from_bus, branches.to_bus]),
        ),
        shape=shape,
    )
    yt = csr_matrix(
        (
            np.r_[branches.ytf, branches.ytt],
            (np.r_[rows, rows], np.r_[branches.from_bus, branches.to_bus]),
        ),
        shape=shape,
    )
    ybus = (cf.T @ yf + ct.T @ yt).tocsr()
    return ybus, yf, yt, cf, ct
