"""Commands by id, for every adapter: each command id is applied at most once.

An adapter records a command before it sends it. The first outcome that settles it (applied
or rejected) is kept and returned for every later send of the same id, so a retry never
applies it twice; a command still unconfirmed stays pending and is resent, in the order it
was first sent, when the adapter reconnects. The same id with another body is refused.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime

from osed.domain.devices import Command, CommandResult, Outcome
from osed.domain.errors import ConflictError

SETTLED_KEPT = 10_000
"""Settled outcomes remembered (the oldest are forgotten first)."""


@dataclass
class _Entry:
    command: Command
    result: CommandResult | None = None
    settled: asyncio.Event = field(default_factory=asyncio.Event)


class PendingCommands:
    def __init__(self, *, kept: int = SETTLED_KEPT) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._settled: deque[str] = deque()
        self._kept = kept

    def admit(self, command: Command) -> CommandResult | None:
        """Record ``command``; its earlier outcome if the id was settled already (send
        nothing then), None if it is new or still pending (send it)."""
        entry = self._entries.get(command.command_id)
        if entry is None:
            self._entries[command.command_id] = _Entry(command)
            return None
        if _body(entry.command) != _body(command):
            raise ConflictError(f"command {command.command_id!r} was sent before with another body")
        return entry.result

    def settle(self, command_id: str, outcome: Outcome, at: datetime, detail: str = "") -> None:
        """The device confirmed (``applied``) or refused (``rejected``) the command."""
        entry = self._entries.get(command_id)
        if entry is None or entry.result is not None:
            return  # unknown or settled already: a duplicate confirmation changes nothing
        entry.result = CommandResult(command_id, entry.command.device_id, outcome, at, detail)
        entry.settled.set()
        self._settled.append(command_id)
        while len(self._settled) > self._kept:
            self._entries.pop(self._settled.popleft(), None)

    async def wait(self, command_id: str, timeout_s: float, now: datetime) -> CommandResult:
        """The command's outcome, or ``pending`` if it is not settled within ``timeout_s``."""
        entry = self._entries[command_id]
        try:
            await asyncio.wait_for(entry.settled.wait(), timeout_s)
        except TimeoutError:
            return CommandResult(
                command_id, entry.command.device_id, Outcome.PENDING, now, "not confirmed yet"
            )
        assert entry.result is not None
        return entry.result

    def pending(self) -> list[Command]:
        """Unsettled commands in the order first sent: what to resend after a reconnect."""
        return [e.command for e in self._entries.values() if e.result is None]


def _body(command: Command) -> tuple[str, str, float | None]:
    return (command.device_id, command.action, command.value)
