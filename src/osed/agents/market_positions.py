"""The Market Position Manager's positions in memory, kept equal to the ledger's.

The Market Agent is the only writer of its ledger, so the positions it answers position
requests with follow from the ledger's rows when it starts and from its own appends after
that: reading them from the ledger for every request cost more than the request itself. A
position is keyed as the ledger keys it (party, delivery interval, quantity scale) and stays
once touched, also when it nets to zero, as the ledger's row does.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from datetime import datetime, timedelta

from osed.domain.ledger import LedgerEntry
from osed.domain.time import Interval
from osed.ports.ledger import PositionRow


class _PartyPositions:
    """One party's positions: by interval, then by quantity scale; intervals kept sorted."""

    __slots__ = ("by_interval", "intervals", "starts")

    def __init__(self) -> None:
        self.by_interval: dict[Interval, dict[int, int]] = {}
        self.intervals: list[Interval] = []  # sorted by start, then duration
        self.starts: list[datetime] = []  # their starts, for bisection

    def add(self, interval: Interval, quantity_scale: int, quantity: int) -> None:
        scales = self.by_interval.get(interval)
        if scales is None:
            scales = self.by_interval[interval] = {}
            index = bisect_right(self.intervals, interval)
            self.intervals.insert(index, interval)
            self.starts.insert(index, interval.start)
        scales[quantity_scale] = scales.get(quantity_scale, 0) + quantity


class MarketPositions:
    def __init__(self, rows: Iterable[PositionRow] = ()) -> None:
        """Start from the ledger's position rows (``LedgerStore.all_positions``)."""
        self._parties: dict[str, _PartyPositions] = {}
        self._longest = timedelta(0)
        for row in rows:
            self._add(row.party, row.interval, row.quantity_scale, row.quantity)

    def apply(self, entries: Iterable[LedgerEntry]) -> None:
        """Count the entries of one append the ledger recorded (not a duplicate)."""
        for entry in entries:
            self._add(entry.party, entry.interval, entry.quantity_scale, entry.signed_quantity)

    def of(self, party: str, within: Interval | None = None) -> list[PositionRow]:
        """What ``LedgerStore.positions(party, within)`` returns: the party's rows for the
        intervals that overlap ``within`` (all, if None), by interval, then quantity scale."""
        positions = self._parties.get(party)
        if positions is None:
            return []
        intervals = positions.intervals
        if within is not None:
            # Starts before ``within`` ends and ends after it starts: only intervals starting
            # less than the longest duration before it can reach into it.
            low = bisect_right(positions.starts, within.start - self._longest)
            high = bisect_left(positions.starts, within.end)
            intervals = [i for i in intervals[low:high] if i.end > within.start]
        return [
            PositionRow(party, interval, quantity, scale)
            for interval in intervals
            for scale, quantity in sorted(positions.by_interval[interval].items())
        ]

    def _add(self, party: str, interval: Interval, quantity_scale: int, quantity: int) -> None:
        positions = self._parties.get(party)
        if positions is None:
            positions = self._parties[party] = _PartyPositions()
        positions.add(interval, quantity_scale, quantity)
        self._longest = max(self._longest, interval.duration)
