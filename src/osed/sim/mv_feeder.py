"""A generated medium-voltage feeder of many low-voltage areas: a 20 kV source, MV cable
feeders of segments from its busbar, and at each MV node one LV area of
:mod:`osed.sim.lv_feeder` (its 20/0.4 kV transformer and radial LV feeders).

Ids: the source node ``mv`` with the source ``grid``; area k (from 1) has its MV node
``a{k}-mv``, the transformer ``a{k}-trafo`` to the busbar ``a{k}-lv`` and the LV buses and
segments ``a{k}-f{j}b{i}`` / ``a{k}-f{j}s{i}``. MV feeder m (from 1) is a chain of segments
``mv{m}s{i}``, segment i ending at the feeder's i-th area. Neighbouring feeders (1 and 2, 3
and 4, …) form rings opened as radial: their far ends are joined by an open tie ``mv-tie{t}``.

Households are given to areas in blocks (area 1 takes the first ones): the areas' sizes differ
by at most one, as they would dealt in turn, and an area's households have neighbouring ids,
so tables and plots sorted by household read area by area. Areas are given to MV feeders in
blocks too, in order along each feeder.

Each MV feeder's cable is the smallest NA2XS2Y 1×… type whose rated current carries its
households' after-diversity demand (in parallel where even the largest does not); segments
are 200–600 m (seeded). Coordinates (metres): MV feeders as rays from the source, each area's
busbar 40 m beside its MV node, on alternating sides, its LV feeders fanned away from the ray.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from osed.grid.network import Network, NetworkBuilder
from osed.sim.lv_feeder import MV_V, SOURCE_NODE, TRANSFORMER_ID, add_lv_area, generate_area

# name: (r Ω/km, x Ω/km, c µF/km, rated current A), 12/20 kV, laid in trefoil in the ground
MV_CABLES = {
    "NA2XS2Y 1x150": (0.206, 0.116, 0.25, 319.0),
    "NA2XS2Y 1x240": (0.125, 0.105, 0.30, 417.0),
}
MV_SEGMENT_M = (200.0, 600.0)
AREAS_PER_MV_FEEDER = 10
BUSBAR_OFFSET_M = 40.0
LV_FAN_RAD = 2 * math.pi / 3  # the sector an area's LV feeders are laid out in


@dataclass(frozen=True, slots=True)
class GeneratedGrid:
    network: Network
    household_buses: tuple[str, ...]
    """The bus of each household, in household order."""
    transformers: tuple[str, ...]
    """Each area's transformer, area order."""
    ratings_kva: tuple[float, ...]
    """Each area's transformer rating, area order."""


def default_mv_feeders(areas: int) -> int:
    return math.ceil(areas / AREAS_PER_MV_FEEDER)


def generate_network(
    households: int,
    feeders: int,
    *,
    areas: int = 1,
    mv_feeders: int | None = None,
    households_per_bus: int = 2,
    admd_kva: float = 2.0,
    rng: np.random.Generator,
) -> GeneratedGrid:
    """``areas`` LV areas of ``feeders`` LV feeders each under ``mv_feeders`` MV feeders (one
    area: the single LV area of :func:`osed.sim.lv_feeder.generate_area`, ids unchanged)."""
    if areas == 1:
        area = generate_area(
            households, feeders, households_per_bus=households_per_bus, admd_kva=admd_kva, rng=rng
        )
        return GeneratedGrid(
            area.network, area.household_buses, (TRANSFORMER_ID,), (area.rating_kva,)
        )
    if not 1 <= areas <= households:
        raise ValueError(f"{areas} areas for {households} households: 1 to {households}")
    mv_count = default_mv_feeders(areas) if mv_feeders is None else mv_feeders
    if not 1 <= mv_count <= areas:
        raise ValueError(f"{mv_count} MV feeders for {areas} areas: 1 to {areas}")
    builder = NetworkBuilder(
        f"mv-{areas}x{households}",
        source=(
            f"generated: {households} households in {areas} areas of {feeders} feeders, "
            f"{mv_count} MV feeders"
        ),
    )
    builder.add("node", SOURCE_NODE, u_rated=MV_V, xy=(0.0, 0.0))
    builder.add("source", "grid", node=SOURCE_NODE, u_ref=1.0, sk=250e6)
    area_sizes = [int(b.size) for b in np.array_split(np.arange(households), areas)]
    on_feeder = np.array_split(np.arange(areas), mv_count)
    mv_xy: dict[int, tuple[float, float, float]] = {}  # area → x, y, ray angle
    ends: list[str] = []
    for m, members in enumerate(on_feeder):
        angle = 2 * math.pi * m / mv_count
        demand_kva = sum(area_sizes[k] for k in members) * admd_kva
        current = demand_kva * 1e3 / (math.sqrt(3) * MV_V)
        cable, parallel = _mv_cable(current)
        r, x, c, rated = MV_CABLES[cable]
        length_km = rng.uniform(*MV_SEGMENT_M, members.size) / 1e3
        distance = np.cumsum(length_km) * 1e3
        nodes = [f"a{k + 1}-mv" for k in members]
        for k, d in zip(members.tolist(), distance.tolist(), strict=True):
            mv_xy[k] = (d * math.cos(angle), d * math.sin(angle), angle)
        builder.add_many("node", nodes, u_rated=np.full(members.size, MV_V))
        label = cable if parallel == 1 else f"{parallel}× {cable}"
        builder.add_many(
            "line",
            [f"mv{m + 1}s{i + 1}" for i in range(members.size)],
            names=[label] * members.size,
            from_node=[SOURCE_NODE, *nodes[:-1]],
            to_node=nodes,
            r1=r * length_km / parallel,
            x1=x * length_km / parallel,
            c1=c * 1e-6 * length_km * parallel,
            tan1=np.zeros(members.size),
            i_n=np.full(members.size, rated * parallel),
        )
        ends.append(nodes[-1])
        for k, (x_m, y_m, _) in ((k, mv_xy[k]) for k in members.tolist()):
            builder.set_xy(f"a{k + 1}-mv", x_m, y_m)
    _open_ties(builder, ends, rng)
    household_buses: list[str] = []
    ratings: list[float] = []
    for k, size in enumerate(area_sizes):
        x_m, y_m, angle = mv_xy[k]
        side = 1.0 if k % 2 == 0 else -1.0
        facing = angle + side * math.pi / 2
        origin = (
            x_m + BUSBAR_OFFSET_M * math.cos(facing),
            y_m + BUSBAR_OFFSET_M * math.sin(facing),
        )
        fan = facing + LV_FAN_RAD * ((np.arange(feeders) + 0.5) / feeders - 0.5)
        buses, rating = add_lv_area(
            builder,
            size,
            feeders,
            mv_node=f"a{k + 1}-mv",
            prefix=f"a{k + 1}-",
            origin=origin,
            angles=fan,
            households_per_bus=households_per_bus,
            admd_kva=admd_kva,
            rng=rng,
        )
        household_buses.extend(buses)
        ratings.append(rating)
    builder.metadata["areas"] = areas
    builder.metadata["mv_feeders"] = mv_count
    builder.metadata["admd_kva"] = admd_kva
    return GeneratedGrid(
        builder.build(validate=False),
        tuple(household_buses),
        tuple(f"a{k + 1}-{TRANSFORMER_ID}" for k in range(areas)),
        tuple(ratings),
    )


def _mv_cable(current_a: float) -> tuple[str, int]:
    for name, (*_, rated) in MV_CABLES.items():
        if rated >= current_a:
            return name, 1
    name = list(MV_CABLES)[-1]
    return name, math.ceil(current_a / MV_CABLES[name][3])


def _open_ties(builder: NetworkBuilder, ends: list[str], rng: np.random.Generator) -> None:
    """Open ties between the far ends of feeders 1 and 2, 3 and 4, …: each pair is a ring
    operated radially, the tie ready to be closed when a segment fails."""
    pairs = [(ends[i], ends[i + 1]) for i in range(0, len(ends) - 1, 2)]
    if not pairs:
        return
    r, x, c, rated = MV_CABLES["NA2XS2Y 1x150"]
    length_km = rng.uniform(*MV_SEGMENT_M, len(pairs)) / 1e3
    builder.add_many(
        "line",
        [f"mv-tie{t + 1}" for t in range(len(pairs))],
        names=["NA2XS2Y 1x150 (open)"] * len(pairs),
        from_node=[a for a, _ in pairs],
        to_node=[b for _, b in pairs],
        from_status=np.zeros(len(pairs), dtype=np.int8),
        to_status=np.zeros(len(pairs), dtype=np.int8),
        r1=r * length_km,
        x1=x * length_km,
        c1=c * 1e-6 * length_km,
        tan1=np.zeros(len(pairs)),
        i_n=np.full(len(pairs), rated),
    )
