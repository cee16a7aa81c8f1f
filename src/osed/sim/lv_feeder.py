"""A generated low-voltage area: a 20 kV source, one 20/0.4 kV transformer and radial LV
feeders of cable segments, with the buses households are connected to.

Ids: the MV node ``mv`` with the source ``grid``, the transformer ``trafo`` to the LV busbar
``lv``; feeder j (from 1) has buses ``f{j}b{i}`` (i from 1, away from the busbar) joined by
segments ``f{j}s{i}`` (segment i ends at bus i). Households are spread over the feeders in
turn and ``households_per_bus`` share a bus.

The transformer is the smallest standard rating (kVA) at or above households × ``admd_kva``
(after-diversity maximum demand per household), in 500 kVA steps beyond the largest. Each
feeder's cable is the smallest NAYY 4×… type whose rated current carries the feeder's
households at that demand, in parallel where even the largest does not. Segments are 25–45 m
(seeded). Node coordinates lay the feeders out as rays from the busbar, for plots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from osed.grid.network import Network, NetworkBuilder

MV_V = 20_000.0
LV_V = 400.0
STANDARD_KVA = (100, 160, 250, 400, 630, 800, 1000, 1250, 1600, 2000, 2500)
# name: (r Ω/km, x Ω/km, c µF/km, rated current A)
CABLES = {
    "NAYY 4x50": (0.642, 0.083, 0.21, 142.0),
    "NAYY 4x95": (0.320, 0.082, 0.26, 215.0),
    "NAYY 4x150": (0.206, 0.080, 0.26, 270.0),
    "NAYY 4x240": (0.125, 0.080, 0.26, 355.0),
}
SEGMENT_M = (25.0, 45.0)
TRANSFORMER_ID = "trafo"
SOURCE_NODE = "mv"
BUSBAR = "lv"


@dataclass(frozen=True, slots=True)
class GeneratedArea:
    network: Network
    household_buses: tuple[str, ...]
    """The bus of each household, in household order."""
    rating_kva: float


def transformer_rating_kva(households: int, admd_kva: float) -> float:
    need = households * admd_kva
    for rating in STANDARD_KVA:
        if rating >= need:
            return float(rating)
    return float(math.ceil(need / 500.0) * 500)


def _cable(current_a: float) -> tuple[str, int]:
    for name, (*_, rated) in CABLES.items():
        if rated >= current_a:
            return name, 1
    name = list(CABLES)[-1]
    return name, math.ceil(current_a / CABLES[name][3])


def generate_area(
    households: int,
    feeders: int,
    *,
    households_per_bus: int = 2,
    admd_kva: float = 2.0,
    rng: np.random.Generator,
) -> GeneratedArea:
    builder = NetworkBuilder(
        f"lv-{households}", source=f"generated: {households} households, {feeders} feeders"
    )
    builder.add("node", SOURCE_NODE, u_rated=MV_V, xy=(0.0, -40.0))
    builder.add("source", "grid", node=SOURCE_NODE, u_ref=1.0, sk=250e6)
    buses, rating = add_lv_area(
        builder,
        households,
        feeders,
        mv_node=SOURCE_NODE,
        prefix="",
        origin=(0.0, 0.0),
        angles=2 * np.pi * np.arange(feeders) / feeders,
        households_per_bus=households_per_bus,
        admd_kva=admd_kva,
        rng=rng,
    )
    builder.metadata["transformer_rating_kva"] = rating
    builder.metadata["admd_kva"] = admd_kva
    return GeneratedArea(builder.build(validate=False), tuple(buses), rating)


def add_lv_area(
    builder: NetworkBuilder,
    households: int,
    feeders: int,
    *,
    mv_node: str,
    prefix: str,
    origin: tuple[float, float],
    angles: np.ndarray[Any, np.dtype[np.float64]],
    households_per_bus: int,
    admd_kva: float,
    rng: np.random.Generator,
) -> tuple[list[str], float]:
    """One LV area below ``mv_node``: its busbar at ``origin``, feeder j laid out as a ray at
    ``angles[j]`` (radians), every id led by ``prefix``. The bus of each of its households
    and the transformer's rating (kVA)."""
    rating = transformer_rating_kva(households, admd_kva)
    busbar = prefix + BUSBAR
    builder.add("node", busbar, u_rated=LV_V, xy=origin)
    small = rating <= 630
    builder.add(
        "transformer",
        prefix + TRANSFORMER_ID,
        name=f"{rating:g} kVA 20/0.4 kV",
        from_node=mv_node,
        to_node=busbar,
        u1=MV_V,
        u2=LV_V,
        sn=rating * 1e3,
        uk=0.04 if small else 0.06,
        pk=0.011 * rating * 1e3,
        i0=0.003,
        p0=0.002 * rating * 1e3,
        winding_from=2,  # delta
        winding_to=1,  # wye with neutral
        clock=5,
        tap_side=0,
        tap_pos=0,
        tap_min=-2,
        tap_max=2,
        tap_size=500.0,
    )
    feeder_of = np.arange(households) % feeders
    household_buses: list[str] = [""] * households
    node_ids: list[str] = []
    node_xy: list[np.ndarray[Any, np.dtype[np.float64]]] = []
    line_ids: list[str] = []
    line_names: list[str] = []
    from_nodes: list[str] = []
    to_nodes: list[str] = []
    numbers: dict[str, list[float]] = {k: [] for k in ("r1", "x1", "c1", "i_n")}
    for j in range(feeders):
        members = np.flatnonzero(feeder_of == j)
        if not members.size:
            continue
        buses = math.ceil(members.size / households_per_bus)
        current = members.size * admd_kva * 1e3 / (math.sqrt(3) * LV_V)
        cable, parallel = _cable(current)
        r, x, c, rated = CABLES[cable]
        length_km = rng.uniform(*SEGMENT_M, buses) / 1e3
        angle = float(angles[j])
        distance = np.cumsum(length_km) * 1e3
        ids = [f"{prefix}f{j + 1}b{i + 1}" for i in range(buses)]
        node_ids.extend(ids)
        node_xy.append(
            np.column_stack(
                [origin[0] + distance * math.cos(angle), origin[1] + distance * math.sin(angle)]
            )
        )
        for position, member in enumerate(members):
            household_buses[member] = ids[position // households_per_bus]
        line_ids.extend(f"{prefix}f{j + 1}s{i + 1}" for i in range(buses))
        label = cable if parallel == 1 else f"{parallel}× {cable}"
        line_names.extend([label] * buses)
        from_nodes.extend([busbar, *ids[:-1]])
        to_nodes.extend(ids)
        numbers["r1"].extend((r * length_km / parallel).tolist())
        numbers["x1"].extend((x * length_km / parallel).tolist())
        numbers["c1"].extend((c * 1e-6 * length_km * parallel).tolist())
        numbers["i_n"].extend([rated * parallel] * buses)
    builder.add_many("node", node_ids, u_rated=np.full(len(node_ids), LV_V))
    for ident, (x_m, y_m) in zip(node_ids, np.concatenate(node_xy).tolist(), strict=True):
        builder.set_xy(ident, x_m, y_m)
    builder.add_many(
        "line",
        line_ids,
        names=line_names,
        from_node=from_nodes,
        to_node=to_nodes,
        tan1=np.zeros(len(line_ids)),
        **{k: np.asarray(v) for k, v in numbers.items()},
    )
    return household_buses, rating
