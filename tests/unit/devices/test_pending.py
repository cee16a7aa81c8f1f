"""Each command id is applied once; unsettled commands are kept for a resend."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from osed.devices.pending import PendingCommands
from osed.domain.devices import Action, Command, Outcome
from osed.domain.errors import ConflictError, ValidationError

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


def setpoint(command_id: str, value: float = 21.0, device: str = "zone-1") -> Command:
    return Command(command_id, device, Action.SET_SETPOINT_C, value, NOW)


def test_a_settled_command_is_answered_again_and_not_resent() -> None:
    book = PendingCommands()
    assert book.admit(setpoint("c1")) is None  # new: send it
    assert book.admit(setpoint("c1")) is None  # still pending: sending again is the same command
    book.settle("c1", Outcome.APPLIED, NOW)
    again = book.admit(setpoint("c1"))
    assert again is not None
    assert again.outcome is Outcome.APPLIED
    assert book.pending() == []


def test_pending_commands_resend_in_order_and_a_late_confirmation_is_ignored() -> None:
    book = PendingCommands()
    for i in range(3):
        book.admit(setpoint(f"c{i}", 20.0 + i))
    book.settle("c1", Outcome.REJECTED, NOW, "out of range")
    assert [c.command_id for c in book.pending()] == ["c0", "c2"]
    book.settle("c1", Outcome.APPLIED, NOW)
    settled = book.admit(setpoint("c1", 21.0))
    assert settled is not None
    assert settled.outcome is Outcome.REJECTED


def test_the_same_id_with_another_body_is_refused() -> None:
    book = PendingCommands()
    book.admit(setpoint("c1", 21.0))
    with pytest.raises(ConflictError):
        book.admit(setpoint("c1", 22.0))


def test_waiting_ends_pending_at_the_deadline_or_with_the_outcome() -> None:
    async def scenario() -> tuple[Outcome, Outcome]:
        book = PendingCommands()
        book.admit(setpoint("c1"))
        book.admit(setpoint("c2"))
        late = await book.wait("c1", 0.01, NOW)
        asyncio.get_running_loop().call_later(0.01, book.settle, "c2", Outcome.APPLIED, NOW)
        done = await book.wait("c2", 5.0, NOW)
        return late.outcome, done.outcome

    assert asyncio.run(scenario()) == (Outcome.PENDING, Outcome.APPLIED)


def test_only_the_newest_settled_outcomes_are_kept() -> None:
    book = PendingCommands(kept=2)
    for i in range(4):
        book.admit(setpoint(f"c{i}"))
        book.settle(f"c{i}", Outcome.APPLIED, NOW)
    assert book.admit(setpoint("c0")) is None  # forgotten: new again
    assert book.admit(setpoint("c3")) is not None


def test_bad_commands_name_every_problem() -> None:
    with pytest.raises(ValidationError) as caught:
        Command("", "a/b", Action.SET_SETPOINT_C, float("nan"), NOW)
    assert {p.path for p in caught.value.problems} == {"$.command_id", "$.device_id", "$.value"}
    with pytest.raises(ValidationError) as caught:
        Command("c", "d", Action.TURN_ON, 1.0, NOW)
    assert [p.code for p in caught.value.problems] == ["unexpected"]
