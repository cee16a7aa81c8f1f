"""The jobs storage port: long-running requests, queued once per idempotency key and run by
workers that hold them under a lease.

A job moves ``queued → running → succeeded | failed | cancelled``; a queued job can also be
cancelled at once, and one whose deadline passes before a worker claims it fails. A worker
holds a running job while it renews its lease (:meth:`JobStore.heartbeat`); once the lease has
expired, another worker may claim the job, and only the new holder may finish it. Cancelling a
running job only sets ``cancel_requested``; the worker sees it on its next heartbeat and
finishes the job as cancelled. A running job whose lease expires with a cancel request pending
is cancelled instead of being handed out again.

The store never reads a clock: every call that depends on time takes ``now``. The transition
rules below (:func:`cancelled`, :func:`renewed`, :func:`finished`) are pure functions on
:class:`Job` values, so every backend applies the same ones to the row it has locked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from osed.domain.errors import ConflictError, Problem, ValidationError
from osed.ports.ledger import check_id

MAX_PAGE = 1000
"""The most jobs one :meth:`JobStore.jobs` call returns."""
DEADLINE_PASSED = "deadline passed before a worker claimed the job"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


@dataclass(frozen=True, slots=True)
class Job:
    job_id: int
    """Assigned by the store, increasing in order of submission."""
    kind: str
    idempotency_key: str
    payload: bytes
    status: JobStatus
    submitted_at: datetime
    deadline: datetime | None = None
    """A queued job still unclaimed at this instant fails instead of running."""
    attempts: int = 0
    """How often a worker claimed the job (more than once after an expired lease)."""
    worker_id: str | None = None
    """The holder while running; afterwards, the worker that finished it."""
    lease_expires_at: datetime | None = None
    cancel_requested: bool = False
    started_at: datetime | None = None
    """When the current (last) holder claimed the job."""
    finished_at: datetime | None = None
    result: bytes | None = None
    error: str | None = None


class JobStore(Protocol):
    def submit(
        self,
        kind: str,
        payload: bytes,
        *,
        idempotency_key: str,
        submitted_at: datetime,
        deadline: datetime | None = None,
    ) -> Job:
        """Queue a job, or return the job already submitted under ``idempotency_key``
        (whatever its status, with its own times). The key belongs to one request: reused
        with another kind or payload it raises :class:`ConflictError` and writes nothing.
        A database constraint keeps the key unique, so concurrent submits agree."""
        ...

    def get(self, job_id: int) -> Job:
        """The job; :class:`NotFoundError` if there is none with this id."""
        ...

    def jobs(
        self,
        *,
        kind: str | None = None,
        status: JobStatus | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[Job]:
        """Newest first (by id), at most ``limit``; ``before`` is a cursor: only jobs with a
        smaller id, so passing the last id of a page gives the next page."""
        ...

    def claim(
        self, worker_id: str, kinds: Sequence[str], *, now: datetime, lease: timedelta
    ) -> Job | None:
        """Atomically take the oldest claimable job of ``kinds`` (queued, or running with an
        expired lease) and mark it running for ``worker_id`` until ``now + lease``; None when
        there is none. Two claimers never get the same job while its lease runs."""
        ...

    def heartbeat(self, job_id: int, worker_id: str, *, now: datetime, lease: timedelta) -> Job:
        """Extend the holder's lease to ``now + lease`` and return the job, so the worker sees
        ``cancel_requested``. :class:`ConflictError` if ``worker_id`` does not hold it."""
        ...

    def finish(
        self,
        job_id: int,
        worker_id: str,
        status: JobStatus,
        *,
        now: datetime,
        result: bytes | None = None,
        error: str | None = None,
    ) -> Job:
        """Record the outcome, durably; only the holder may. Succeeded needs a ``result``,
        failed an ``error``. Repeating the same worker's finish returns the stored job (a
        retry after a lost connection); anything else on a finished job, or a finish by a
        worker that does not hold it, raises :class:`ConflictError`."""
        ...

    def cancel(self, job_id: int, *, now: datetime) -> Job:
        """Cancel a queued job at once; ask the holder of a running one to stop. A finished
        job is returned unchanged."""
        ...

    def close(self) -> None: ...


# ------------------------------------------------------------------------- input checks
def checked_submit(
    kind: str,
    payload: bytes,
    idempotency_key: str,
    submitted_at: datetime,
    deadline: datetime | None,
) -> tuple[datetime, datetime | None]:
    """Check a submission; returns ``submitted_at`` and ``deadline`` in UTC."""
    problems: list[Problem] = []
    check_id(kind, "$.kind", problems)
    check_id(idempotency_key, "$.idempotencyKey", problems)
    if not isinstance(payload, bytes):
        problems.append(Problem("$.payload", "not_bytes", "must be bytes"))
    _check_instant(submitted_at, "$.submittedAt", problems)
    if deadline is not None:
        _check_instant(deadline, "$.deadline", problems)
    if not problems and deadline is not None and deadline <= submitted_at:
        problems.append(Problem("$.deadline", "deadline_passed", "must be after submittedAt"))
    if problems:
        raise ValidationError(problems, subject="job submission")
    return submitted_at.astimezone(UTC), None if deadline is None else deadline.astimezone(UTC)


def checked_claim(
    worker_id: str, kinds: Sequence[str], now: datetime, lease: timedelta
) -> tuple[list[str], datetime]:
    """Check a claim; returns the kinds without repeats and ``now`` in UTC."""
    problems: list[Problem] = []
    check_id(worker_id, "$.workerId", problems)
    if isinstance(kinds, str) or not isinstance(kinds, Sequence) or not kinds:
        problems.append(Problem("$.kinds", "empty", "must be a non-empty list of kinds"))
    else:
        for index, kind in enumerate(kinds):
            check_id(kind, f"$.kinds[{index}]", problems)
    _check_instant(now, "$.now", problems)
    _check_lease(lease, problems)
    if problems:
        raise ValidationError(problems, subject="job claim")
    return list(dict.fromkeys(kinds)), now.astimezone(UTC)


def checked_heartbeat(job_id: int, worker_id: str, now: datetime, lease: timedelta) -> datetime:
    problems: list[Problem] = []
    _check_job_id(job_id, problems)
    check_id(worker_id, "$.workerId", problems)
    _check_instant(now, "$.now", problems)
    _check_lease(lease, problems)
    if problems:
        raise ValidationError(problems, subject="job heartbeat")
    return now.astimezone(UTC)


def checked_finish(
    job_id: int,
    worker_id: str,
    status: JobStatus,
    now: datetime,
    *,
    result: bytes | None,
    error: str | None,
) -> datetime:
    problems: list[Problem] = []
    _check_job_id(job_id, problems)
    check_id(worker_id, "$.workerId", problems)
    _check_instant(now, "$.now", problems)
    if not isinstance(status, str) or status not in _FINISHED_VALUES:
        problems.append(Problem("$.status", "bad_status", "must be succeeded, failed or cancelled"))
    elif status == JobStatus.SUCCEEDED and result is None:
        problems.append(Problem("$.result", "missing", "a succeeded job needs a result"))
    elif status == JobStatus.FAILED and not error:
        problems.append(Problem("$.error", "missing", "a failed job needs an error"))
    if result is not None and not isinstance(result, bytes):
        problems.append(Problem("$.result", "not_bytes", "must be bytes"))
    if error is not None:
        _check_text(error, "$.error", problems)
    if problems:
        raise ValidationError(problems, subject="job outcome")
    return now.astimezone(UTC)


def checked_lookup(job_id: int, now: datetime | None = None) -> datetime | None:
    """Check the arguments of ``get`` and ``cancel``; returns ``now`` in UTC."""
    problems: list[Problem] = []
    _check_job_id(job_id, problems)
    if now is not None:
        _check_instant(now, "$.now", problems)
    if problems:
        raise ValidationError(problems, subject="job request")
    return None if now is None else now.astimezone(UTC)


def checked_listing(
    kind: str | None, status: JobStatus | None, before: int | None, limit: int
) -> JobStatus | None:
    problems: list[Problem] = []
    if kind is not None:
        check_id(kind, "$.kind", problems)
    if status is not None and (not isinstance(status, str) or status not in _STATUS_VALUES):
        problems.append(Problem("$.status", "bad_status", f"must be one of {_STATUS_TEXT}"))
    if before is not None and (type(before) is not int or before < 1):
        problems.append(Problem("$.before", "not_positive", "must be a job id"))
    if type(limit) is not int or not 1 <= limit <= MAX_PAGE:
        problems.append(Problem("$.limit", "out_of_range", f"must be 1 to {MAX_PAGE}"))
    if problems:
        raise ValidationError(problems, subject="job listing")
    return None if status is None else JobStatus(status)


# ------------------------------------------------------------------- transition rules
def same_request(job: Job, kind: str, payload: bytes) -> Job:
    """The stored job for a repeated submission, if the repeat is the same request."""
    if job.kind != kind or job.payload != payload:
        raise ConflictError(
            f"idempotency key {job.idempotency_key!r} was used for job {job.job_id}"
            " with another kind or payload"
        )
    return job


def cancelled(job: Job, now: datetime) -> Job:
    if job.status is JobStatus.QUEUED:
        return replace(job, status=JobStatus.CANCELLED, finished_at=now, cancel_requested=True)
    if job.status is JobStatus.RUNNING:
        return replace(job, cancel_requested=True)
    return job


def renewed(job: Job, worker_id: str, now: datetime, lease: timedelta) -> Job:
    """The job with the holder's lease extended; a lease that ran out but was not taken over
    by another claim is still held."""
    _require_holder(job, worker_id)
    return replace(job, lease_expires_at=now + lease)


def finished(
    job: Job,
    worker_id: str,
    status: JobStatus,
    now: datetime,
    *,
    result: bytes | None,
    error: str | None,
) -> Job:
    if job.status.terminal and job.worker_id == worker_id and job.status == status:
        return job  # a retried finish
    _require_holder(job, worker_id)
    return replace(
        job,
        status=JobStatus(status),
        finished_at=now,
        lease_expires_at=None,
        result=result,
        error=error,
    )


def _require_holder(job: Job, worker_id: str) -> None:
    if job.status is not JobStatus.RUNNING or job.worker_id != worker_id:
        holder = f"held by {job.worker_id!r}" if job.status is JobStatus.RUNNING else job.status
        raise ConflictError(f"job {job.job_id} is not held by {worker_id!r} (it is {holder})")


def _check_instant(value: object, path: str, problems: list[Problem]) -> None:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        problems.append(Problem(path, "naive_datetime", "must be a datetime with a timezone"))


def _check_text(value: object, path: str, problems: list[Problem]) -> None:
    """Free text (an error with its traceback): lines are fine, NUL and lone surrogates are
    not, since PostgreSQL cannot store them."""
    if not isinstance(value, str):
        problems.append(Problem(path, "not_text", "must be text"))
    elif "\x00" in value:
        problems.append(Problem(path, "control_character", "must not contain NUL"))
    elif not value.isprintable() and _has_surrogate(value):
        problems.append(Problem(path, "not_unicode", "must be valid Unicode text"))


def _has_surrogate(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return True
    return False


def _check_lease(lease: object, problems: list[Problem]) -> None:
    if not isinstance(lease, timedelta) or lease <= timedelta(0):
        problems.append(Problem("$.lease", "not_positive", "must be a positive timedelta"))


def _check_job_id(job_id: object, problems: list[Problem]) -> None:
    if type(job_id) is not int or job_id < 1:
        problems.append(Problem("$.jobId", "not_positive", "must be a job id (an integer >= 1)"))


_STATUS_VALUES = frozenset(status.value for status in JobStatus)
_FINISHED_VALUES = frozenset(status.value for status in _TERMINAL)
_STATUS_TEXT = ", ".join(status.value for status in JobStatus)
