"""The EDC state port: where the EDC manager keeps each coordinator so that a restarted
manager resumes it.

One record per EDC: its id and its state as a JSON document (area, functions with their
parameters and session snapshots, enrolled buildings with their hashed tokens). A ``put``
replaces the whole record in one transaction, so a crash leaves the previous state or the
new one, never a mix.
"""

from __future__ import annotations

from typing import Protocol

MAX_EDC_ID = 128
"""EDC ids are at most this long (they travel in topics and URLs)."""


class EdcStateStore(Protocol):
    def put(self, edc_id: str, document: bytes) -> None:
        """Store ``document`` (UTF-8 JSON) as the state of ``edc_id``, replacing any."""
        ...

    def remove(self, edc_id: str) -> None:
        """Forget ``edc_id`` (nothing happens if it is unknown)."""
        ...

    def load_all(self) -> dict[str, bytes]:
        """Every stored EDC's state, by id."""
        ...

    def close(self) -> None: ...
