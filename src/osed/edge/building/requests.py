"""What the grid functions currently ask of the building, kept per function and merged into
the MPC's :class:`GridRequests` and the real-time rule's power limit."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from osed.buildings.devices_schema import Array
from osed.buildings.mpc import GridRequests


@dataclass
class ActiveRequests:
    steps: int
    prices_per_kwh: Array | None = None
    """The last DAC game's final prices (None: the tariff)."""
    import_limit_kw: float = float("inf")
    """The capacity limit's bound on the net import (inf: none)."""
    export_limit_kw: float = float("inf")
    """The capacity limit's bound on the net export, as a positive kW (inf: none)."""
    owner_limit_kw: float = float("inf")
    """The owner's own connection limit."""
    changed: list[str] = field(default_factory=list)
    """Functions whose request changed since the last plan (a re-plan is due)."""

    def limit_kw(self) -> float:
        """The import the real-time rule keeps the building under."""
        return min(self.import_limit_kw, self.owner_limit_kw)

    def grid_requests(self) -> GridRequests:
        n = self.steps
        return GridRequests(
            prices_per_kwh=self.prices_per_kwh,
            import_limit_kw=np.full(n, self.limit_kw()),
            export_limit_kw=np.full(n, self.export_limit_kw),
        )
