"""What the grid functions currently ask of the building, kept per function and turned into
the MPC's :class:`GridRequests` for a plan starting at a given step, and into the real-time
rule's power limit and comfort offsets for the current step."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from osed.buildings.devices_schema import Array
from osed.buildings.mpc import GridRequests


@dataclass(frozen=True, slots=True)
class Commitment:
    """An XOR award: at most ``baseline_kw − reduction_kw`` from ``start`` to ``end`` (steps)."""

    reduction_kw: float
    baseline_kw: float
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class ComfortOffset:
    """A DLC offset of the heating zones' comfort bands until step ``end`` (or a restore)."""

    offset_c: float
    zones: tuple[str, ...]
    end: int


@dataclass
class ActiveRequests:
    steps: int
    prices_per_kwh: Array | None = None
    """The last DAC game's final prices (None: the tariff)."""
    prices_from: int = 0
    """The step the DAC prices' first value is for."""
    dac_net_kw: Array | None = None
    """The building's own schedule in the last DAC game's final round (from ``prices_from``):
    the share of the area's coordinated schedule it agreed to."""
    dac_margin_kw: float = 0.5
    """How far above that schedule the plan may take the net import (forecast errors)."""
    import_limit_kw: float = math.inf
    """The capacity limit's bound on the net import (inf: none)."""
    export_limit_kw: float = math.inf
    """The capacity limit's bound on the net export, as a positive kW (inf: none)."""
    limits_end: int | None = None
    """The step the capacity limit's bounds end at (exclusive); None: they hold for the
    current step alone. A building's bound is its share of the area limit for the next
    cycle, shared anew every cycle from what each building can do then: the plan keeps it
    over the limit's interval, and plans freely beyond it (or beyond now, for a limit
    without an end), where the real-time rule holds the bound of the day."""
    owner_limit_kw: float = math.inf
    """The owner's own connection limit."""
    commitment: Commitment | None = None
    offset: ComfortOffset | None = None
    changed: list[str] = field(default_factory=list)
    """Functions whose request changed since the last plan (a re-plan is due)."""

    def limit_kw(self, step: int) -> float:
        """The import the real-time rule keeps the building under at ``step``."""
        limit = min(self.import_limit_kw, self.owner_limit_kw)
        c = self.commitment
        if c is not None and c.start <= step < c.end:
            limit = min(limit, c.baseline_kw - c.reduction_kw)
        return limit

    def comfort_offset_c(self, step: int) -> dict[str, float]:
        o = self.offset
        if o is None or step >= o.end:
            return {}
        return dict.fromkeys(o.zones, o.offset_c)

    def grid_requests(
        self, step: int, *, follow_dac: bool = True, dac_raise_kw: float = 0.0
    ) -> GridRequests:
        """The requests over the horizon starting at ``step``; with ``follow_dac``, the net
        import kept within the DAC schedule (plus the margin, plus ``dac_raise_kw``) over the
        rest of its day.

        The final prices alone do not say which schedule to follow: the game flattens the area
        peak, so the prices are level over its plateau and a building's plan is indifferent
        among those steps (the game's proximal term, not the prices, chose each schedule). The
        schedule is what makes the buildings' plans add up to the game's aggregate."""
        n = self.steps
        prices = None
        if self.prices_per_kwh is not None:
            prices = np.roll(self.prices_per_kwh, -((step - self.prices_from) % n))
        ahead = step + np.arange(n)
        reduction = baseline = None
        c = self.commitment
        if c is not None and c.end > step:
            during = (ahead >= c.start) & (ahead < c.end)
            reduction = np.where(during, c.reduction_kw, 0.0)
            baseline = np.where(during, c.baseline_kw, np.inf)
        offsets = None
        o = self.offset
        if o is not None and o.end > step:
            series = np.where(ahead < o.end, o.offset_c, 0.0)
            offsets = dict.fromkeys(o.zones, series)
        bounded = ahead < (step + 1 if self.limits_end is None else self.limits_end)
        import_limit = np.minimum(
            np.where(bounded, self.import_limit_kw, math.inf), self.owner_limit_kw
        )
        if follow_dac and self.dac_net_kw is not None:
            import_limit = np.minimum(import_limit, self.dac_ceiling(step) + dac_raise_kw)
        return GridRequests(
            prices_per_kwh=prices,
            import_limit_kw=import_limit,
            export_limit_kw=np.where(bounded, self.export_limit_kw, math.inf),
            reduction_kw=reduction,
            baseline_kw=baseline,
            comfort_offset_c=offsets,
        )

    def dac_ceiling(self, step: int) -> Array:
        """The DAC schedule plus the margin over the horizon from ``step`` (inf past its
        day)."""
        assert self.dac_net_kw is not None
        ceiling = np.full(self.steps, math.inf)
        at = step - self.prices_from + np.arange(self.steps)
        inside = (at >= 0) & (at < self.dac_net_kw.size)
        ceiling[inside] = np.maximum(self.dac_net_kw[at[inside]], 0.0) + self.dac_margin_kw
        return ceiling
