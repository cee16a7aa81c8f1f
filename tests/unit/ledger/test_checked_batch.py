"""``checked_batch`` checks a whole batch at once; it must accept, encode and reject exactly as
``canonical_entries`` does message by message: the same bytes, or the same error (problems,
their paths, the subject) for the first message that has one."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from itertools import chain
from typing import Any
from unittest.mock import patch

import pytest
from entry_samples import START, entries_strategy, entry
from hypothesis import given, settings
from hypothesis import strategies as st

from osed.domain.errors import ValidationError
from osed.domain.ledger import LedgerEntry
from osed.domain.time import Interval
from osed.ports import ledger as ledger_port
from osed.ports.ledger import AppendBatch, canonical_entries, checked_batch

# Values that the check rejects, or that only its slow path accepts (text that is not
# "printable" but has no control character, such as a no-break space or a line separator).
UNUSUAL: list[tuple[str, object]] = [
    ("party", ""),
    ("party", "al\x1fice"),
    ("party", "al\nice"),
    ("party", "\ud800"),
    ("party", "Bäckerei"),
    ("party", "a\xa0b"),
    ("party", 5),
    ("transaction_id", ""),
    ("transaction_id", "x\x7f"),
    ("tender_id", ""),
    ("counter_party", "line\u2028separator"),
    ("currency", "\x85"),
    ("quantity", -1),
    ("quantity", 2**63),
    ("quantity", True),
    ("quantity", 1.0),
    ("price", -(2**63)),
    ("price", 2**63 - 1),
    ("price_scale", -3),
    ("side", "BUY"),
    ("committed_at", datetime(2026, 1, 1)),  # noqa: DTZ001 (naive on purpose)
    ("committed_at", "today"),
    ("interval", Interval(START, timedelta(seconds=1.5))),
    ("interval", "not an interval"),
]
MESSAGE_IDS = ["clear:1", "clear:2", "clear:3", "", "m\x1f1", "m\xa01", 7]


@st.composite
def maybe_unusual(draw: st.DrawFn) -> object:
    entry: LedgerEntry = draw(entries_strategy)
    if draw(st.integers(0, 3)):
        return entry
    choice = draw(st.integers(-1, len(UNUSUAL) - 1))
    if choice < 0:
        return "not an entry"
    field, value = UNUSUAL[choice]
    return dataclasses.replace(entry, **{field: value})


batches = st.lists(
    st.tuples(
        st.sampled_from(MESSAGE_IDS),
        st.lists(maybe_unusual(), max_size=3),
    ),
    min_size=1,
    max_size=5,
)


def outcome_per_message(batch: AppendBatch) -> tuple[Any, ...]:
    try:
        per_message = [canonical_entries(message_id, entries) for message_id, entries in batch]
    except ValidationError as error:
        return ("rejected", error.subject, error.problems)
    return (
        "accepted",
        [message_id for message_id, _ in batch],
        [len(blobs) for blobs in per_message],
        [entry for _, entries in batch for entry in entries],
        list(chain.from_iterable(per_message)),
    )


def outcome_as_a_batch(batch: AppendBatch) -> tuple[Any, ...]:
    try:
        checked = checked_batch(batch)
    except ValidationError as error:
        return ("rejected", error.subject, error.problems)
    return ("accepted", checked.message_ids, checked.counts, checked.entries, checked.canonical)


@settings(max_examples=400)
@given(batches)
def test_a_batch_is_accepted_or_rejected_exactly_as_message_by_message(
    batch: list[tuple[Any, list[Any]]],
) -> None:
    with patch.object(ledger_port, "CHECK_AS_A_WHOLE_FROM", 0):  # small batches too
        assert outcome_as_a_batch(batch) == outcome_per_message(batch)


@given(
    st.lists(st.tuples(st.sampled_from(MESSAGE_IDS[:3]), st.lists(entries_strategy)), min_size=1)
)
def test_plain_batches_encode_to_each_entry_s_canonical_bytes(
    batch: list[tuple[str, list[LedgerEntry]]],
) -> None:
    with patch.object(ledger_port, "CHECK_AS_A_WHOLE_FROM", 0):
        checked = checked_batch(batch)
    assert checked.canonical == [entry.canonical() for _, group in batch for entry in group]
    assert checked.counts == [len(group) for _, group in batch]


def test_the_first_bad_message_is_the_one_named() -> None:
    good = entry()
    bad = dataclasses.replace(good, side="SELL", quantity=-1)
    batch = [("clear:1", [good]), ("clear:2", [good, bad]), ("", [bad])]
    with (
        pytest.raises(ValidationError) as info,
        patch.object(ledger_port, "CHECK_AS_A_WHOLE_FROM", 0),
    ):
        checked_batch(batch)
    assert info.value.subject == "ledger message 'clear:2'"
    assert [p.path for p in info.value.problems] == ["$.entries[1].quantity", "$.entries[1].side"]
