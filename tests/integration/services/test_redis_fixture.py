"""The throw-away Redis server the job store tests run against: it starts on its own port,
answers, and keeps an acknowledged write across kill -9 (append-only file, fsync always)."""

from __future__ import annotations

from tests.services.redis import RedisServer


def test_a_private_server_answers_and_keeps_writes_across_a_crash() -> None:
    server = RedisServer.start()
    try:
        assert server.port != 6379
        assert server.command("SET", "job:1", "queued") == b"OK"
        assert server.command("INCR", "jobs:next") == 1
        server.restart()  # kill -9, then start on the same folder
        assert server.command("GET", "job:1") == b"queued"
        assert server.command("INCR", "jobs:next") == 2
        assert server.command("GET", "missing") is None
    finally:
        server.stop()
