"""The enrolment changes of one EDC: stored in the order they come, applied once stored.

A change is answered only once it is committed, so a token is handed out only when it is
durable, and a store that fails leaves the EDC as it was. Changes that come while a commit is
under way are stored together in the next one: concurrent enrolments share a commit (and its
fsync) instead of queueing for one each. Consecutive enrolments make one transaction; a
removal is one of its own, in its place in the order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Change:
    """Buildings enrolled (building id → enrolment), or one building removed."""

    enrolled: Mapping[str, Any] = field(default_factory=dict)
    removed: str | None = None


Apply = Callable[[Change], None]


class EnrolmentQueue:
    def __init__(
        self,
        name: str,
        *,
        store_enrolled: Callable[[Mapping[str, Any]], None],
        store_removed: Callable[[str], None],
        applied: Callable[[Callable[[], None]], Awaitable[None]],
        apply: Apply,
    ) -> None:
        """``store_enrolled`` and ``store_removed`` commit; ``apply`` changes the EDC in
        memory (it may raise for its change alone); ``applied(run)`` runs ``run`` where the
        EDC may change (under its lock)."""
        self._name = name
        self._store_enrolled = store_enrolled
        self._store_removed = store_removed
        self._applied = applied
        self._apply = apply
        self._pending: list[tuple[Change, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, change: Change) -> None:
        """Once ``change`` is stored and applied; what storing or applying it raised."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((change, done))
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write(), name=self._name)
        await asyncio.shield(done)  # a caller that gives up does not undo a stored change

    async def drained(self) -> None:
        """Once every change submitted so far is stored (or refused)."""
        if self._writer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._writer)

    async def _write(self) -> None:
        while self._pending:
            await asyncio.sleep(0)  # the changes that came with this one join it
            batch, self._pending = self._pending, []
            for run in _runs(batch):
                await self._commit(run)

    async def _commit(self, run: list[tuple[Change, asyncio.Future[None]]]) -> None:
        try:
            first = run[0][0]
            if first.removed is not None:
                self._store_removed(first.removed)
            else:
                merged: dict[str, Any] = {}
                for change, _ in run:
                    merged.update(change.enrolled)  # a later enrolment of a building wins
                self._store_enrolled(merged)
        except Exception as exc:
            for _, done in run:
                _settle(done, exc)
            return
        errors: list[Exception | None] = []

        def apply_all() -> None:
            for change, _ in run:
                try:
                    self._apply(change)
                    errors.append(None)
                except Exception as exc:
                    errors.append(exc)

        await self._applied(apply_all)
        for (_, done), error in zip(run, errors, strict=True):
            _settle(done, error)


def _runs(
    batch: list[tuple[Change, asyncio.Future[None]]],
) -> list[list[tuple[Change, asyncio.Future[None]]]]:
    """Consecutive enrolments together; each removal alone."""
    runs: list[list[tuple[Change, asyncio.Future[None]]]] = []
    for item in batch:
        if item[0].removed is None and runs and runs[-1][0][0].removed is None:
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


def _settle(done: asyncio.Future[None], error: Exception | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
