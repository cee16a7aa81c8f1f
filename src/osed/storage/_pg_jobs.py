"""The PostgreSQL job store: claims with ``SELECT … FOR UPDATE SKIP LOCKED``.

A claim locks the oldest claimable row and marks it running in one statement; a concurrent
claimer skips the locked row and takes the next, so many workers, in any number of processes,
never wait on each other nor get the same job. Changes to one job (heartbeat, finish, cancel)
lock its row, apply the port's transition rule and write it back. Submits rely on the
``UNIQUE`` idempotency key: ``INSERT … ON CONFLICT DO NOTHING`` waits for a concurrent insert
of the same key to commit, then the lookup finds that job.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, LiteralString

import psycopg

from osed.domain.errors import ConflictError, NotFoundError
from osed.ports.jobs import (
    DEADLINE_PASSED,
    Job,
    JobStatus,
    cancelled,
    checked_claim,
    checked_finish,
    checked_heartbeat,
    checked_listing,
    checked_lookup,
    checked_submit,
    finished,
    renewed,
    same_request,
)
from osed.storage._closing import ClosesOnExit
from osed.storage._pg_connection import PgSession
from osed.storage._pg_migrations import migrate
from osed.storage._pg_schema import JOBS_COMPONENT, JOBS_MIGRATIONS

_COLUMNS = """jobs.job_id, jobs.kind, jobs.idempotency_key, jobs.payload, jobs.status,
    jobs.submitted_at, jobs.deadline, jobs.attempts, jobs.worker_id, jobs.lease_until,
    jobs.cancel_requested, jobs.started_at, jobs.finished_at, jobs.result, jobs.error"""
_INSERT = f"""INSERT INTO jobs (kind, idempotency_key, payload, status, submitted_at, deadline)
    VALUES (%s, %s, %s, 'queued', %s, %s)
    ON CONFLICT (idempotency_key) DO NOTHING RETURNING {_COLUMNS}"""
_BY_KEY = f"SELECT {_COLUMNS} FROM jobs WHERE idempotency_key = %s"
_BY_ID = f"SELECT {_COLUMNS} FROM jobs WHERE job_id = %s"
_LOCK_BY_ID = f"{_BY_ID} FOR UPDATE"
_LIST = f"""SELECT {_COLUMNS} FROM jobs
    WHERE (%(kind)s::text IS NULL OR kind = %(kind)s)
      AND (%(status)s::text IS NULL OR status = %(status)s)
      AND (%(before)s::bigint IS NULL OR job_id < %(before)s)
    ORDER BY job_id DESC LIMIT %(limit)s"""
_CLAIM = f"""WITH candidate AS (
        SELECT job_id FROM jobs
        WHERE kind = ANY(%(kinds)s) AND (status = 'queued'
            OR status = 'running' AND lease_until <= %(now)s AND NOT cancel_requested)
        ORDER BY submitted_at, job_id LIMIT 1
        FOR UPDATE SKIP LOCKED)
    UPDATE jobs SET status = 'running', worker_id = %(worker)s, lease_until = %(until)s,
        attempts = jobs.attempts + 1, started_at = %(now)s
    FROM candidate WHERE jobs.job_id = candidate.job_id
    RETURNING {_COLUMNS}"""
# Rows another claimer has locked are skipped here too, so settling never waits or deadlocks;
# whoever holds them settles them.
_FAIL_PAST_DEADLINE = """UPDATE jobs SET status = 'failed', finished_at = %(now)s,
        error = %(error)s
    WHERE job_id IN (SELECT job_id FROM jobs
        WHERE status = 'queued' AND kind = ANY(%(kinds)s) AND deadline <= %(now)s
        FOR UPDATE SKIP LOCKED)"""
_CANCEL_ABANDONED = """UPDATE jobs SET status = 'cancelled', finished_at = %(now)s,
        lease_until = NULL
    WHERE job_id IN (SELECT job_id FROM jobs
        WHERE status = 'running' AND kind = ANY(%(kinds)s) AND cancel_requested
          AND lease_until <= %(now)s
        FOR UPDATE SKIP LOCKED)"""
_UPDATE = """UPDATE jobs SET status = %s, attempts = %s, worker_id = %s, lease_until = %s,
    cancel_requested = %s, started_at = %s, finished_at = %s, result = %s, error = %s
    WHERE job_id = %s"""


class PostgresJobStore(ClosesOnExit):
    """A :class:`~osed.ports.jobs.JobStore` in a PostgreSQL schema (created if missing); it
    may share the schema with the ledger and the time-series store."""

    def __init__(self, conninfo: str, *, schema: str = "osed") -> None:
        self.schema = schema
        self._session = PgSession(conninfo, schema, subject="job store", read_only=False)
        try:
            with self._session.translated():
                migrate(self._session.connection(), schema, JOBS_COMPONENT, JOBS_MIGRATIONS)
        except BaseException:
            self._session.close()
            raise

    def submit(
        self,
        kind: str,
        payload: bytes,
        *,
        idempotency_key: str,
        submitted_at: datetime,
        deadline: datetime | None = None,
    ) -> Job:
        submitted_at, deadline = checked_submit(
            kind, payload, idempotency_key, submitted_at, deadline
        )
        with self._session.translated():
            connection = self._session.connection()
            with connection.transaction():
                row = connection.execute(
                    _INSERT, (kind, idempotency_key, payload, submitted_at, deadline)
                ).fetchone()
                if row is not None:
                    return _job(row)
                row = connection.execute(_BY_KEY, (idempotency_key,)).fetchone()
        if row is None:  # the conflicting insert committed, and jobs are never deleted
            raise ConflictError(f"job {idempotency_key!r} vanished during submit; retry")
        return same_request(_job(row), kind, payload)

    def get(self, job_id: int) -> Job:
        checked_lookup(job_id)
        with self._session.translated():
            return _found(self._session.connection(), _BY_ID, job_id)

    def jobs(
        self,
        *,
        kind: str | None = None,
        status: JobStatus | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[Job]:
        status = checked_listing(kind, status, before, limit)
        arguments = {
            "kind": kind,
            "status": None if status is None else status.value,
            "before": before,
            "limit": limit,
        }
        with self._session.translated():
            rows = self._session.connection().execute(_LIST, arguments).fetchall()
        return [_job(row) for row in rows]

    def claim(
        self, worker_id: str, kinds: Sequence[str], *, now: datetime, lease: timedelta
    ) -> Job | None:
        kinds, now = checked_claim(worker_id, kinds, now, lease)
        arguments = {"kinds": kinds, "now": now, "worker": worker_id, "until": now + lease}
        with self._session.translated():
            connection = self._session.connection()
            with connection.transaction():
                connection.execute(_FAIL_PAST_DEADLINE, {**arguments, "error": DEADLINE_PASSED})
                connection.execute(_CANCEL_ABANDONED, arguments)
                row = connection.execute(_CLAIM, arguments).fetchone()
        return None if row is None else _job(row)

    def heartbeat(self, job_id: int, worker_id: str, *, now: datetime, lease: timedelta) -> Job:
        now = checked_heartbeat(job_id, worker_id, now, lease)
        with self._session.translated():
            connection = self._session.connection()
            with connection.transaction():
                job = _found(connection, _LOCK_BY_ID, job_id)
                return _stored(connection, renewed(job, worker_id, now, lease), job)

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
        now = checked_finish(job_id, worker_id, status, now, result=result, error=error)
        with self._session.translated():
            connection = self._session.connection()
            with connection.transaction():
                job = _found(connection, _LOCK_BY_ID, job_id)
                outcome = finished(job, worker_id, status, now, result=result, error=error)
                return _stored(connection, outcome, job)

    def cancel(self, job_id: int, *, now: datetime) -> Job:
        instant = checked_lookup(job_id, now)
        assert instant is not None  # checked_lookup returns the instant it was given
        with self._session.translated():
            connection = self._session.connection()
            with connection.transaction():
                job = _found(connection, _LOCK_BY_ID, job_id)
                return _stored(connection, cancelled(job, instant), job)

    def close(self) -> None:
        self._session.close()


def _found(connection: psycopg.Connection[Any], query: LiteralString, job_id: int) -> Job:
    row = connection.execute(query, (job_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no job {job_id}")
    return _job(row)


def _stored(connection: psycopg.Connection[Any], job: Job, before: Job) -> Job:
    if job != before:
        connection.execute(
            _UPDATE,
            (
                job.status.value,
                job.attempts,
                job.worker_id,
                job.lease_expires_at,
                job.cancel_requested,
                job.started_at,
                job.finished_at,
                job.result,
                job.error,
                job.job_id,
            ),
        )
    return job


def _job(row: Sequence[Any]) -> Job:
    (job_id, kind, key, payload, status, submitted_at, deadline, attempts, worker_id,
     lease_until, cancel_requested, started_at, finished_at, result, error) = row  # fmt: skip
    return Job(
        job_id=job_id,
        kind=kind,
        idempotency_key=key,
        payload=payload,
        status=JobStatus(status),
        submitted_at=submitted_at,
        deadline=deadline,
        attempts=attempts,
        worker_id=worker_id,
        lease_expires_at=lease_until,
        cancel_requested=cancel_requested,
        started_at=started_at,
        finished_at=finished_at,
        result=result,
        error=error,
    )
