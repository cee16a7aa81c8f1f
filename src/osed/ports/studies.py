"""The scenario runs port: studies submitted as scenario documents, run elsewhere (a worker
process), read back as status, KPIs, the report and the tables' files.

A run moves as a job does (:class:`~osed.ports.jobs.JobStatus`): ``queued → running →
succeeded | failed | cancelled``. A scenario is checked whole before anything is queued
(:meth:`StudyRuns.check`): its problems come back together, each with its JSON path, and
nothing is stored. Submitting the same plan under the same key returns the run already
queued (whatever its status).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from osed.domain.errors import ConflictError
from osed.ports.jobs import JobStatus

TableFormat = Literal["parquet", "csv"]
TABLE_FORMATS: tuple[TableFormat, ...] = ("parquet", "csv")


@dataclass(frozen=True, slots=True)
class StudyRequest:
    """What a caller asks to run: a scenario document (YAML or JSON text, or the parsed
    object) or the name of a bundled scenario, and optionally another seed."""

    scenario: str | Mapping[str, Any] | None = None
    bundled: str | None = None
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class StudyPlan:
    """A checked request, ready to queue: what it plays and the payload its run reads."""

    scenario: str
    seed: int
    households: int
    steps: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class StudyProgress:
    steps_done: int
    steps: int
    """Steps of both runs (baseline and managed)."""


@dataclass(frozen=True, slots=True)
class StudyRun:
    study_id: int
    status: JobStatus
    scenario: str
    seed: int
    households: int
    steps: int
    submitted_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    cancel_requested: bool = False
    progress: StudyProgress | None = None
    """While it runs, when the run has reported any."""
    kpis: Mapping[str, Any] | None = None
    """Once succeeded: the study's KPIs (NaN as None)."""
    tables: tuple[str, ...] = field(default_factory=tuple)
    """Once succeeded: the tables whose files can be read."""
    error: str | None = None


class NoResultError(ConflictError):
    """The run has no outputs (yet): it is queued, running, failed or cancelled."""

    def __init__(self, run: StudyRun) -> None:
        super().__init__(f"study {run.study_id} is {run.status.value}: it has no outputs")
        self.run = run


class StudyRuns(Protocol):
    def check(self, request: StudyRequest) -> StudyPlan:
        """The plan of ``request``; :class:`ValidationError` naming every problem (``$.scenario.…``
        inside the scenario document, ``$.bundled``, ``$.seed``) otherwise. Reads no store:
        it may run in any thread."""
        ...

    def submit(self, plan: StudyPlan, *, idempotency_key: str, now: datetime) -> StudyRun:
        """Queue ``plan``, or return the run already submitted under the key
        (:class:`ConflictError` when the key was used for another plan)."""
        ...

    def get(self, study_id: int) -> StudyRun:
        """The run; :class:`NotFoundError` if there is none with this id."""
        ...

    def runs(
        self, *, status: JobStatus | None = None, before: int | None = None, limit: int = 100
    ) -> list[StudyRun]:
        """Newest first; ``before``: only runs with a smaller id (the last id of a page)."""
        ...

    def cancel(self, study_id: int, *, now: datetime) -> StudyRun:
        """Cancel a queued run at once; stop a running one (within a fraction of a second).
        A finished run is returned unchanged."""
        ...

    def report(self, study_id: int) -> Path:
        """The HTML report of a succeeded run; :class:`NoResultError` for any other."""
        ...

    def table(self, study_id: int, name: str, format: TableFormat) -> Path:
        """One table's file; :class:`NotFoundError` for a table the run does not have."""
        ...

    def close(self) -> None: ...
