"""A building's answer to one DAC round: its best response to the prices plus the proximal
term ρ/2 ‖net − (last schedule + correction)‖² (docs/grid-functions.md, "dac"), solved by the
same block LP the offline game uses for its buildings, here with one building in the block."""

from __future__ import annotations

import numpy as np

from osed.buildings.devices_schema import Array, Building
from osed.gridfunctions.builtin._dac_buildings import _Block
from osed.gridfunctions.builtin._dac_document import DacProblem
from osed.gridfunctions.builtin._dac_game import WIDTH


class DacResponder:
    """Answers the rounds of one game; a new game (new steps or step_h) starts a new model."""

    def __init__(self, building: Building, steps: int, step_h: float) -> None:
        window = np.ones(steps, dtype=bool)
        prices = np.zeros(steps)
        problem = DacProblem(steps, step_h, prices, window, None, (building,))
        self.steps = steps
        self.step_h = step_h
        self._block = _Block(problem, 0, [building])  # solved on the caller's thread
        self.last: Array | None = None

    def respond(self, prices: Array, correction_kw: Array, rho: float) -> Array | None:
        """The net schedule (kW per step), or None when the building has no schedule."""
        anchors = None
        if self.last is not None and rho > 0:
            anchors = (self.last + correction_kw)[None, :]
        net, _ = self._block.respond(prices, anchors, rho, WIDTH)
        if net is None:
            return None
        self.last = np.asarray(net[0], dtype=float).copy()
        return self.last

    def close(self) -> None:
        """Nothing held beyond the model (kept for the agent's lifecycle)."""
