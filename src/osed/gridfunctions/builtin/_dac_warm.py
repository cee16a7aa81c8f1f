"""Starting prices for the offline DAC game from a sample of the area.

ADMM spends most of its rounds discovering the price adders; the coupling's dual prices of
the central problem are those adders. The EDC that plays the game offline holds every
building's model, so it solves the central problem (:mod:`._dac_central`'s LP, with the game's
own objective) for an evenly spread sample of at most ``SAMPLE`` buildings and starts from its
duals: per kW at each window step, the marginal value of the area's peak (or of the target),
which does not depend on how many buildings share it. The sample's aggregate, scaled to the
area, is where the coupling variable starts. At 1,000 buildings × 96 steps this took the game
from 97 rounds to 18; a sample that is the whole area (≤ ``SAMPLE`` buildings) starts at the
exact duals.

A live game has no building models at the EDC and starts from the tariff.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np

from osed.buildings.devices_schema import Array
from osed.gridfunctions.builtin._dac_central import coupled_model, solve_interior
from osed.gridfunctions.builtin._dac_document import DacProblem

SAMPLE = 100
"""Buildings in the sample: the sample LP takes about 1 s at 100 × 96 steps."""


@dataclass(frozen=True, slots=True)
class WarmStart:
    adders: Array
    """(N,) per kW and step (currency): the coupling's dual price, 0 outside the window."""
    aggregate_kw: Array
    """(N,) the sample's optimal aggregate scaled to the whole area."""


def sample_duals(problem: DacProblem, weight: float, *, size: int = SAMPLE) -> WarmStart | None:
    """The coupling's duals of the central problem over a sample; None when the sample has no
    optimum (a target the sample cannot meet alone, say): then the game starts cold."""
    everyone = len(problem.buildings)
    picked = np.unique(np.linspace(0, everyone - 1, min(size, everyone)).round().astype(int))
    sample = [problem.buildings[i] for i in picked]
    share = len(sample) / everyone
    target = problem.target_peak_kw
    coupled = coupled_model(
        problem,
        sample,
        peak_weight=weight,
        target_kw=None if target is None else target * share,
        tariff=True,
    )
    highs, status = solve_interior(coupled.model.program)
    if status != highspy.HighsModelStatus.kOptimal:
        return None
    solution = highs.getSolution()
    adders = np.zeros(problem.steps)
    # A ≤ row's dual is ≤ 0 in a minimisation: its magnitude is the price of one more kW.
    adders[coupled.inside] = np.abs(np.asarray(solution.row_dual)[coupled.rows])
    x = np.asarray(solution.col_value)
    aggregate = x[coupled.model.net].sum(axis=0) / share
    if not (np.isfinite(adders).all() and np.isfinite(aggregate).all()):
        return None
    return WarmStart(adders, aggregate)
