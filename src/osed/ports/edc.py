"""The EDC state port: where the EDC manager keeps each coordinator so that a restarted
manager resumes it.

Per EDC: its state as a JSON document (area, functions with their parameters and session
snapshots, reports), and one row per enrolled building (its hashed token and functions). An
enrolment writes only its own rows, so enrolling one building costs the same whatever the
EDC holds. Every call is one transaction: a crash leaves the previous state or the new one,
never a mix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

MAX_EDC_ID = 128
"""EDC ids are at most this long (they travel in topics and URLs)."""


@dataclass(frozen=True, slots=True)
class StoredEdc:
    """What is stored of one EDC: its state document and its enrolments (building id →
    UTF-8 JSON), each as it was put."""

    document: bytes
    enrolments: Mapping[str, bytes] = field(default_factory=dict)


class EdcStateStore(Protocol):
    def put(self, edc_id: str, document: bytes) -> None:
        """Store ``document`` (UTF-8 JSON) as the state of ``edc_id``, replacing any; its
        enrolments stay as they are."""
        ...

    def put_enrolments(self, edc_id: str, enrolments: Sequence[tuple[str, bytes]]) -> None:
        """Store each ``(building id, enrolment)`` of ``edc_id`` (UTF-8 JSON), replacing that
        building's previous one, all in one transaction. ``edc_id`` must have been put (an
        :class:`~osed.domain.errors.NotFoundError` otherwise, and nothing is written)."""
        ...

    def remove_enrolment(self, edc_id: str, building_id: str) -> None:
        """Forget one building's enrolment (nothing happens if it is unknown)."""
        ...

    def remove(self, edc_id: str) -> None:
        """Forget ``edc_id`` with its enrolments (nothing happens if it is unknown)."""
        ...

    def load_all(self) -> dict[str, StoredEdc]:
        """Every stored EDC, by id."""
        ...

    def close(self) -> None: ...
