"""When a call market's intervals are settled: each at its gate closure, and after a restart
the ones whose gate closed while the Market Agent was down (docs/market-agent.md).

Pure decisions over values, so the rules can be tested without an agent or a bus.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from osed.domain.time import Interval

DELIVERY_STARTED = "delivery_started"
"""Expiry reason: the gate closed while the agent was down and delivery had begun by the
restart, too late for a result anyone could act on."""
AFTER_CLEARING = "after_clearing"
"""Expiry reason: the tender arrived after its interval was cleared (its gate had closed)."""


@dataclass(frozen=True, slots=True)
class ClearLate:
    """Clear ``interval`` now: its gate closed while the agent was down, delivery is ahead."""

    interval: Interval


@dataclass(frozen=True, slots=True)
class Expire:
    """Withdraw the open tenders of ``interval`` without clearing it, for ``reason``."""

    interval: Interval
    reason: str


def overdue(
    open_intervals: Iterable[Interval],
    *,
    cleared: Callable[[Interval], bool],
    now: datetime,
    gate_closure: timedelta,
) -> list[ClearLate | Expire]:
    """What to do, in time order, with the intervals that still have open tenders although
    their gate closed (``gate_closure`` before their start) by ``now``."""
    actions: list[ClearLate | Expire] = []
    for interval in sorted(open_intervals):
        if now < interval.start - gate_closure:
            continue  # the gate is open: the schedule clears it
        if cleared(interval):
            actions.append(Expire(interval, AFTER_CLEARING))
        elif now < interval.start:
            actions.append(ClearLate(interval))
        else:
            actions.append(Expire(interval, DELIVERY_STARTED))
    return actions


def next_boundary(instant: datetime, step: timedelta) -> datetime:
    """The first multiple of ``step`` since the Unix epoch at or after ``instant``."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    steps = -((epoch - instant) // step)  # ceiling division on timedeltas
    return epoch + steps * step
