"""The batch plan's two ways of summing position changes agree, and its chain is chain_hash."""

from __future__ import annotations

from unittest.mock import patch

from hypothesis import given
from hypothesis import strategies as st
from store_samples import entries_strategy

from osed.domain.ledger import GENESIS_HASH, LedgerEntry, chain_hash
from osed.ports.ledger import LedgerHead, checked_batch
from osed.storage import _ledger_plan
from osed.storage._ledger_plan import LedgerBatchPlan, _position_rows, _position_rows_by_loop
from osed.storage.sqlite import _interval_key


@given(st.lists(entries_strategy, max_size=80))
def test_position_changes_by_passes_and_by_loop_agree(entries: list[LedgerEntry]) -> None:
    with patch.object(_ledger_plan, "PASSES_FROM", 0):
        by_passes = _position_rows(entries, _interval_key)
    assert sorted(by_passes) == sorted(_position_rows_by_loop(entries, _interval_key))
    assert len({row[:4] for row in by_passes}) == len(by_passes)  # one row per key
    for *key, quantity in by_passes:
        assert quantity == sum(
            entry.signed_quantity
            for entry in entries
            if [entry.party, *_interval_key(entry.interval), entry.quantity_scale] == key
        )


@given(st.lists(st.lists(entries_strategy, max_size=3), min_size=1, max_size=6))
def test_the_plan_chains_every_entry_with_chain_hash(groups: list[list[LedgerEntry]]) -> None:
    batch = [(f"clear:{n}", group) for n, group in enumerate(groups)]
    plan = LedgerBatchPlan(LedgerHead(0, GENESIS_HASH), _interval_key, checked_batch(batch), {})
    previous = GENESIS_HASH
    for seq, message_id, blob, digest in plan.rows:
        previous = chain_hash(previous, seq, message_id, blob)
        assert digest == previous
    assert [row[0] for row in plan.rows] == list(range(1, len(plan.rows) + 1))
    assert (plan.seq, plan.last_hash) == (len(plan.rows), previous)
