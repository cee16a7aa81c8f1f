"""Simulated buildings of a ``dac`` game: each one owns its devices' model (a one-building
problem nobody else sees) and answers every round of prices with its best response plus the
proximal term the round names, as a building's controller would."""

from __future__ import annotations

from typing import Any

import numpy as np

from osed.gridfunctions.builtin._dac_buildings import Buildings
from osed.gridfunctions.builtin._dac_document import read_document
from osed.gridfunctions.builtin._dac_game import WIDTH


class DacAgent:
    def __init__(self, document: dict[str, Any], building: dict[str, Any]) -> None:
        own = {key: document[key] for key in ("steps", "step_h", "prices")}
        self.problem = read_document({**own, "buildings": [building]})
        self.model = Buildings(self.problem, workers=1)
        self.last: np.ndarray[Any, Any] | None = None
        self.handled = 0
        """How many messages of its outbound channel it has acted on."""

    def alone(self) -> np.ndarray[Any, Any]:
        """Its schedule at the tariff, with no coordination."""
        return np.asarray(self.model.respond(self.problem.prices).net_kw[0])

    def answer(self, prices: dict[str, Any]) -> dict[str, Any]:
        """The ``schedule`` body for a ``prices`` body."""
        rho = float(prices["rho"])
        anchors = None
        if rho > 0 and self.last is not None:
            anchors = (self.last + np.asarray(prices["correction_kw"]))[None, :]
        response = self.model.respond(np.asarray(prices["prices_per_kwh"]), anchors, rho, WIDTH)
        assert not response.infeasible
        self.last = response.net_kw[0]
        return {"iteration": prices["iteration"], "net_kw": self.last.tolist()}

    def close(self) -> None:
        self.model.close()
