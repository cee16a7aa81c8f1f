"""Position arithmetic (the pure part of the Market Position Manager).

A position is the net signed quantity a party committed for one delivery interval at one
quantity scale: buys add, sales subtract. It is always the sum of that party's ledger entries,
which is what :func:`net_positions` and :class:`PositionTally` recompute for cross-checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from osed.domain.errors import Problem, ValidationError
from osed.domain.ledger import LedgerEntry
from osed.domain.time import Interval
from osed.ports.ledger import PositionRow

PositionKey = tuple[str, Interval, int]
"""party, delivery interval, quantity scale."""

ENTRY_FIELDS = 15
ENTRY_FORMAT = b"osed-ledger-v1"
RawPositionKey = tuple[bytes, bytes, bytes, bytes, bytes]
"""party, side, interval start, interval seconds, quantity scale: as in the entry bytes."""

_SIGNS = {b"BUY": 1, b"SELL": -1}


def net_positions(entries: Iterable[LedgerEntry]) -> dict[PositionKey, int]:
    """The position every entry adds up to, keyed by party, interval and quantity scale."""
    totals: dict[PositionKey, int] = {}
    for entry in entries:
        key = (entry.party, entry.interval, entry.quantity_scale)
        totals[key] = totals.get(key, 0) + entry.signed_quantity
    return totals


def apply_entries(
    positions: Mapping[PositionKey, int], entries: Iterable[LedgerEntry]
) -> dict[PositionKey, int]:
    """``positions`` after ``entries`` are committed (a new mapping; the input is unchanged)."""
    result = dict(positions)
    for key, quantity in net_positions(entries).items():
        result[key] = result.get(key, 0) + quantity
    return result


def positions_of_rows(rows: Iterable[PositionRow]) -> dict[PositionKey, int]:
    """Stored position rows as a mapping, for comparison with :func:`net_positions`."""
    totals: dict[PositionKey, int] = {}
    for row in rows:
        key = (row.party, row.interval, row.quantity_scale)
        totals[key] = totals.get(key, 0) + row.quantity
    return totals


@dataclass(frozen=True, slots=True)
class PositionMismatch:
    key: PositionKey
    expected: int  # the sum of the ledger entries
    recorded: int  # what the positions table says

    def describe(self) -> str:
        party, interval, scale = self.key
        return (
            f"position of {party!r} for {interval.key()} (scale {scale}) is {self.recorded}, "
            f"its ledger entries sum to {self.expected}"
        )


def position_mismatches(
    expected: Mapping[PositionKey, int], recorded: Mapping[PositionKey, int]
) -> list[PositionMismatch]:
    """Every key whose recorded position differs from the ledger sum, in key order."""
    if expected == recorded:  # the usual verdict, in one C-level comparison
        return []
    differing = [
        key
        for key in expected.keys() | recorded.keys()
        if expected.get(key, 0) != recorded.get(key, 0) or (key in expected) != (key in recorded)
    ]
    return [
        PositionMismatch(key, expected.get(key, 0), recorded.get(key, 0))
        for key in sorted(differing, key=_sort_key)
    ]


class PositionTally:
    """Sums positions straight from canonical entry bytes, without building LedgerEntry objects.

    Per row it only splits the fields and parses the quantity, summing by the raw key bytes in
    :attr:`raw`; the party, side, interval and scale of a key are checked once, by
    :meth:`admit`, when the key is first seen. That keeps it fast enough for every row of a
    verification, and an entry that is not structurally an entry still fails here.
    """

    __slots__ = ("_intervals", "_keys", "raw")

    def __init__(self) -> None:
        self.raw: dict[RawPositionKey, int] = {}
        self._keys: dict[RawPositionKey, tuple[PositionKey, int]] = {}  # -> key, sign
        # A ledger has far fewer intervals than keys: each is parsed once.
        self._intervals: dict[tuple[bytes, bytes], Interval] = {}

    def add(self, canonical: bytes) -> None:
        """Add one entry; raises :class:`ValidationError` if the bytes are not an entry."""
        # The verifier's hot loop inlines these steps; a test keeps the two in agreement.
        fields = canonical.split(b"\x1f")
        if len(fields) != ENTRY_FIELDS or fields[0] != ENTRY_FORMAT:
            raise corrupt_entry(f"expected {ENTRY_FIELDS} fields of {ENTRY_FORMAT.decode()}")
        key = (fields[3], fields[5], fields[6], fields[7], fields[11])
        try:
            quantity = int(fields[10])
        except ValueError as exc:
            raise corrupt_entry(f"quantity: {exc}") from exc
        total = self.raw.get(key)
        if total is None:
            self.admit(key)
            self.raw[key] = quantity
        else:
            self.raw[key] = total + quantity

    def admit(self, key: RawPositionKey) -> None:
        """Check a raw key the first time it is seen; raises :class:`ValidationError`."""
        self._keys[key] = _decoded_key(key, self._intervals)

    def merge(self, other: PositionTally) -> None:
        """Add another tally's entries (e.g. of another segment of the same ledger)."""
        for key, quantity in other.raw.items():
            self.raw[key] = self.raw.get(key, 0) + quantity
        self._keys.update(other._keys)

    def totals(self) -> dict[PositionKey, int]:
        result: dict[PositionKey, int] = {}
        for raw, quantity in self.raw.items():
            key, sign = self._keys[raw]
            result[key] = result.get(key, 0) + sign * quantity
        return result


def _decoded_key(
    raw: RawPositionKey, intervals: dict[tuple[bytes, bytes], Interval]
) -> tuple[PositionKey, int]:
    """The key and sign of a raw key; ``intervals`` holds the intervals parsed so far."""
    party, side, start, seconds, scale = raw
    try:
        sign = _SIGNS[side]
        interval = intervals.get((start, seconds))
        if interval is None:
            interval = Interval(
                datetime.fromisoformat(start.decode()), timedelta(seconds=int(seconds))
            )
            intervals[start, seconds] = interval
        return (party.decode(), interval, int(scale)), sign
    except (KeyError, ValueError, OverflowError, ValidationError) as exc:
        raise corrupt_entry(f"party, side, interval or scale: {exc!r}") from exc


def corrupt_entry(message: str) -> ValidationError:
    return ValidationError(
        [Problem("$.entry", "corrupt_entry", f"not a ledger entry: {message}")],
        subject="ledger entry",
    )


def _sort_key(key: PositionKey) -> tuple[str, datetime, timedelta, int]:
    party, interval, scale = key
    return party, interval.start, interval.duration, scale
