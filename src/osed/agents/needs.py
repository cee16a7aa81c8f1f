"""What a supervisory controller needs, and the tenders that move a position toward it.

A need is a demand curve for one interval: the net position (buys positive) the controller
wants at each of a few prices, never rising as the price rises, and flat beyond its first and
last points. A single point ``(p, q)`` is the plain CTS need "hold q; trade the difference at
limit price p". Two points ``(p_low, q), (p_high, q)`` buy a shortfall at up to ``p_high`` and
resell a surplus at ``p_low`` or more.

:func:`tenders_toward` nets the curve against the committed position ``C`` and returns the
limit orders that, at whichever breakpoint price the market clears, bring the position to the
curve's value there: only the difference is ever tendered.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from osed.domain.cts import Side
from osed.domain.errors import Problem, ValidationError
from osed.domain.time import Interval


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """At ``price`` (market price scale) the wanted net position is ``position``."""

    price: int
    position: int


@dataclass(frozen=True, slots=True)
class Need:
    interval: Interval
    curve: tuple[CurvePoint, ...]

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        if not self.curve:
            problems.append(Problem("$.curve", "empty_curve", "a need has at least one point"))
        for k, (a, b) in enumerate(pairwise(self.curve), start=1):
            if b.price <= a.price:
                problems.append(
                    Problem(f"$.curve[{k}].price", "not_increasing", "prices must rise")
                )
            if b.position > a.position:
                problems.append(
                    Problem(
                        f"$.curve[{k}].position",
                        "rising_demand",
                        "the wanted position may not rise with the price",
                    )
                )
        if problems:
            raise ValidationError(problems, subject="need")

    @classmethod
    def at_limit(cls, interval: Interval, position: int, limit_price: int) -> Need:
        """Hold ``position`` (negative: a sale), trading the difference at ``limit_price``."""
        return cls(interval, (CurvePoint(limit_price, position),))


@dataclass(frozen=True, slots=True)
class LimitOrder:
    side: Side
    quantity: int
    price: int


def tenders_toward(need: Need, committed: int) -> list[LimitOrder]:
    """Limit orders that take ``committed`` to the need's curve; empty when nothing is missing.

    With points ``(p_k, D_k)``: buy ``D_k - max(C, D_{k+1})`` at ``p_k`` and sell
    ``min(C, D_{k-1}) - D_k`` at ``p_k`` where positive. At a clearing price ``p_j`` the buys
    in the money sum to ``max(0, D_j - C)`` and the sells to ``max(0, C - D_j)``.
    """
    curve = need.curve
    orders: list[LimitOrder] = []
    for k in reversed(range(len(curve))):
        above = curve[k + 1].position if k + 1 < len(curve) else committed
        amount = curve[k].position - max(committed, above)
        if amount > 0:
            orders.append(LimitOrder(Side.BUY, amount, curve[k].price))
    for k in range(len(curve)):
        below = curve[k - 1].position if k > 0 else committed
        amount = min(committed, below) - curve[k].position
        if amount > 0:
            orders.append(LimitOrder(Side.SELL, amount, curve[k].price))
    return orders
