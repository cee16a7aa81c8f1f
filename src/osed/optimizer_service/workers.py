"""Workers that take jobs of one kind (balancing requests, unless told another) from the job
store and run them, each within its budget.

Each worker is a thread with its own store connection: it claims the oldest queued job,
solves it in a process of its own (so several solves run in parallel on several cores),
renews its lease while the solve runs, and records the result. Every quarter second it looks
at the job: a cancel request stops the solve's process and finishes the job as cancelled; a
solve still running one second past its time budget (HiGHS may overrun its limit on a large
model) is stopped and the job fails with ``time_limit``. Stopping the pool stops the running
solves and leaves their jobs to be claimed again once their leases expire, as when a worker
dies.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from multiprocessing.context import ForkServerContext

from osed.domain.errors import ConflictError, OsedError
from osed.domain.time import Clock, SystemClock
from osed.optimizer.budget import HARD_STOP_GRACE_S
from osed.optimizer_service.requests import KIND, BalancingRequest, payload_time_limit
from osed.optimizer_service.solves import (
    ProcessSolve,
    Run,
    RunningSolve,
    SolveFailedError,
    ThreadSolve,
    solver_processes,
)
from osed.ports.jobs import Job, JobStatus, JobStore

log = logging.getLogger(__name__)

CHECK_S = 0.25
"""How often a running job is looked at (cancel requests, the hard deadline, shutdown)."""


def run_payload(payload: bytes) -> bytes:
    """Solve one request (in a worker process): the result document as JSON bytes."""
    result = BalancingRequest.decode(payload).solve()
    return json.dumps(result, separators=(",", ":"), allow_nan=False).encode()


class WorkerPool:
    def __init__(
        self,
        open_store: Callable[[], JobStore],
        *,
        workers: int = 2,
        lease: timedelta = timedelta(seconds=30),
        poll_s: float = 0.2,
        processes: bool = True,
        clock: Clock | None = None,
        run: Run = run_payload,
        budget: Callable[[bytes], float] = payload_time_limit,
        kind: str = KIND,
        preload: Sequence[str] = ("osed.optimizer_service.workers",),
        inputs: Callable[[Job], bytes] | None = None,
        name: str = "balancer",
    ) -> None:
        """``run`` turns its input (the job's payload, or what ``inputs`` makes of the job)
        into the result (in a process of its own when ``processes``, so it must be a
        module-level function of a module in ``preload``); ``budget`` reads a payload's time
        budget in seconds; ``kind``: the jobs this pool claims."""
        self._open_store = open_store
        self._run_payload = run
        self._budget = budget
        self._kind = kind
        self._preload = list(preload)
        self._inputs = inputs
        self._workers = workers
        self._lease = lease
        self._poll_s = poll_s
        self._processes = processes
        self._clock = clock or SystemClock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._context: ForkServerContext | None = None
        self._executor: ThreadPoolExecutor | None = None
        self.name = f"{name}-{uuid.uuid4().hex[:8]}"

    def start(self) -> None:
        if self._processes:
            self._context = solver_processes(self._preload)
        else:
            self._executor = ThreadPoolExecutor(self._workers)
        self._stop.clear()
        for index in range(self._workers):
            thread = threading.Thread(
                target=self._work, args=(f"{self.name}-{index}",), daemon=True, name=self.name
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop claiming and stop the running solves (within a quarter second)."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._threads.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def alive(self) -> bool:
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def _work(self, worker_id: str) -> None:
        store = self._open_store()
        try:
            while not self._stop.is_set():
                try:
                    now = self._clock.now()
                    job = store.claim(worker_id, [self._kind], now=now, lease=self._lease)
                except OsedError:
                    log.exception("worker %s cannot claim jobs", worker_id)
                    job = None
                if job is None:
                    self._stop.wait(self._poll_s)
                    continue
                self._run(store, job, worker_id)
        finally:
            store.close()

    def _start(self, payload: bytes) -> RunningSolve:
        if self._context is not None:
            return ProcessSolve(self._context, self._run_payload, payload)
        assert self._executor is not None
        return ThreadSolve(self._executor, self._run_payload, payload)

    def _run(self, store: JobStore, job: Job, worker_id: str) -> None:
        started = time.monotonic()
        try:
            budget = self._budget(job.payload)
        except (ValueError, KeyError, TypeError) as exc:  # a payload no request encodes
            error = f"unreadable job payload: {exc!r}"
            self._finish(store, job, worker_id, JobStatus.FAILED, error=error)
            return
        hard_stop = started + budget + HARD_STOP_GRACE_S
        solve = self._start(job.payload if self._inputs is None else self._inputs(job))
        beat = self._lease.total_seconds() / 3
        next_beat = time.monotonic() + beat
        try:
            while not solve.wait(min(CHECK_S, beat)):
                now = time.monotonic()
                if self._stop.is_set():
                    solve.stop()
                    return
                if now >= hard_stop:
                    solve.stop()
                    error = f"time_limit: no result within the time budget of {budget:g} s"
                    self._finish(store, job, worker_id, JobStatus.FAILED, error=error)
                    return
                if now >= next_beat:
                    job = store.heartbeat(
                        job.job_id, worker_id, now=self._clock.now(), lease=self._lease
                    )
                    next_beat = now + beat
                else:
                    job = store.get(job.job_id)
                if job.cancel_requested:
                    solve.stop()
                    store.finish(job.job_id, worker_id, JobStatus.CANCELLED, now=self._clock.now())
                    return
            result = solve.result()
        except ConflictError:
            solve.stop()
            log.warning("job %s was taken over from worker %s", job.job_id, worker_id)
            return
        except SolveFailedError as exc:
            self._finish(store, job, worker_id, JobStatus.FAILED, error=str(exc))
            return
        except Exception as exc:  # the store failed: the job is not left half-done
            solve.stop()
            error = "".join(traceback.format_exception_only(exc)).strip()
            self._finish(store, job, worker_id, JobStatus.FAILED, error=error)
            return
        self._finish(store, job, worker_id, JobStatus.SUCCEEDED, result=result)

    def _finish(
        self,
        store: JobStore,
        job: Job,
        worker_id: str,
        status: JobStatus,
        *,
        result: bytes | None = None,
        error: str | None = None,
    ) -> None:
        try:
            store.finish(
                job.job_id, worker_id, status, now=self._clock.now(), result=result, error=error
            )
        except ConflictError:
            log.warning("job %s was taken over from worker %s", job.job_id, worker_id)
