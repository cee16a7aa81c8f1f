"""Position arithmetic: net positions, the byte-level tally, and mismatch reports."""

from __future__ import annotations

import pytest
from entry_samples import entries_strategy, entry
from hypothesis import given
from hypothesis import strategies as st

from osed.domain.cts.tenders import Side
from osed.domain.errors import ValidationError
from osed.ledger.positions import (
    PositionTally,
    apply_entries,
    net_positions,
    position_mismatches,
    positions_of_rows,
)
from osed.ports.ledger import PositionRow


def test_buys_add_and_sales_subtract_per_party_interval_and_scale() -> None:
    entries = [
        entry(quantity=7),
        entry(quantity=3, side=Side.SELL),
        entry(quantity=5, interval_index=1),
        entry(quantity=2, quantity_scale=0),
        entry(party="bob", quantity=4, side=Side.SELL),
    ]
    totals = net_positions(entries)
    assert totals == {
        ("alice", entries[0].interval, 3): 4,
        ("alice", entries[2].interval, 3): 5,
        ("alice", entries[0].interval, 0): 2,
        ("bob", entries[0].interval, 3): -4,
    }


@given(st.lists(entries_strategy, max_size=30))
def test_the_byte_tally_equals_the_entry_sum(entries: list) -> None:  # type: ignore[type-arg]
    tally = PositionTally()
    for item in entries:
        tally.add(item.canonical())
    assert tally.totals() == net_positions(entries)


@given(st.lists(entries_strategy, max_size=20), st.integers(0, 20))
def test_merged_tallies_equal_one_tally(entries: list, split: int) -> None:  # type: ignore[type-arg]
    first, second, whole = PositionTally(), PositionTally(), PositionTally()
    for index, item in enumerate(entries):
        (first if index < split else second).add(item.canonical())
        whole.add(item.canonical())
    first.merge(second)
    assert first.totals() == whole.totals()


@given(st.lists(entries_strategy, max_size=20), st.lists(entries_strategy, max_size=20))
def test_applying_entries_adds_their_net(before: list, after: list) -> None:  # type: ignore[type-arg]
    assert apply_entries(net_positions(before), after) == net_positions(before + after)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"osed-ledger-v2" + entry().canonical()[14:],
        entry().canonical().replace(b"BUY", b"BOY"),
        entry().canonical().replace(b"\x1f10\x1f", b"\x1ften\x1f"),
        entry().canonical().replace(b"2026-01-01T00:00:00+00:00", b"2026-13-01T00:00:00", 1),
        entry().canonical() + b"\x1fextra",
        entry().canonical().replace(b"alice", b"\xffalice"),
    ],
)
def test_bytes_that_are_not_an_entry_are_rejected(data: bytes) -> None:
    tally = PositionTally()
    with pytest.raises(ValidationError, match="corrupt_entry"):
        tally.add(data)
    assert tally.totals() == {}


def test_mismatches_name_every_differing_key_including_missing_ones() -> None:
    a, b = entry(quantity=5), entry(party="bob", quantity=2, side=Side.SELL)
    expected = net_positions([a, b])
    recorded = positions_of_rows(
        [
            PositionRow("alice", a.interval, 5, 3),
            PositionRow("carol", a.interval, 0, 3),  # a row without entries
        ]
    )
    mismatches = position_mismatches(expected, recorded)
    assert [(m.key[0], m.expected, m.recorded) for m in mismatches] == [
        ("bob", -2, 0),
        ("carol", 0, 0),
    ]
    assert "'bob'" in mismatches[0].describe()
    assert position_mismatches(expected, dict(expected)) == []
