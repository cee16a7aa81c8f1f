"""A building's answer to one DAC round: its best response to the prices plus the proximal
term ρ/2 ‖net − (last schedule + correction)‖² (docs/grid-functions.md, "dac"), solved by the
same block LP the offline game uses for its buildings, here with one building in the block.

The model follows the agent's control steps: :meth:`DacResponder.prepare` builds the next
step's model aside while a game may still be played on the current one, so that a new game's
first round only sets the measured state and starts from the last optimal basis.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from osed.buildings.devices_schema import Array, Building
from osed.buildings.plan_inputs import at_state
from osed.gridfunctions.builtin._dac_buildings import _Block
from osed.gridfunctions.builtin._dac_document import DacProblem
from osed.gridfunctions.builtin._dac_game import WIDTH


class DacResponder:
    def __init__(self, here: Building, steps: int, step_h: float) -> None:
        """``here``: the building as seen from the current step (series rolled, windows
        moved); the same object again means the same step."""
        self.steps = steps
        self.step_h = step_h
        self._here = here
        self._block = _block(here, steps, step_h)
        self._ahead: tuple[Building, _Block] | None = None
        self.last: Array | None = None

    def prepare(self, here: Building) -> None:
        """Build the model of a coming step for the next game; a game on the current model
        goes on undisturbed."""
        if here is self._here or (self._ahead is not None and self._ahead[0] is here):
            return
        self._ahead = (here, self._warm_block(here))

    def restart(self, here: Building, state: Mapping[str, float]) -> None:
        """A new game from the building at ``here``'s step in the measured ``state``."""
        if here is not self._here:
            ahead = self._ahead
            block = ahead[1] if ahead is not None and ahead[0] is here else self._warm_block(here)
            self._here, self._block, self._ahead = here, block, None
        self._block.set_initial_states([at_state(here, state, None)])
        self.last = None

    def _warm_block(self, here: Building) -> _Block:
        """The model of ``here``, starting from the current model's last basis."""
        block = _block(here, self.steps, self.step_h)
        block.start_from(self._block)
        return block

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


def _block(building: Building, steps: int, step_h: float) -> _Block:
    window = np.ones(steps, dtype=bool)
    problem = DacProblem(steps, step_h, np.zeros(steps), window, None, (building,))
    return _Block(problem, 0, [building])
