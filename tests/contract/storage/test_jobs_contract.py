"""The JobStore contract, run unchanged against every backend (see conftest.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osed.domain.errors import ConflictError, NotFoundError, ValidationError
from osed.ports.jobs import DEADLINE_PASSED, Job, JobStatus, JobStore
from tests.contract.storage.conftest import JobsBackend

T0 = datetime(2026, 7, 1, 12, tzinfo=UTC)
SECOND = timedelta(seconds=1)
LEASE = 30 * SECOND
OPTIMISE = "optimise"


def submit(
    store: JobStore,
    key: str,
    *,
    at: int = 0,
    payload: bytes = b"{}",
    kind: str = OPTIMISE,
    deadline: datetime | None = None,
) -> Job:
    return store.submit(
        kind, payload, idempotency_key=key, submitted_at=T0 + at * SECOND, deadline=deadline
    )


def claim(
    store: JobStore, worker: str, *, at: int = 0, kinds: tuple[str, ...] = (OPTIMISE,)
) -> Job | None:
    return store.claim(worker, kinds, now=T0 + at * SECOND, lease=LEASE)


def problems_of(call: Callable[[], object]) -> set[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        call()
    return {(problem.path, problem.code) for problem in caught.value.problems}


def in_threads(count: int, work: Callable[[int], None]) -> None:
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            work(index)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


# ---------------------------------------------------------------------- submit
def test_a_submitted_job_is_queued_and_reads_back(jobs: JobStore) -> None:
    berlin = timezone(timedelta(hours=2))
    job = jobs.submit(
        OPTIMISE,
        b'{"feeder": 7}',
        idempotency_key="req-1",
        submitted_at=T0.astimezone(berlin),
        deadline=T0 + timedelta(hours=1),
    )
    assert job.status is JobStatus.QUEUED
    assert (job.kind, job.payload, job.idempotency_key) == (OPTIMISE, b'{"feeder": 7}', "req-1")
    assert job.submitted_at == T0
    assert job.submitted_at.utcoffset() == timedelta(0)
    assert job.deadline == T0 + timedelta(hours=1)
    assert (job.attempts, job.worker_id, job.cancel_requested) == (0, None, False)
    assert jobs.get(job.job_id) == job


def test_a_repeated_submit_returns_the_first_job(jobs: JobStore) -> None:
    first = submit(jobs, "req-1", at=0)
    again = submit(jobs, "req-1", at=5)  # a client retry, later
    assert again == first
    assert [job.job_id for job in jobs.jobs()] == [first.job_id]


def test_a_reused_key_with_another_request_conflicts(jobs: JobStore) -> None:
    submit(jobs, "req-1", payload=b"a")
    with pytest.raises(ConflictError):
        submit(jobs, "req-1", payload=b"b")
    with pytest.raises(ConflictError):
        submit(jobs, "req-1", payload=b"a", kind="forecast")
    (stored,) = jobs.jobs()
    assert (stored.kind, stored.payload) == (OPTIMISE, b"a")


def test_concurrent_submits_of_one_key_make_one_job(jobs_backend: JobsBackend) -> None:
    ids: list[int] = []

    def work(_: int) -> None:
        store = jobs_backend.open(closed_by_caller=True)
        try:
            ids.append(submit(store, "req-1").job_id)
        finally:
            store.close()

    in_threads(6, work)
    assert len(set(ids)) == 1
    assert len(jobs_backend.open().jobs()) == 1


# ---------------------------------------------------------------------- claim
def test_claims_take_the_oldest_queued_job_of_the_kinds(jobs: JobStore) -> None:
    late = submit(jobs, "late", at=3)
    early = submit(jobs, "early", at=1)
    other = submit(jobs, "other", at=0, kind="forecast")
    assert claim(jobs, "w1", at=10) == jobs.get(early.job_id)
    running = jobs.get(early.job_id)
    assert running.status is JobStatus.RUNNING
    assert (running.worker_id, running.attempts) == ("w1", 1)
    assert running.started_at == T0 + 10 * SECOND
    assert running.lease_expires_at == T0 + 10 * SECOND + LEASE
    assert claim(jobs, "w2", at=10).job_id == late.job_id  # type: ignore[union-attr]
    assert claim(jobs, "w3", at=10) is None
    taken = claim(jobs, "w3", at=10, kinds=(OPTIMISE, "forecast"))
    assert taken is not None
    assert taken.job_id == other.job_id


def test_jobs_submitted_at_one_instant_are_claimed_in_id_order(jobs: JobStore) -> None:
    # Twelve ids: 10 and 11 would sort before 2 if compared as text.
    ids = [submit(jobs, f"batch-{n}", at=5).job_id for n in range(12)]
    claimed = [claim(jobs, f"w{n}", at=10) for n in range(12)]
    assert [job.job_id for job in claimed if job is not None] == ids
    assert claim(jobs, "w-late", at=10) is None


def test_concurrent_claimers_never_share_a_job(jobs_backend: JobsBackend) -> None:
    store = jobs_backend.open()
    submitted = {submit(store, f"req-{n}", at=n).job_id for n in range(40)}
    claimed: list[tuple[str, int]] = []

    def work(index: int) -> None:
        worker = f"w{index}"
        own = jobs_backend.open(closed_by_caller=True)
        try:
            while (job := claim(own, worker, at=100)) is not None:
                claimed.append((worker, job.job_id))
                own.finish(job.job_id, worker, JobStatus.SUCCEEDED, now=T0, result=b"ok")
        finally:
            own.close()

    in_threads(4, work)
    assert sorted(job_id for _, job_id in claimed) == sorted(submitted)
    finished = store.jobs(status=JobStatus.SUCCEEDED, limit=100)
    assert {job.job_id: job.worker_id for job in finished} == {j: w for w, j in claimed}


def test_an_expired_lease_makes_the_job_claimable_again(jobs: JobStore) -> None:
    job = submit(jobs, "req-1")
    assert claim(jobs, "w1", at=0) is not None
    assert claim(jobs, "w2", at=29) is None  # the lease still runs
    retaken = claim(jobs, "w2", at=30)
    assert retaken is not None
    assert (retaken.job_id, retaken.worker_id, retaken.attempts) == (job.job_id, "w2", 2)
    with pytest.raises(ConflictError):
        jobs.heartbeat(job.job_id, "w1", now=T0 + 31 * SECOND, lease=LEASE)
    with pytest.raises(ConflictError):
        jobs.finish(job.job_id, "w1", JobStatus.SUCCEEDED, now=T0 + 31 * SECOND, result=b"")
    done = jobs.finish(job.job_id, "w2", JobStatus.SUCCEEDED, now=T0 + 40 * SECOND, result=b"r")
    assert (done.status, done.worker_id, done.result) == (JobStatus.SUCCEEDED, "w2", b"r")


def test_a_heartbeat_extends_the_lease(jobs: JobStore) -> None:
    job = submit(jobs, "req-1")
    claim(jobs, "w1", at=0)
    beat = jobs.heartbeat(job.job_id, "w1", now=T0 + 20 * SECOND, lease=LEASE)
    assert beat.lease_expires_at == T0 + 50 * SECOND
    assert claim(jobs, "w2", at=40) is None
    # A lease that ran out, but that nobody took over, is still the holder's to renew.
    assert jobs.heartbeat(job.job_id, "w1", now=T0 + 60 * SECOND, lease=LEASE).worker_id == "w1"


def test_a_queued_job_past_its_deadline_fails_instead_of_running(jobs: JobStore) -> None:
    stale = submit(jobs, "stale", at=0, deadline=T0 + 10 * SECOND)
    fresh = submit(jobs, "fresh", at=1, deadline=T0 + 100 * SECOND)
    taken = claim(jobs, "w1", at=10)
    assert taken is not None
    assert taken.job_id == fresh.job_id
    failed = jobs.get(stale.job_id)
    assert (failed.status, failed.error) == (JobStatus.FAILED, DEADLINE_PASSED)
    assert failed.finished_at == T0 + 10 * SECOND


# ---------------------------------------------------------------------- finish
def test_a_result_is_durable(jobs_backend: JobsBackend) -> None:
    store = jobs_backend.open()
    job = submit(store, "req-1")
    claim(store, "w1")
    done = store.finish(
        job.job_id, "w1", JobStatus.SUCCEEDED, now=T0 + 5 * SECOND, result=b"\x00\xffplan"
    )
    assert done.status is JobStatus.SUCCEEDED
    assert done.finished_at == T0 + 5 * SECOND
    assert done.lease_expires_at is None
    store.close()
    assert jobs_backend.open().get(job.job_id) == done


def test_a_failure_keeps_its_error_text(jobs: JobStore) -> None:
    job = submit(jobs, "req-1")
    claim(jobs, "w1")
    trace = "Traceback (most recent call last):\n  solver diverged\tafter 3 steps"
    failed = jobs.finish(job.job_id, "w1", JobStatus.FAILED, now=T0, error=trace)
    assert (failed.status, failed.error, failed.result) == (JobStatus.FAILED, trace, None)


def test_only_the_holder_finishes_and_a_retry_is_harmless(jobs: JobStore) -> None:
    job = submit(jobs, "req-1")
    with pytest.raises(ConflictError):  # queued: nobody holds it
        jobs.finish(job.job_id, "w1", JobStatus.SUCCEEDED, now=T0, result=b"")
    claim(jobs, "w1")
    with pytest.raises(ConflictError):
        jobs.finish(job.job_id, "w2", JobStatus.SUCCEEDED, now=T0, result=b"")
    done = jobs.finish(job.job_id, "w1", JobStatus.SUCCEEDED, now=T0, result=b"r")
    assert jobs.finish(job.job_id, "w1", JobStatus.SUCCEEDED, now=T0, result=b"r") == done
    with pytest.raises(ConflictError):
        jobs.finish(job.job_id, "w1", JobStatus.FAILED, now=T0, error="late")
    with pytest.raises(NotFoundError):
        jobs.finish(job.job_id + 1000, "w1", JobStatus.FAILED, now=T0, error="x")


# ---------------------------------------------------------------------- cancel
def test_cancelling_a_queued_job_is_immediate(jobs: JobStore) -> None:
    job = submit(jobs, "req-1")
    gone = jobs.cancel(job.job_id, now=T0 + SECOND)
    assert (gone.status, gone.finished_at) == (JobStatus.CANCELLED, T0 + SECOND)
    assert claim(jobs, "w1", at=2) is None
    assert jobs.cancel(job.job_id, now=T0 + 3 * SECOND) == gone  # unchanged once finished


def test_cancelling_a_running_job_asks_its_worker(jobs: JobStore) -> None:
    job = submit(jobs, "req-1")
    claim(jobs, "w1")
    asked = jobs.cancel(job.job_id, now=T0 + SECOND)
    assert (asked.status, asked.cancel_requested) == (JobStatus.RUNNING, True)
    beat = jobs.heartbeat(job.job_id, "w1", now=T0 + 2 * SECOND, lease=LEASE)
    assert beat.cancel_requested
    stopped = jobs.finish(job.job_id, "w1", JobStatus.CANCELLED, now=T0 + 3 * SECOND)
    assert stopped.status is JobStatus.CANCELLED


def test_a_cancelled_job_whose_worker_died_is_not_handed_out(jobs: JobStore) -> None:
    job = submit(jobs, "req-1")
    claim(jobs, "w1")
    jobs.cancel(job.job_id, now=T0 + SECOND)
    assert claim(jobs, "w2", at=60) is None
    assert jobs.get(job.job_id).status is JobStatus.CANCELLED


def test_unknown_jobs_are_not_found(jobs: JobStore) -> None:
    with pytest.raises(NotFoundError):
        jobs.get(12345)
    with pytest.raises(NotFoundError):
        jobs.cancel(12345, now=T0)
    with pytest.raises(NotFoundError):
        jobs.heartbeat(12345, "w1", now=T0, lease=LEASE)


# ---------------------------------------------------------------------- listing
def test_listing_filters_newest_first_with_a_cursor(jobs: JobStore) -> None:
    made = [
        submit(jobs, f"req-{n}", at=n, kind="forecast" if n % 3 == 0 else OPTIMISE)
        for n in range(10)
    ]
    claim(jobs, "w1", at=20)  # the oldest optimise job, req-1
    ids = [job.job_id for job in made]
    assert [job.job_id for job in jobs.jobs()] == ids[::-1]
    assert [job.job_id for job in jobs.jobs(kind="forecast")] == [ids[9], ids[6], ids[3], ids[0]]
    assert [job.job_id for job in jobs.jobs(status=JobStatus.RUNNING)] == [ids[1]]
    assert [job.job_id for job in jobs.jobs(kind=OPTIMISE, status=JobStatus.QUEUED)] == [
        ids[8], ids[7], ids[5], ids[4], ids[2],
    ]  # fmt: skip
    first = jobs.jobs(limit=4)
    second = jobs.jobs(limit=4, before=first[-1].job_id)
    assert [job.job_id for job in first + second] == ids[::-1][:8]
    assert jobs.jobs(kind="nothing") == []


# ---------------------------------------------------------------------- bad input
def test_a_bad_submission_names_every_problem_and_writes_nothing(jobs: JobStore) -> None:
    naive = datetime(2026, 7, 1, 12)  # noqa: DTZ001  (the mistake under test)
    found = problems_of(
        lambda: jobs.submit("", "text", idempotency_key="a\nb", submitted_at=naive)  # type: ignore[arg-type]
    )
    assert found == {
        ("$.kind", "empty_id"),
        ("$.payload", "not_bytes"),
        ("$.idempotencyKey", "control_character"),
        ("$.submittedAt", "naive_datetime"),
    }
    assert problems_of(lambda: submit(jobs, "k", at=10, deadline=T0)) == {
        ("$.deadline", "deadline_passed")
    }
    assert jobs.jobs() == []


def test_bad_worker_calls_name_every_problem(jobs: JobStore) -> None:
    job = submit(jobs, "req-1")
    naive = datetime(2026, 7, 1, 12)  # noqa: DTZ001
    assert problems_of(lambda: jobs.claim("", ["ok", ""], now=naive, lease=timedelta(0))) == {
        ("$.workerId", "empty_id"),
        ("$.kinds[1]", "empty_id"),
        ("$.now", "naive_datetime"),
        ("$.lease", "not_positive"),
    }
    assert problems_of(lambda: jobs.claim("w1", [], now=T0, lease=LEASE)) == {("$.kinds", "empty")}
    assert problems_of(lambda: jobs.finish(0, "w1", JobStatus.QUEUED, now=T0, error="a\x00b")) == {
        ("$.jobId", "not_positive"),
        ("$.status", "bad_status"),
        ("$.error", "control_character"),
    }
    assert problems_of(lambda: jobs.finish(job.job_id, "w1", JobStatus.SUCCEEDED, now=T0)) == {
        ("$.result", "missing")
    }
    assert problems_of(lambda: jobs.finish(job.job_id, "w1", JobStatus.FAILED, now=T0)) == {
        ("$.error", "missing")
    }
    assert problems_of(lambda: jobs.jobs(limit=0, before=-1, status="done")) == {  # type: ignore[arg-type]
        ("$.limit", "out_of_range"),
        ("$.before", "not_positive"),
        ("$.status", "bad_status"),
    }
    assert jobs.get(job.job_id).status is JobStatus.QUEUED


# ---------------------------------------------------------------------- invariant
WORKERS = ("w1", "w2", "w3")
operations = st.lists(
    st.one_of(
        st.tuples(st.just("submit"), st.integers(0, 4)),
        st.tuples(st.just("claim"), st.sampled_from(WORKERS)),
        st.tuples(st.just("heartbeat"), st.sampled_from(WORKERS), st.integers(0, 4)),
        st.tuples(st.just("finish"), st.sampled_from(WORKERS), st.integers(0, 4),
                  st.sampled_from([JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED])),
        st.tuples(st.just("cancel"), st.integers(0, 4)),
        st.tuples(st.just("wait"), st.integers(1, 40)),
    ),
    max_size=30,
)  # fmt: skip


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=operations)
def test_any_interleaving_keeps_jobs_consistent(
    jobs_backend: JobsBackend, steps: list[tuple[Any, ...]]
) -> None:
    """Whatever workers do, a running job has exactly one holder whose lease runs, a claim
    never takes a job from a holder whose lease still runs, only the holder changes a job,
    and a finished job never changes again."""
    store = jobs_backend.fresh()
    now = T0
    ids: list[int] = []
    holders: dict[int, tuple[str, datetime]] = {}  # job id → the worker told it holds it, until
    finished: dict[int, Job] = {}
    for step in steps:
        action = step[0]
        if action == "submit":
            ids.append(
                store.submit(OPTIMISE, b"p", idempotency_key=f"k{step[1]}", submitted_at=now).job_id
            )
        elif action == "wait":
            now += step[1] * SECOND
        elif action == "claim":
            job = store.claim(step[1], [OPTIMISE], now=now, lease=LEASE)
            if job is not None:
                previous = holders.get(job.job_id)
                assert previous is None or previous[1] <= now, (job, previous)
                assert job.job_id not in finished
                holders[job.job_id] = (step[1], now + LEASE)
        elif ids and action in ("heartbeat", "finish", "cancel"):
            job_id = ids[(step[1] if action == "cancel" else step[2]) % len(ids)]
            try:
                if action == "heartbeat":
                    store.heartbeat(job_id, step[1], now=now, lease=LEASE)
                    holders[job_id] = (step[1], now + LEASE)
                elif action == "finish":
                    store.finish(job_id, step[1], step[3], now=now, result=b"r", error="e")
                    holders.pop(job_id, None)
                else:
                    store.cancel(job_id, now=now)
            except ConflictError:
                assert action != "cancel"
                holder = holders.get(job_id)
                assert holder is None or holder[0] != step[1] or job_id in finished
        for job in store.jobs(limit=100):
            if job.job_id in finished:
                assert job == finished[job.job_id]
            elif job.status.terminal:
                finished[job.job_id] = job
                holders.pop(job.job_id, None)
            running = job.status is JobStatus.RUNNING
            assert running == (job.job_id in holders), (job, holders)
            if running:
                assert (job.worker_id, job.lease_expires_at) == holders[job.job_id]
