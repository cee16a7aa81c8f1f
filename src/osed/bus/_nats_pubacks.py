"""JetStream publishes with many PubAcks awaited at once on one connection.

nats-py's ``JetStreamContext.publish`` is a request: per message a future, a random token, a
``wait_for`` timer and a JSON-decoded reply object. That bookkeeping, not the broker, capped
the bus at a few thousand messages a second. Here every publish carries a reply subject under
one inbox wildcard subscription (``<inbox>.<n>``, ``n`` counting up); the reply resolves the
publish's future, and one sweeper task times out the PubAcks that do not come (all share one
timeout, so the oldest is always first: a deque, no timer per message).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque

import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

STATUS = "Status"
NO_RESPONDERS = "503"  # no stream takes the subject (or JetStream is not up yet)
SWEEP_EVERY = 0.25  # seconds; answered entries leave the deadline queue at least this often


class PubAckTimeoutError(nats.errors.TimeoutError):
    """No PubAck in time, or the connection was lost while waiting: publish again (same id)."""


class NoStreamError(nats.errors.Error):
    """The broker answered that nothing takes the subject (no responders)."""


class PubAckRefusedError(nats.errors.Error):
    """JetStream answered with an error instead of storing the message."""


class PubAcks:
    """Publishes awaiting their PubAck; one inbox subscription serves them all."""

    def __init__(self, nc: NatsClient, timeout: float) -> None:
        self._nc = nc
        self._timeout = timeout
        self._prefix = nc.new_inbox() + "."
        self._cut = len(self._prefix)
        self._count = 0
        self._waiting: dict[str, asyncio.Future[Msg]] = {}
        self._deadlines: deque[tuple[float, str]] = deque()
        self._sweeper: asyncio.Task[None] | None = None
        self._closed = False

    async def open(self) -> None:
        await self._nc.subscribe(self._prefix + "*", cb=self._on_reply)

    async def send(
        self, subject: str, payload: bytes, headers: dict[str, str] | None
    ) -> asyncio.Future[Msg]:
        """Publish; the returned future gets the PubAck (check it with :func:`verify`) or a
        :class:`PubAckTimeoutError`. The publish is handed to the client before this returns,
        so messages sent one after the other reach the broker in that order."""
        if self._closed:
            raise nats.errors.ConnectionClosedError
        loop = asyncio.get_running_loop()
        self._count += 1
        token = str(self._count)
        future: asyncio.Future[Msg] = loop.create_future()
        self._waiting[token] = future
        try:
            await self._nc.publish(subject, payload, reply=self._prefix + token, headers=headers)
        except BaseException:
            del self._waiting[token]
            raise
        self._deadlines.append((loop.time() + self._timeout, token))
        if self._sweeper is None:
            self._sweeper = loop.create_task(self._sweep(), name="nats-puback-sweeper")
        return future

    async def settled(self, timeout: float) -> None:
        """Wait (at most ``timeout``) until no publish waits for its PubAck."""
        futures = list(self._waiting.values())
        if futures:
            await asyncio.wait(futures, timeout=timeout)

    def resend_all(self) -> None:
        """After a reconnection the PubAcks of earlier publishes will not come: let their
        publishers send again now rather than after the timeout (the broker drops the
        copies it already stored by their ``Nats-Msg-Id``)."""
        self._fail_all(PubAckTimeoutError("connection lost while waiting for the PubAck"))

    def close(self) -> None:
        self._closed = True
        self._fail_all(nats.errors.ConnectionClosedError())
        if self._sweeper is not None:
            self._sweeper.cancel()

    async def _on_reply(self, msg: Msg) -> None:
        future = self._waiting.pop(msg.subject[self._cut :], None)
        if future is not None and not future.done():
            future.set_result(msg)

    def _fail_all(self, error: Exception) -> None:
        futures = list(self._waiting.values())
        self._waiting.clear()
        self._deadlines.clear()
        for future in futures:
            if not future.done():
                future.set_exception(error)

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        deadlines, waiting = self._deadlines, self._waiting
        try:
            while deadlines:
                at, token = deadlines[0]
                future = waiting.get(token)
                if future is None:  # answered
                    deadlines.popleft()
                    continue
                if future.done():  # its publisher was cancelled
                    deadlines.popleft()
                    del waiting[token]
                    continue
                wait = at - loop.time()
                if wait > 0:
                    await asyncio.sleep(min(wait, SWEEP_EVERY))
                    continue
                deadlines.popleft()
                del waiting[token]
                future.set_exception(PubAckTimeoutError(f"no PubAck within {self._timeout} s"))
        finally:
            self._sweeper = None


def verify(reply: Msg) -> None:
    """Raise unless ``reply`` says the message is stored (a duplicate counts as stored)."""
    data = reply.data
    if not data:  # a status message: no JetStream answer
        status = reply.headers.get(STATUS) if reply.headers else None
        if status == NO_RESPONDERS:
            raise NoStreamError
        raise PubAckRefusedError(f"status {status} instead of a PubAck")
    # A PubAck holds no key "error"; quoted values are never followed by a colon.
    if b'"error":' in data:
        description = data.decode(errors="replace")
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            description = json.loads(data)["error"]["description"]
        raise PubAckRefusedError(description)
