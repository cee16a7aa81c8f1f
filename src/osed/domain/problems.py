"""Collect every problem of an input before rejecting it."""

from __future__ import annotations

from osed.domain.errors import Problem, ValidationError


class Problems:
    """An accumulator of :class:`Problem` entries; raise them all at once with :meth:`check`."""

    __slots__ = ("_items", "subject")

    def __init__(self, subject: str = "input") -> None:
        self.subject = subject
        self._items: list[Problem] = []

    def add(self, path: str, code: str, message: str) -> None:
        self._items.append(Problem(path, code, message))

    def extend(self, problems: tuple[Problem, ...] | list[Problem]) -> None:
        self._items.extend(problems)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def items(self) -> tuple[Problem, ...]:
        return tuple(self._items)

    def check(self) -> None:
        """Raise a :class:`ValidationError` holding every problem, if there is any."""
        if self._items:
            raise ValidationError(self._items, subject=self.subject)
