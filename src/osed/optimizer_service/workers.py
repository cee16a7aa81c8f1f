"""Workers that take balancing jobs from the job store and run them, each within its budget.

Each worker is a thread with its own store connection: it claims the oldest queued job,
solves it in a process of a shared pool (so several solves run in parallel on several
cores), renews its lease while the solve runs, and records the result. A cancel request seen
on a heartbeat finishes the job as cancelled at once (the solve itself ends within its time
budget). A worker that dies leaves its job to be claimed again once the lease expires.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import threading
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import timedelta

from osed.domain.errors import ConflictError, OsedError
from osed.domain.time import Clock, SystemClock
from osed.optimizer_service.requests import KIND, BalancingRequest
from osed.ports.jobs import Job, JobStatus, JobStore

log = logging.getLogger(__name__)


def run_payload(payload: bytes) -> bytes:
    """Solve one request (in a worker process): the result document as JSON bytes."""
    result = BalancingRequest.decode(payload).solve()
    return json.dumps(result, separators=(",", ":")).encode()


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
        run: Callable[[bytes], bytes] = run_payload,
    ) -> None:
        """``run`` turns a job's payload into its result (in a worker process when
        ``processes``, so it must be a module-level function)."""
        self._open_store = open_store
        self._run_payload = run
        self._workers = workers
        self._lease = lease
        self._poll_s = poll_s
        self._processes = processes
        self._clock = clock or SystemClock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._executor: Executor | None = None
        self.name = f"balancer-{uuid.uuid4().hex[:8]}"

    def start(self) -> None:
        if self._processes:
            context = multiprocessing.get_context("forkserver")
            self._executor = ProcessPoolExecutor(self._workers, mp_context=context)
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
        """Stop claiming; running solves end within their budget, then the pool closes."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._threads.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def alive(self) -> bool:
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def _work(self, worker_id: str) -> None:
        store = self._open_store()
        try:
            while not self._stop.is_set():
                try:
                    job = store.claim(worker_id, [KIND], now=self._clock.now(), lease=self._lease)
                except OsedError:
                    log.exception("worker %s cannot claim jobs", worker_id)
                    job = None
                if job is None:
                    self._stop.wait(self._poll_s)
                    continue
                self._run(store, job, worker_id)
        finally:
            store.close()

    def _run(self, store: JobStore, job: Job, worker_id: str) -> None:
        assert self._executor is not None
        future: Future[bytes] = self._executor.submit(self._run_payload, job.payload)
        beat = self._lease.total_seconds() / 3
        try:
            while True:
                try:
                    result = future.result(timeout=beat)
                    break
                except FutureTimeout:
                    job = store.heartbeat(
                        job.job_id, worker_id, now=self._clock.now(), lease=self._lease
                    )
                    if job.cancel_requested:
                        future.cancel()
                        store.finish(
                            job.job_id, worker_id, JobStatus.CANCELLED, now=self._clock.now()
                        )
                        return
        except ConflictError:
            log.warning("job %s was taken over from worker %s", job.job_id, worker_id)
            return
        except Exception as exc:
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
