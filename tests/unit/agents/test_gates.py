"""The rules for intervals whose gate closed while the Market Agent was down."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from osed.agents.gates import (
    AFTER_CLEARING,
    DELIVERY_STARTED,
    ClearLate,
    Expire,
    next_boundary,
    overdue,
)
from osed.domain.time import Interval
from tests.strategies import utc_datetimes
from tests.unit.agents.conftest import SLOT, START, slot

GATE = timedelta(minutes=5)


def never(_: Interval) -> bool:
    return False


def test_each_closed_gate_gets_one_action_in_time_order() -> None:
    now = START + 2 * SLOT - timedelta(minutes=2)  # slot 2's gate closed, its delivery ahead
    actions = overdue(
        [slot(3), slot(2), slot(0), slot(1)],
        cleared=lambda interval: interval == slot(1),
        now=now,
        gate_closure=GATE,
    )
    assert actions == [
        Expire(slot(0), DELIVERY_STARTED),  # ended while the agent was down
        Expire(slot(1), AFTER_CLEARING),  # cleared already: what rests came after its gate
        ClearLate(slot(2)),
    ]  # slot 3: the gate is open, the schedule will clear it


def test_the_gate_closes_at_the_closure_instant_and_delivery_starts_at_the_start() -> None:
    gate = START - GATE
    assert (
        overdue([slot(0)], cleared=never, now=gate - timedelta(microseconds=1), gate_closure=GATE)
        == []
    )
    assert overdue([slot(0)], cleared=never, now=gate, gate_closure=GATE) == [ClearLate(slot(0))]
    late = overdue([slot(0)], cleared=never, now=START, gate_closure=GATE)
    assert late == [Expire(slot(0), DELIVERY_STARTED)]


@given(
    st.sets(st.integers(-20, 20), max_size=12),
    st.sets(st.integers(-20, 20)),
    st.integers(-30 * 60, 30 * 60),
)
def test_only_closed_gates_are_settled_and_only_uncleared_future_ones_cleared(
    open_slots: set[int], cleared_slots: set[int], offset_s: int
) -> None:
    now = START + timedelta(seconds=offset_s)
    actions = overdue(
        [slot(k) for k in open_slots],
        cleared=lambda interval: any(interval == slot(k) for k in cleared_slots),
        now=now,
        gate_closure=GATE,
    )
    closed = sorted(slot(k) for k in open_slots if now >= slot(k).start - GATE)
    assert [action.interval for action in actions] == closed
    for action in actions:
        k = next(k for k in open_slots if slot(k) == action.interval)
        if isinstance(action, ClearLate):
            assert k not in cleared_slots
            assert now < action.interval.start
        else:
            expected = AFTER_CLEARING if k in cleared_slots else DELIVERY_STARTED
            assert action.reason == expected


@given(utc_datetimes, st.sampled_from([5, 15, 60]))
def test_next_boundary_is_the_first_multiple_at_or_after(instant: datetime, minutes: int) -> None:
    step = timedelta(minutes=minutes)
    boundary = next_boundary(instant, step)
    assert instant <= boundary < instant + step
    assert (boundary - datetime(1970, 1, 1, tzinfo=UTC)) % step == timedelta(0)
