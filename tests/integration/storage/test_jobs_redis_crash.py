"""Redis job store across a server crash: what it acknowledged is still there after kill -9
(append-only file, fsync always), and the store reconnects by itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from osed.ports.jobs import JobStatus
from osed.storage.jobs_redis import RedisJobStore
from tests.services.redis import RedisServer

T0 = datetime(2026, 7, 1, 12, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def test_results_and_queued_jobs_survive_kill_9() -> None:
    server = RedisServer.start()
    try:
        store = RedisJobStore(server.url, prefix="crash:")
        done = store.submit("optimise", b"a", idempotency_key="k1", submitted_at=T0)
        waiting = store.submit("optimise", b"b", idempotency_key="k2", submitted_at=T0)
        claimed = store.claim("w1", ["optimise"], now=T0, lease=LEASE)
        assert claimed is not None
        assert claimed.job_id == done.job_id
        store.finish(done.job_id, "w1", JobStatus.SUCCEEDED, now=T0, result=b"\x00result")
        server.restart()  # kill -9 and start again on the same data folder
        assert store.get(waiting.job_id).status is JobStatus.QUEUED  # reconnects by itself
        store.close()
        again = RedisJobStore(server.url, prefix="crash:")
        kept = again.get(done.job_id)
        assert kept.status is JobStatus.SUCCEEDED
        assert kept.result == b"\x00result"
        assert again.get(waiting.job_id).status is JobStatus.QUEUED
        next_job = again.claim("w2", ["optimise"], now=T0, lease=LEASE)
        assert next_job is not None
        assert next_job.job_id == waiting.job_id
        repeat = again.submit("optimise", b"a", idempotency_key="k1", submitted_at=T0)
        assert repeat.job_id == done.job_id
        again.close()
    finally:
        server.stop()
