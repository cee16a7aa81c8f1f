"""A :class:`~osed.ports.jobs.JobStore` on Redis (docs/storage.md).

Keys, all under the store's prefix ``P`` (one prefix, one store):

- ``P seq``: the last job id (INCR); ``P keys``: idempotency key → job id;
- ``P job:<id>``: a hash of the job's fields (times in microseconds since the epoch);
- ``P all``, ``P kind:<kind>``, ``P status:<status>``: sorted sets of ids, for listing;
- ``P queued:<kind>``: queued jobs by submission time, members zero-padded to 20 digits so
  that ties (one ``submitted_at`` for a batch) go by id; ``P deadline:<kind>``: queued jobs by
  deadline; ``P leases:<kind>``: running jobs by lease expiry.

Submitting and claiming are Lua scripts, so each is atomic on the server: one job per key,
and a job is handed to one claimer while its lease runs. Heartbeats, finishes and cancels read
the job, apply the port's transition rules, and write under WATCH (retried if the job changed
meanwhile), so every backend follows the same rules. Optimistic transactions rather than Lua
there, because the rule is Python (``renewed``, ``finished``, ``cancelled``) and must not be
written a second time in Lua; one job's changes rarely collide, so retries are cheap. A listing
page is one script too, so each page is a consistent snapshot. A result is as durable as the
server's append-only file makes it (docs/storage.md: ``appendfsync always``).

The scripts touch keys they derive from the prefix, not only those passed in ``KEYS``: fine on
one server, not on Redis Cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import redis
from redis.commands.core import Script

from osed.domain.errors import ConfigurationError, NotFoundError, UnavailableError
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

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_RETRIES = 50
CONNECT_TIMEOUT_S = 10.0
"""Default socket timeouts; ``socket_connect_timeout``/``socket_timeout`` in the URL win."""
SOCKET_TIMEOUT_S = 30.0
_LIST_BUDGET = 10_000
"""How many index entries one listing call looks at, at most, so a rare kind/status pair
never blocks the server for long; the client continues where the script stopped."""

# KEYS: seq, keys, all; ARGV: prefix, kind, key, payload, submitted_us, deadline_us ("" none)
_SUBMIT = """
local existing = redis.call('HGET', KEYS[2], ARGV[3])
if existing then return {0, tonumber(existing)} end
local id = redis.call('INCR', KEYS[1])
local job = ARGV[1] .. 'job:' .. id
redis.call('HSET', job, 'kind', ARGV[2], 'key', ARGV[3], 'payload', ARGV[4],
  'status', 'queued', 'submitted_us', ARGV[5], 'attempts', 0, 'cancel_requested', 0)
if ARGV[6] ~= '' then
  redis.call('HSET', job, 'deadline_us', ARGV[6])
  redis.call('ZADD', ARGV[1] .. 'deadline:' .. ARGV[2], ARGV[6], id)
end
redis.call('HSET', KEYS[2], ARGV[3], id)
redis.call('ZADD', KEYS[3], id, id)
redis.call('ZADD', ARGV[1] .. 'kind:' .. ARGV[2], id, id)
redis.call('ZADD', ARGV[1] .. 'status:queued', id, id)
redis.call('ZADD', ARGV[1] .. 'queued:' .. ARGV[2], ARGV[5], string.format('%020d', id))
return {1, id}
"""

# ARGV: prefix, worker, now_us, lease_until_us, deadline error text, kinds...
# Settles what can no longer be claimed (queued past its deadline: failed; running, asked to
# stop, lease run out: cancelled), then takes the oldest claimable job by submission time.
_CLAIM = """
local p, worker, now, lease_until = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
-- queued:<kind> members are ids zero-padded to 20 digits (equal scores sort by member, so
-- padding makes ties go by id); stores from before the padding wrote plain ids: remove both.
local function padded(id) return string.format('%020d', tonumber(id)) end
local function unqueue(kind, id)
  redis.call('ZREM', p .. 'queued:' .. kind, padded(id), id)
end
local function move(id, from, to)
  redis.call('ZREM', p .. 'status:' .. from, id)
  redis.call('ZADD', p .. 'status:' .. to, id, id)
end
local best, best_at, best_kind = nil, nil, nil
local function consider(id, kind)
  local at = tonumber(redis.call('HGET', p .. 'job:' .. id, 'submitted_us'))
  if best == nil or at < best_at or (at == best_at and tonumber(id) < tonumber(best)) then
    best, best_at, best_kind = id, at, kind
  end
end
for i = 6, #ARGV do
  local kind = ARGV[i]
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', p .. 'deadline:' .. kind, '-inf', now)) do
    local job = p .. 'job:' .. id
    redis.call('HSET', job, 'status', 'failed', 'finished_us', now, 'error', ARGV[5])
    redis.call('ZREM', p .. 'deadline:' .. kind, id)
    unqueue(kind, id)
    move(id, 'queued', 'failed')
  end
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', p .. 'leases:' .. kind, '-inf', now)) do
    local job = p .. 'job:' .. id
    if redis.call('HGET', job, 'cancel_requested') == '1' then
      redis.call('HSET', job, 'status', 'cancelled', 'finished_us', now)
      redis.call('HDEL', job, 'lease_us')
      redis.call('ZREM', p .. 'leases:' .. kind, id)
      move(id, 'running', 'cancelled')
    else
      consider(id, kind)
    end
  end
  local head = redis.call('ZRANGE', p .. 'queued:' .. kind, 0, 0)
  if head[1] then consider(string.match(head[1], '^0*(%d+)$'), kind) end
end
if best == nil then return nil end
local job = p .. 'job:' .. best
local from = redis.call('HGET', job, 'status')
redis.call('HSET', job, 'status', 'running', 'worker_id', worker, 'lease_us', lease_until,
  'started_us', now)
redis.call('HINCRBY', job, 'attempts', 1)
unqueue(best_kind, best)
redis.call('ZREM', p .. 'deadline:' .. best_kind, best)
redis.call('ZADD', p .. 'leases:' .. best_kind, lease_until, best)
if from ~= 'running' then move(best, from, 'running') end
local out = redis.call('HGETALL', job)
table.insert(out, 1, best)
return out
"""

# KEYS: one or two listing indexes (score = id); ARGV: prefix, top ("+inf" or "(<id>"), limit,
# budget. Walks the smaller index newest first, keeps the ids the other one also holds, and
# returns {more, last id looked at, {{id, fields}, ...}}; more = 1 when the budget ran out.
_LIST = """
local p, top, limit, budget = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local walk, filter = KEYS[1], KEYS[2]
if filter and redis.call('ZCARD', filter) < redis.call('ZCARD', walk) then
  walk, filter = filter, walk
end
local out, seen = {}, 0
while true do
  local ids = redis.call('ZREVRANGEBYSCORE', walk, top, '-inf', 'LIMIT', 0, limit)
  if #ids == 0 then return {0, 0, out} end
  for _, id in ipairs(ids) do
    seen = seen + 1
    if not filter or redis.call('ZSCORE', filter, id) then
      table.insert(out, {id, redis.call('HGETALL', p .. 'job:' .. id)})
      if #out == limit then return {0, id, out} end
    end
    top = '(' .. id
    if seen >= budget then return {1, id, out} end
  end
end
"""


class RedisJobStore(ClosesOnExit):
    def __init__(self, url: str, *, prefix: str = "osed:jobs:") -> None:
        self.prefix = prefix
        try:
            self._redis: redis.Redis = redis.Redis.from_url(
                url,
                socket_connect_timeout=CONNECT_TIMEOUT_S,
                socket_timeout=SOCKET_TIMEOUT_S,
            )
            self._redis.ping()
        except redis.RedisError as exc:
            raise ConfigurationError(f"cannot reach the Redis job store: {exc}") from exc
        except ValueError as exc:
            raise ConfigurationError(f"bad Redis URL {url!r}: {exc}") from exc
        self._submit: Script = self._redis.register_script(_SUBMIT)
        self._claim: Script = self._redis.register_script(_CLAIM)
        self._list: Script = self._redis.register_script(_LIST)

    # ----------------------------------------------------------------- the port

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
        keys = [self._key("seq"), self._key("keys"), self._key("all")]
        args: list[bytes | str | int] = [
            self.prefix,
            kind,
            idempotency_key,
            payload,
            _micros(submitted_at),
            "" if deadline is None else _micros(deadline),
        ]
        _, job_id = self._call(lambda: self._submit(keys=keys, args=args))
        return same_request(self._read(int(job_id)), kind, payload)

    def get(self, job_id: int) -> Job:
        checked_lookup(job_id)
        return self._read(job_id)

    def jobs(
        self,
        *,
        kind: str | None = None,
        status: JobStatus | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[Job]:
        status = checked_listing(kind, status, before, limit)
        indexes = [self._key(f"kind:{kind}")] if kind is not None else []
        if status is not None:
            indexes.append(self._key(f"status:{status.value}"))
        keys = indexes or [self._key("all")]
        top = "+inf" if before is None else f"({before}"
        found: list[Job] = []
        while True:
            args: list[str | int] = [self.prefix, top, limit - len(found), _LIST_BUDGET]
            more, last, rows = self._call(partial(self._list, keys=keys, args=args))
            found.extend(_job(int(job_id), _pairs(fields)) for job_id, fields in rows)
            if not more:
                return found
            top = f"({int(last)}"  # the budget ran out: go on below the last id looked at

    def claim(
        self, worker_id: str, kinds: Sequence[str], *, now: datetime, lease: timedelta
    ) -> Job | None:
        kinds, now = checked_claim(worker_id, kinds, now, lease)
        args: list[bytes | str | int] = [
            self.prefix,
            worker_id,
            _micros(now),
            _micros(now + lease),
            DEADLINE_PASSED,
            *kinds,
        ]
        reply = self._call(lambda: self._claim(keys=[], args=args))
        if reply is None:
            return None
        job_id, fields = int(reply[0]), reply[1:]
        return _job(job_id, _pairs(fields))

    def heartbeat(self, job_id: int, worker_id: str, *, now: datetime, lease: timedelta) -> Job:
        now = checked_heartbeat(job_id, worker_id, now, lease)
        return self._update(job_id, lambda job: renewed(job, worker_id, now, lease))

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
        return self._update(
            job_id,
            lambda job: finished(job, worker_id, status, now, result=result, error=error),
        )

    def cancel(self, job_id: int, *, now: datetime) -> Job:
        instant = checked_lookup(job_id, now)
        assert instant is not None
        return self._update(job_id, lambda job: cancelled(job, instant))

    def close(self) -> None:
        self._redis.close()

    # ----------------------------------------------------------------- internals

    def _key(self, name: str) -> str:
        return self.prefix + name

    def _call(self, operation: Callable[[], Any]) -> Any:
        try:
            return operation()
        except redis.ConnectionError as exc:
            raise UnavailableError(f"the Redis job store cannot be reached: {exc}") from exc
        except redis.RedisError as exc:
            raise UnavailableError(f"the Redis job store failed: {exc}") from exc

    def _read(self, job_id: int) -> Job:
        fields = self._call(lambda: self._redis.hgetall(self._key(f"job:{job_id}")))
        if not fields:
            raise NotFoundError(f"no job {job_id}")
        return _job(job_id, fields)

    def _update(self, job_id: int, transition: Callable[[Job], Job]) -> Job:
        """Apply ``transition`` to the job as stored, atomically (optimistic, retried)."""
        key = self._key(f"job:{job_id}")
        for _ in range(_RETRIES):
            try:
                with self._redis.pipeline() as pipe:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    fields: dict[bytes, bytes] = pipe.hgetall(key)  # type: ignore[assignment]
                    if not fields:
                        raise NotFoundError(f"no job {job_id}")
                    before = _job(job_id, fields)
                    after = transition(before)
                    if after == before:
                        pipe.unwatch()
                        return before
                    pipe.multi()
                    self._write(pipe, before, after)
                    pipe.execute()
                    return after
            except redis.WatchError:
                continue
            except redis.ConnectionError as exc:
                raise UnavailableError(f"the Redis job store cannot be reached: {exc}") from exc
            except redis.RedisError as exc:
                raise UnavailableError(f"the Redis job store failed: {exc}") from exc
        raise UnavailableError(f"job {job_id} kept changing; gave up after {_RETRIES} tries")

    def _write(self, pipe: Any, before: Job, after: Job) -> None:
        key = self._key(f"job:{after.job_id}")
        member = str(after.job_id)
        values: dict[str, Any] = {
            "status": after.status.value,
            "attempts": after.attempts,
            "cancel_requested": int(after.cancel_requested),
        }
        optional = {
            "worker_id": after.worker_id,
            "lease_us": _micros_or_none(after.lease_expires_at),
            "started_us": _micros_or_none(after.started_at),
            "finished_us": _micros_or_none(after.finished_at),
            "result": after.result,
            "error": after.error,
        }
        absent = [name for name, value in optional.items() if value is None]
        values.update({name: value for name, value in optional.items() if value is not None})
        pipe.hset(key, mapping=values)
        if absent:
            pipe.hdel(key, *absent)
        leases = self._key(f"leases:{after.kind}")
        if after.status is JobStatus.RUNNING and after.lease_expires_at is not None:
            pipe.zadd(leases, {member: _micros(after.lease_expires_at)})
        else:
            pipe.zrem(leases, member)
        if after.status is not JobStatus.QUEUED:
            pipe.zrem(self._key(f"queued:{after.kind}"), _queue_member(after.job_id), member)
            pipe.zrem(self._key(f"deadline:{after.kind}"), member)
        if after.status is not before.status:
            pipe.zrem(self._key(f"status:{before.status.value}"), member)
            pipe.zadd(self._key(f"status:{after.status.value}"), {member: after.job_id})


def _queue_member(job_id: int) -> str:
    """The member of ``queued:<kind>``: zero-padded, so equal submission times go by id."""
    return f"{job_id:020d}"


def _pairs(flat: list[bytes]) -> dict[bytes, bytes]:
    """An ``HGETALL`` reply inside a script's reply: a flat list of names and values."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _job(job_id: int, fields: dict[bytes, bytes]) -> Job:
    def text(name: str) -> str | None:
        value = fields.get(name.encode())
        return None if value is None else value.decode()

    def instant(name: str) -> datetime | None:
        value = fields.get(name.encode())
        return None if value is None else _EPOCH + int(value) * _US

    submitted = instant("submitted_us")
    assert submitted is not None
    return Job(
        job_id=job_id,
        kind=text("kind") or "",
        idempotency_key=text("key") or "",
        payload=fields.get(b"payload", b""),
        status=JobStatus(text("status") or ""),
        submitted_at=submitted,
        deadline=instant("deadline_us"),
        attempts=int(fields.get(b"attempts", b"0")),
        worker_id=text("worker_id"),
        lease_expires_at=instant("lease_us"),
        cancel_requested=fields.get(b"cancel_requested") == b"1",
        started_at=instant("started_us"),
        finished_at=instant("finished_us"),
        result=fields.get(b"result"),
        error=text("error"),
    )


def _micros(instant: datetime) -> int:
    return (instant - _EPOCH) // _US


def _micros_or_none(instant: datetime | None) -> int | None:
    return None if instant is None else _micros(instant)
