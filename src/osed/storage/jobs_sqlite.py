"""The SQLite job store: one file, WAL mode, every change one ``BEGIN IMMEDIATE`` transaction.

``BEGIN IMMEDIATE`` takes the file's write lock before the first read, so a claim reads and
marks its job with no other writer in between: two claimers, in threads or processes, never
get the same job. The idempotency key is a ``UNIQUE`` column. Instants are integer
microseconds since the epoch (UTC), as in the time-series store.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from osed.domain.errors import ConfigurationError, NotFoundError
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
from osed.storage._sqlite_common import (
    instant_of,
    micros,
    migrate_component,
    switch_to_wal,
    translated,
    write_transaction,
)

Synchronous = Literal["FULL", "NORMAL"]

COMPONENT = "jobs"
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE jobs (
            job_id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            idempotency_key TEXT NOT NULL UNIQUE,
            payload BLOB NOT NULL,
            status TEXT NOT NULL CHECK (status IN
                ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
            submitted_us INTEGER NOT NULL,
            deadline_us INTEGER,
            attempts INTEGER NOT NULL,
            worker_id TEXT,
            lease_until_us INTEGER,
            cancel_requested INTEGER NOT NULL,
            started_us INTEGER,
            finished_us INTEGER,
            result BLOB,
            error TEXT,
            CHECK (status <> 'running' OR (worker_id IS NOT NULL AND lease_until_us IS NOT NULL))
        ) STRICT""",
        # Claims walk the queued (and running) jobs of a kind, oldest first.
        "CREATE INDEX jobs_claimable ON jobs (status, kind, submitted_us, job_id)",
    ),
)

_COLUMNS = """job_id, kind, idempotency_key, payload, status, submitted_us, deadline_us,
    attempts, worker_id, lease_until_us, cancel_requested, started_us, finished_us,
    result, error"""
_INSERT = """INSERT INTO jobs (kind, idempotency_key, payload, status, submitted_us,
        deadline_us, attempts, cancel_requested)
    VALUES (?, ?, ?, 'queued', ?, ?, 0, 0)
    ON CONFLICT (idempotency_key) DO NOTHING"""
_UPDATE = """UPDATE jobs SET status = ?, attempts = ?, worker_id = ?, lease_until_us = ?,
    cancel_requested = ?, started_us = ?, finished_us = ?, result = ?, error = ?
    WHERE job_id = ?"""


class SqliteJobStore(ClosesOnExit):
    """A :class:`~osed.ports.jobs.JobStore` in one SQLite file (created if missing). The file
    may be shared with a time-series store; both record versions in ``schema_migrations``."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = "FULL",
        busy_timeout_s: float = 10.0,
    ) -> None:
        self.path = Path(path)
        if synchronous not in ("FULL", "NORMAL"):
            raise ConfigurationError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=busy_timeout_s)
        except sqlite3.Error as exc:
            raise ConfigurationError(f"cannot open job store {self.path}: {exc}") from exc
        try:
            switch_to_wal(self._db, busy_timeout_s)
            self._db.execute(f"PRAGMA synchronous = {synchronous}")
            migrate_component(self._db, COMPONENT, _MIGRATIONS)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise ConfigurationError(f"{self.path} is not an OSED job store: {exc}") from exc
        except BaseException:
            self._db.close()
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
        with self._write_transaction():
            self._db.execute(
                _INSERT,
                (
                    kind,
                    idempotency_key,
                    payload,
                    micros(submitted_at),
                    None if deadline is None else micros(deadline),
                ),
            )
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE idempotency_key = ?", (idempotency_key,)
            ).fetchone()
        return same_request(_job(row), kind, payload)

    def get(self, job_id: int) -> Job:
        checked_lookup(job_id)
        with translated("job store"):
            return self._read_job(job_id)

    def jobs(
        self,
        *,
        kind: str | None = None,
        status: JobStatus | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[Job]:
        status = checked_listing(kind, status, before, limit)
        with translated("job store"):
            rows = self._db.execute(
                f"""SELECT {_COLUMNS} FROM jobs
                WHERE (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR status = ?2)
                  AND (?3 IS NULL OR job_id < ?3)
                ORDER BY job_id DESC LIMIT ?4""",
                (kind, None if status is None else status.value, before, limit),
            ).fetchall()
        return [_job(row) for row in rows]

    def claim(
        self, worker_id: str, kinds: Sequence[str], *, now: datetime, lease: timedelta
    ) -> Job | None:
        kinds, now = checked_claim(worker_id, kinds, now, lease)
        now_us = micros(now)
        marks = ", ".join("?" * len(kinds))
        with self._write_transaction():
            self._settle_unclaimable(marks, kinds, now_us)
            row = self._db.execute(
                f"""SELECT job_id FROM jobs
                WHERE kind IN ({marks}) AND (status = 'queued'
                    OR status = 'running' AND lease_until_us <= ? AND NOT cancel_requested)
                ORDER BY submitted_us, job_id LIMIT 1""",
                (*kinds, now_us),
            ).fetchone()
            if row is None:
                return None
            claimed = self._db.execute(
                f"""UPDATE jobs SET status = 'running', worker_id = ?, lease_until_us = ?,
                    attempts = attempts + 1, started_us = ?
                WHERE job_id = ? RETURNING {_COLUMNS}""",
                (worker_id, micros(now + lease), now_us, row[0]),
            ).fetchone()
        return _job(claimed)

    def heartbeat(self, job_id: int, worker_id: str, *, now: datetime, lease: timedelta) -> Job:
        now = checked_heartbeat(job_id, worker_id, now, lease)
        with self._write_transaction():
            return self._store(renewed(self._read_job(job_id), worker_id, now, lease))

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
        with self._write_transaction():
            job = self._read_job(job_id)
            outcome = finished(job, worker_id, status, now, result=result, error=error)
            return self._store(outcome, job)

    def cancel(self, job_id: int, *, now: datetime) -> Job:
        instant = checked_lookup(job_id, now)
        assert instant is not None
        with self._write_transaction():
            job = self._read_job(job_id)
            return self._store(cancelled(job, instant), job)

    def close(self) -> None:
        self._db.close()

    def _settle_unclaimable(self, marks: str, kinds: list[str], now_us: int) -> None:
        """Fail queued jobs past their deadline, and cancel running ones whose holder was
        asked to stop and let the lease run out, rather than hand them to a worker."""
        self._db.execute(
            f"""UPDATE jobs SET status = 'failed', finished_us = ?, error = ?
            WHERE status = 'queued' AND kind IN ({marks}) AND deadline_us <= ?""",
            (now_us, DEADLINE_PASSED, *kinds, now_us),
        )
        self._db.execute(
            f"""UPDATE jobs SET status = 'cancelled', finished_us = ?, lease_until_us = NULL
            WHERE status = 'running' AND kind IN ({marks}) AND cancel_requested
              AND lease_until_us <= ?""",
            (now_us, *kinds, now_us),
        )

    def _read_job(self, job_id: int) -> Job:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE job_id = ?", (job_id,))
        found = row.fetchone()
        if found is None:
            raise NotFoundError(f"no job {job_id}")
        return _job(found)

    def _store(self, job: Job, before: Job | None = None) -> Job:
        if job == before:
            return job
        self._db.execute(
            _UPDATE,
            (
                job.status.value,
                job.attempts,
                job.worker_id,
                _us(job.lease_expires_at),
                int(job.cancel_requested),
                _us(job.started_at),
                _us(job.finished_at),
                job.result,
                job.error,
                job.job_id,
            ),
        )
        return job

    @contextmanager
    def _write_transaction(self) -> Iterator[None]:
        with write_transaction(self._db, "job store"):
            yield


def _job(row: Sequence[Any]) -> Job:
    (job_id, kind, key, payload, status, submitted_us, deadline_us, attempts, worker_id,
     lease_until_us, cancel_requested, started_us, finished_us, result, error) = row  # fmt: skip
    return Job(
        job_id=job_id,
        kind=kind,
        idempotency_key=key,
        payload=payload,
        status=JobStatus(status),
        submitted_at=instant_of(submitted_us),
        deadline=_instant(deadline_us),
        attempts=attempts,
        worker_id=worker_id,
        lease_expires_at=_instant(lease_until_us),
        cancel_requested=bool(cancel_requested),
        started_at=_instant(started_us),
        finished_at=_instant(finished_us),
        result=result,
        error=error,
    )


def _instant(us: int | None) -> datetime | None:
    return None if us is None else instant_of(us)


def _us(instant: datetime | None) -> int | None:
    return None if instant is None else micros(instant)
