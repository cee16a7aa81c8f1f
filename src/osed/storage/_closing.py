"""``with store:`` for every store: leaving the block closes it."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class ClosesOnExit:
    def close(self) -> None:
        raise NotImplementedError  # each store closes its own connection

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
